/**
 * `bounces import`: reads delivery status notifications (RFC 3464 multipart/report, as Postfix, Exim,
 * Microsoft 365 and Gmail send them) from a file, a folder of files or an mbox, finds the message each
 * one is about (its X-Sysemail-Id, else its Message-ID), records the bounce in that message's history,
 * and suppresses hard-bounced recipients. Importing a report twice changes nothing the second time.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isAutoReply, parseDeliveryStatus, replyCodeOf, splitMbox, type DsnRecipient } from '../core/dsn.js';
import { SysemailError } from '../core/errors.js';
import type { FailureInfo } from '../core/failure.js';
import { SYSEMAIL_ID_HEADER, parseSysemailId } from '../core/outgoing.js';
import { recipientKeys, recipientRefusal, refusalReason, suppressionKey, type SuppressionEntry } from '../core/suppression.js';
import type { Store } from '../store/ports.js';

export interface BouncedEntry {
  id: number;
  messageId: string;
  recipient: string;
  status: string;
  action: string;
  /** The recipient went on the suppression list (a hard bounce). */
  suppressed: boolean;
  file: string;
}

export interface SkippedEntry {
  file: string;
  reason: string;
}

export interface BouncesResult {
  /** Reports read (an mbox counts each of its messages). */
  processed: number;
  bounced: BouncedEntry[];
  skipped: SkippedEntry[];
  /** Files moved with --move-to. */
  moved: string[];
}

export interface BouncesRequest {
  /** A file, a folder, or '-' (then `stdin` is the text). */
  source: string;
  stdin?: () => Promise<Buffer>;
  /** Move each file read into this folder, so the next run does not see it again. */
  moveTo?: string;
  now: number;
  softExpiryMs: number;
  diagnose?: (f: FailureInfo) => string | null;
}

interface Report {
  /** The name a skip or a bounce is reported under: the file, `file#3` inside an mbox, or `-`. */
  name: string;
  raw: Buffer;
}

function unreadable(source: string, err: unknown): SysemailError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
  return new SysemailError(
    'noinput',
    'BOUNCES_INPUT_UNREADABLE',
    `${source} cannot be read (${code === 'ENOENT' ? 'no such file or folder' : code})`,
    {
      fix: 'Name a delivery report (.eml), a folder of them or an mbox file, or - for standard input',
      cause: err,
    },
  );
}

/** The files a source names: itself, or the regular files of a folder (not its subfolders, not dot files), by name. */
function filesOf(source: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch (err) {
    throw unreadable(source, err);
  }
  if (!st.isDirectory()) return [source];
  try {
    return fs
      .readdirSync(source, { withFileTypes: true })
      .filter((d) => d.isFile() && !d.name.startsWith('.'))
      .map((d) => path.join(source, d.name))
      .sort();
  } catch (err) {
    throw unreadable(source, err);
  }
}

function reportsOf(name: string, raw: Buffer): Report[] {
  const text = raw.toString('latin1');
  if (!text.startsWith('From ')) return [{ name, raw }];
  return splitMbox(text).map((t, i) => ({ name: `${name}#${i + 1}`, raw: Buffer.from(t, 'latin1') }));
}

type Parsed = Awaited<ReturnType<(typeof import('mailparser'))['simpleParser']>>;

function headerText(p: Parsed, name: string): string | undefined {
  const v = p.headers.get(name.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  const o = v as { text?: unknown; value?: unknown };
  if (typeof o.text === 'string') return o.text;
  return typeof o.value === 'string' ? o.value : undefined;
}

/** Headers of the returned message (message/rfc822 or text/rfc822-headers), unfolded, names in lower case. */
function returnedHeaders(text: string): Map<string, string> {
  const head = text.replace(/\r\n/g, '\n').split(/\n\n/)[0];
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last) out.set(last, `${out.get(last)} ${line.trim()}`);
    else {
      const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      last = m[1].toLowerCase();
      if (!out.has(last)) out.set(last, m[2].trim());
    }
  }
  return out;
}

function firstMessageId(text: string | undefined): string | undefined {
  return /<[^<>\s]+>/.exec(text ?? '')?.[0];
}

