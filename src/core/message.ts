/**
 * Composing one outgoing message from what the user typed: address lists ("Name <a@b>, c@d"), header
 * values, bodies and attachments (whose sizes the caller measured). Pure: returns the message or every
 * problem found, plus warnings that do not stop the send.
 */
import { formatMailbox, isSingleLabelDomain, parseMailbox } from './address.js';
import type { OutgoingAttachment, OutgoingMessage } from './outgoing.js';
import { LINE_BREAK_OR_NUL as CRLF, quoted } from './text.js';

export { formatMailbox, parseMailbox, type Mailbox } from './address.js';

export const BYTES_PER_MB = 1024 * 1024;
/** Room for the headers and MIME boundaries around the parts. */
const HEADER_ALLOWANCE_BYTES = 4 * 1024;

export interface RawAttachment {
  path: string;
  /** Defaults to the file's base name. */
  filename?: string;
  /** Bytes on disk, measured by the caller. */
  size: number;
  contentType?: string;
}

export interface RawMessage {
  from?: string;
  /** Each entry may be a comma list; display names allowed. */
  to?: readonly string[];
  cc?: readonly string[];
  bcc?: readonly string[];
  replyTo?: string;
  subject?: string;
  text?: string;
  html?: string;
  attachments?: readonly RawAttachment[];
  headers?: Readonly<Record<string, string>>;
  messageId?: string;
}

export interface MessageLimits {
  maxMessageMb: number;
}

export interface MessageProblem {
  /** to, cc, bcc, from, replyTo, subject, headers, body, attachments, size */
  field: string;
  code: 'ADDRESS_INVALID' | 'HEADER_CRLF' | 'NO_RECIPIENT' | 'NO_SENDER' | 'MESSAGE_TOO_LARGE' | 'HEADER_INVALID' | 'BODY_NUL';
  message: string;
  fix: string;
}

export interface MessageWarning {
  code: 'SINGLE_LABEL_DOMAIN';
  address: string;
  message: string;
}

export interface ComposedMessage {
  message: OutgoingMessage;
  /** Estimated size on the wire (attachments and bodies base64-encoded), bytes. */
  sizeBytes: number;
  warnings: MessageWarning[];
}