interface ReadReport {
  key: string;
  recipients: DsnRecipient[];
  /** Where the original message may be found, best first. */
  sysemailId?: string;
  messageIds: string[];
  at: number | null;
}

async function readReport(r: Report): Promise<ReadReport | { skip: string }> {
  const { simpleParser } = await import('mailparser');
  let p: Parsed;
  try {
    p = await simpleParser(r.raw, { keepDeliveryStatus: true, skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  } catch (err) {
    return { skip: `not a mail message (${err instanceof Error ? err.message : String(err)})` };
  }
  const statusPart = p.attachments.find((a) => /^message\/(global-)?delivery-status$/i.test(a.contentType));
  if (!statusPart) {
    const auto = isAutoReply({
      autoSubmitted: headerText(p, 'auto-submitted'),
      subject: p.subject,
      xAutoreply: headerText(p, 'x-autoreply'),
      xAutoResponse: headerText(p, 'x-autorespond'),
    });
    return {
      skip: auto
        ? 'an automatic reply (out of office), not a delivery report'
        : 'not a delivery status notification: no message/delivery-status part (RFC 3464)',
    };
  }
  const status = parseDeliveryStatus(statusPart.content.toString('utf8'));
  if (status.recipients.length === 0) return { skip: 'the delivery report names no recipient with an action' };
  const returned = p.attachments.find((a) =>
    /^(message\/(global|rfc822)|text\/rfc822-headers|message\/global-headers)$/i.test(a.contentType),
  );
  const headers = returned ? returnedHeaders(returned.content.toString('utf8')) : new Map<string, string>();
  const messageIds = [
    firstMessageId(headers.get('message-id')),
    firstMessageId(headerText(p, 'original-message-id')),
    firstMessageId(headerText(p, 'in-reply-to')),
    ...(headerText(p, 'references')?.match(/<[^<>\s]+>/g) ?? []),
  ].filter((x): x is string => !!x);
  const at = Date.parse(status.arrivalDate ?? '') || (p.date ? p.date.getTime() : NaN);
  return {
    key: p.messageId ?? `sha256:${createHash('sha256').update(r.raw).digest('hex')}`,
    recipients: status.recipients,
    sysemailId: headers.get(SYSEMAIL_ID_HEADER.toLowerCase()),
    messageIds: [...new Set(messageIds)],
    at: Number.isNaN(at) ? null : at,
  };
}

/** The message a report is about, in this database; or why it is not found. */
async function originalOf(store: Store, rep: ReadReport): Promise<{ id: number } | { skip: string }> {
  if (rep.sysemailId !== undefined) {
    const parsed = parseSysemailId(rep.sysemailId);
    if (parsed && (!parsed.db || store.id.startsWith(parsed.db))) {
      if (await store.messages.get(parsed.id)) return { id: parsed.id };
    } else if (parsed) return { skip: `the message was sent from another database (${SYSEMAIL_ID_HEADER}: ${rep.sysemailId})` };
  }
  for (const mid of rep.messageIds) {
    const id = await store.suppressions.messageByMessageId(mid);
    if (id !== undefined) return { id };
  }
  if (rep.sysemailId === undefined && rep.messageIds.length === 0)
    return { skip: 'the report quotes neither the original Message-ID nor its X-Sysemail-Id' };
  return {
    skip: `no message here has ${rep.sysemailId !== undefined ? `${SYSEMAIL_ID_HEADER} ${rep.sysemailId}` : `Message-ID ${rep.messageIds[0]}`}`,
  };
}

function failureOf(r: DsnRecipient): FailureInfo {
  const words = r.diagnostic ?? `${r.action} (${r.status})`;
  const responseCode = replyCodeOf(r.diagnostic);
  return {
    phase: 'rcpt',
    code: 'BOUNCED',
    ...(responseCode ? { responseCode } : {}),
    enhancedCode: r.status,
    response: `${r.remoteMta ? `${r.remoteMta}: ` : ''}${words}`,
  };
}

async function importOne(store: Store, r: Report, req: BouncesRequest, out: BouncesResult): Promise<void> {
  const rep = await readReport(r);
  if ('skip' in rep) {
    out.skipped.push({ file: r.name, reason: rep.skip });
    return;
  }
  const original = await originalOf(store, rep);
  if ('skip' in original) {
    out.skipped.push({ file: r.name, reason: original.skip });
    return;
  }
  const message = await store.messages.get(original.id);
  if (!message) {
    out.skipped.push({ file: r.name, reason: `message ${original.id} is no longer in the history` });
    return;
  }
  const ownRecipients = new Set(recipientKeys(message));
  for (const rcpt of rep.recipients) {
    if (rcpt.action !== 'failed' && rcpt.action !== 'delayed') continue;
    const key = suppressionKey(rcpt.recipient);
    if (!ownRecipients.has(key)) {
      out.skipped.push({ file: r.name, reason: `${rcpt.recipient} is not a recipient of message ${message.id}` });
      continue;
    }
    const failure = failureOf(rcpt);
    const kind =
      rcpt.action === 'failed'
        ? recipientRefusal({ enhancedCode: rcpt.status, responseCode: failure.responseCode, response: rcpt.diagnostic ?? '' })
        : null;
    const suppress: SuppressionEntry | undefined = kind
      ? {
          address: key,
          reason: refusalReason(`${rcpt.status} ${rcpt.diagnostic ?? ''}`),
          source: 'bounce',
          messageId: message.id,
          expiresAt: kind === 'soft' ? req.now + req.softExpiryMs : null,
        }
      : undefined;
    const result = await store.suppressions.recordBounce(
      {
        reportKey: rep.key,
        messageId: message.id,
        recipient: key,
        action: rcpt.action,
        status: rcpt.status,
        failure,
        diagnosis: req.diagnose?.(failure) ?? null,
        at: rep.at ?? req.now,
        // a failed delivery to the only recipient is the message's failure; with several, the others may have it
        final: rcpt.action === 'failed' && ownRecipients.size === 1,
        ...(suppress ? { suppress } : {}),
      },
      req.now,
    );
    if (result === 'duplicate') {
      out.skipped.push({ file: r.name, reason: `already recorded: the report on ${rcpt.recipient} for message ${message.id}` });
      continue;
    }
    if (result === 'missing') {
      out.skipped.push({ file: r.name, reason: `message ${message.id} is no longer in the history` });
      continue;
    }
    out.bounced.push({
      id: message.id,
      messageId: message.messageId ?? rep.messageIds[0] ?? '',
      recipient: key,
      status: rcpt.status,
      action: rcpt.action,
      suppressed: !!suppress,
      file: r.name,
    });
  }
}

function moveInto(file: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let target = path.join(dir, path.basename(file));
  for (let n = 1; fs.existsSync(target); n++) target = path.join(dir, `${path.basename(file)}.${n}`);
  try {
    fs.renameSync(file, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    fs.copyFileSync(file, target, fs.constants.COPYFILE_EXCL);
    fs.rmSync(file);
  }
  return target;
}

export async function importBounces(store: Store, req: BouncesRequest): Promise<BouncesResult> {
  const out: BouncesResult = { processed: 0, bounced: [], skipped: [], moved: [] };
  const files = req.source === '-' ? [] : filesOf(req.source);
  if (req.source === '-') {
    const raw = req.stdin ? await req.stdin() : Buffer.alloc(0);
    for (const r of reportsOf('-', raw)) {
      out.processed++;
      await importOne(store, r, req, out);
    }
    return out;
  }
  for (const file of files) {
    let raw: Buffer;
    try {
      raw = fs.readFileSync(file);
    } catch (err) {
      out.skipped.push({ file, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      continue;
    }
    for (const r of reportsOf(file, raw)) {
      out.processed++;
      await importOne(store, r, req, out);
    }
    if (req.moveTo) {
      try {
        out.moved.push(moveInto(file, req.moveTo));
      } catch (err) {
        throw new SysemailError(
          'ioerr',
          'BOUNCES_MOVE_FAILED',
          `${file} was imported but could not be moved to ${req.moveTo} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          {
            fix: 'Check that the folder is writable and on a file system that allows it; importing the file again changes nothing',
            cause: err,
          },
        );
      }
    }
  }
  return out;
}