/** Splits a comma list, leaving commas inside quotes or angle brackets alone. */
export function splitAddressList(text: string): string[] {
  // one address without quotes, brackets or separators (most entries) is itself
  if (!/["<>,;]/.test(text)) {
    const one = text.trim();
    return one ? [one] : [];
  }
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === '\\' && i + 1 < text.length) {
      cur += ch + text[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') angle = true;
    else if (!quoted && ch === '>') angle = false;
    if ((ch === ',' || ch === ';') && !quoted && !angle) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Bytes of `n` bytes after base64 with 76-character lines. */
export function base64Size(n: number): number {
  const encoded = Math.ceil(n / 3) * 4;
  return encoded + Math.ceil(encoded / 76) * 2;
}

export function estimateMessageSize(parts: { text?: string; html?: string; attachmentSizes: readonly number[] }): number {
  let total = HEADER_ALLOWANCE_BYTES;
  for (const body of [parts.text, parts.html]) if (body) total += base64Size(Buffer.byteLength(body, 'utf8'));
  for (const size of parts.attachmentSizes) total += base64Size(size) + 256;
  return total;
}

export function formatMb(bytes: number): string {
  const mb = bytes / BYTES_PER_MB;
  return `${mb >= 10 ? mb.toFixed(1) : mb.toFixed(2)} MB`;
}

function basename(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] || p;
}

/**
 * Checks and normalises everything before anything is sent or stored. Address lists may hold comma
 * lists; each address must be an RFC 5322 addr-spec (internationalised domains allowed).
 */
export function composeMessage(raw: RawMessage, limits: MessageLimits): { value?: ComposedMessage; errors: MessageProblem[] } {
  const errors: MessageProblem[] = [];
  const warnings: MessageWarning[] = [];
  const crlf = (field: string, what: string) =>
    errors.push({
      field,
      code: 'HEADER_CRLF',
      message: `${what} contains a line break (CR/LF), which could inject headers`,
      fix: `Give ${what} on one line`,
    });

  const list = (field: 'to' | 'cc' | 'bcc', entries: readonly string[] | undefined): string[] => {
    const out: string[] = [];
    for (const entry of entries ?? []) {
      if (CRLF.test(entry)) {
        crlf(field, `--${field} ${quoted(entry)}`);
        continue;
      }
      for (const item of splitAddressList(entry)) {
        const m = parseMailbox(item);
        if (!m) {
          errors.push({
            field,
            code: 'ADDRESS_INVALID',
            message: `--${field} ${quoted(item)} is not a valid email address`,
            fix: 'Write it as user@example.com or "Name <user@example.com>"',
          });
          continue;
        }
        if (isSingleLabelDomain(m.address)) {
          warnings.push({
            code: 'SINGLE_LABEL_DOMAIN',
            address: m.address,
            message: `${m.address}: the domain has no dot; Microsoft 365 refuses single-label domains, so this recipient will likely bounce`,
          });
        }
        out.push(formatMailbox(m));
      }
    }
    return out;
  };

  const to = list('to', raw.to);
  const cc = list('cc', raw.cc);
  const bcc = list('bcc', raw.bcc);
  if (to.length + cc.length + bcc.length === 0 && !errors.some((e) => ['to', 'cc', 'bcc'].includes(e.field))) {
    errors.push({ field: 'to', code: 'NO_RECIPIENT', message: 'the message has no recipient', fix: 'Give at least one --to ADDR' });
  }

  const single = (field: 'from' | 'replyTo', value: string | undefined, label: string): string | undefined => {
    if (value === undefined) return undefined;
    if (CRLF.test(value)) {
      crlf(field, label);
      return undefined;
    }
    const m = parseMailbox(value);
    if (!m) {
      errors.push({
        field,
        code: 'ADDRESS_INVALID',
        message: `${label} ${quoted(value)} is not a valid email address`,
        fix: 'Write it as user@example.com or "Name <user@example.com>"',
      });
      return undefined;
    }
    return formatMailbox(m);
  };
  const from = single('from', raw.from, 'the sender (From)');
  if (raw.from === undefined) {
    errors.push({
      field: 'from',
      code: 'NO_SENDER',
      message: 'the message has no sender',
      fix: 'Give --from ADDR or set one with `sysemail params set sender.default ADDR`',
    });
  }
  const replyTo = single('replyTo', raw.replyTo, 'the Reply-To address');

  const subject = raw.subject ?? '';
  if (CRLF.test(subject)) crlf('subject', 'the subject');

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers ?? {})) {
    if (!/^[!-9;-~]+$/.test(name)) {
      errors.push({
        field: 'headers',
        code: 'HEADER_INVALID',
        message: `header name ${quoted(name)} is not valid`,
        fix: 'Use letters, digits and dashes, e.g. X-Campaign',
      });
    } else if (CRLF.test(value)) {
      crlf('headers', `header ${name}`);
    } else headers[name] = value;
  }
  if (raw.messageId !== undefined && (CRLF.test(raw.messageId) || !/^<[^<>\s]+@[^<>\s]+>$/.test(raw.messageId))) {
    errors.push({
      field: 'headers',
      code: 'HEADER_INVALID',
      message: `Message-ID ${quoted(raw.messageId)} is not of the form <id@domain>`,
      fix: 'Leave the Message-ID out; sysemail makes one',
    });
  }

  for (const [body, what] of [
    [raw.text, 'the text body'],
    [raw.html, 'the HTML body'],
  ] as const) {
    if (body?.includes('\0')) {
      errors.push({
        field: 'body',
        code: 'BODY_NUL',
        message: `${what} contains a NUL character`,
        fix: 'Remove the NUL bytes (a binary file is sent with --attach)',
      });
    }
  }

  const attachments: OutgoingAttachment[] = [];
  for (const a of raw.attachments ?? []) {
    const filename = a.filename ?? basename(a.path);
    if (CRLF.test(filename)) {
      crlf('attachments', `the attachment name ${quoted(filename)}`);
      continue;
    }
    attachments.push({ filename, path: a.path, size: a.size, ...(a.contentType ? { contentType: a.contentType } : {}) });
  }

  const sizeBytes = estimateMessageSize({ text: raw.text, html: raw.html, attachmentSizes: attachments.map((a) => a.size) });
  const limitBytes = limits.maxMessageMb * BYTES_PER_MB;
  if (sizeBytes > limitBytes) {
    errors.push({
      field: 'size',
      code: 'MESSAGE_TOO_LARGE',
      message: `the message would be about ${formatMb(sizeBytes)} once encoded, over limits.maxMessageMb (${limits.maxMessageMb} MB)`,
      fix: 'Send fewer or smaller attachments (a link to a shared file, for instance), or raise the limit with `sysemail params set limits.maxMessageMb N` if the server accepts more',
    });
  }

  if (errors.length > 0 || !from) return { errors };
  const message: OutgoingMessage = {
    from,
    to,
    cc,
    bcc,
    subject,
    attachments,
    ...(replyTo ? { replyTo } : {}),
    ...(raw.text !== undefined ? { text: raw.text } : {}),
    ...(raw.html !== undefined ? { html: raw.html } : {}),
    ...(raw.messageId ? { messageId: raw.messageId } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
  return { value: { message, sizeBytes, warnings }, errors: [] };
}

/** Bare addresses of every recipient, for the SMTP envelope and history. */
export function recipientsOf(m: Pick<OutgoingMessage, 'to' | 'cc' | 'bcc'>): string[] {
  return [...m.to, ...m.cc, ...m.bcc].map((s) => parseMailbox(s)?.address ?? s);
}

export function addressOf(mailbox: string): string {
  return parseMailbox(mailbox)?.address ?? mailbox;
}
