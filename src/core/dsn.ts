/**
 * Delivery status notifications (RFC 3464): the fields of a message/delivery-status part, and what
 * they say about each recipient. Pure; reading the mail itself (MIME) is the bounces use case's.
 */
import { enhancedCodeOf } from './failure.js';

export interface DsnRecipient {
  /** The address the report is about (Final-Recipient, else Original-Recipient), bare. */
  recipient: string;
  /** failed | delayed | delivered | relayed | expanded (lower case). */
  action: string;
  /** RFC 3463 status, e.g. 5.1.1. */
  status: string;
  /** The remote server's words (Diagnostic-Code without its type), when it gave any. */
  diagnostic: string | null;
  /** The server that said so (Remote-MTA), else the one reporting (Reporting-MTA). */
  remoteMta: string | null;
}

export interface DeliveryStatus {
  reportingMta: string | null;
  arrivalDate: string | null;
  recipients: DsnRecipient[];
}

/** Header-style fields of one block, folded lines joined; names in lower case. */
function fieldsOf(block: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      out.set(last, `${out.get(last)} ${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z0-9-]+)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    last = m[1].toLowerCase();
    // the first occurrence counts (a report repeats no field legitimately)
    if (!out.has(last)) out.set(last, m[2].trim());
  }
  return out;
}

/** `rfc822; ann@example.com` → `ann@example.com`; `dns; mx.example.net` → `mx.example.net`. */
function typedValue(v: string | undefined): string | null {
  if (!v) return null;
  const i = v.indexOf(';');
  const value = (i === -1 ? v : v.slice(i + 1)).trim().replace(/^<(.*)>$/, '$1');
  return value || null;
}

/**
 * Reads a message/delivery-status body: the per-message block, then one block per recipient. A
 * recipient block without an Action or a recipient is left out.
 */
export function parseDeliveryStatus(text: string): DeliveryStatus {
  const blocks = text
    .replace(/\r\n/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const first = fieldsOf(blocks[0] ?? '');
  const perMessage = first.has('final-recipient') || first.has('original-recipient') ? new Map<string, string>() : first;
  const recipientBlocks = perMessage === first ? blocks.slice(1) : blocks;
  const reportingMta = typedValue(perMessage.get('reporting-mta'));
  const recipients: DsnRecipient[] = [];
  for (const b of recipientBlocks) {
    const f = fieldsOf(b);
    const recipient = typedValue(f.get('final-recipient')) ?? typedValue(f.get('original-recipient'));
    const action = f.get('action')?.toLowerCase().split(/\s/)[0];
    if (!recipient || !action) continue;
    const diagnostic = typedValue(f.get('diagnostic-code')) ?? f.get('x-exim-diagnostic')?.replace(/^[^;]*;\s*/, '') ?? null;
    const status =
      /^[245]\.\d{1,3}\.\d{1,3}/.exec(f.get('status') ?? '')?.[0] ??
      enhancedCodeOf(diagnostic ?? undefined) ??
      (action === 'failed' ? '5.0.0' : '4.0.0');
    recipients.push({
      recipient,
      action,
      status,
      diagnostic,
      remoteMta: typedValue(f.get('remote-mta')) ?? reportingMta,
    });
  }
  return { reportingMta, arrivalDate: perMessage.get('arrival-date') ?? null, recipients };
}

/** The reply code at the start of a diagnostic (`550 5.1.1 ...`, `550-5.1.1 ...`), if any. */
export function replyCodeOf(diagnostic: string | null): number | undefined {
  const m = /^([245]\d\d)(?=[ -]|$)/.exec(diagnostic ?? '');
  return m ? Number(m[1]) : undefined;
}

/** An automatic reply (out of office, vacation), not a report on delivery: RFC 3834 and the usual marks. */
export function isAutoReply(h: { autoSubmitted?: string; subject?: string; xAutoreply?: string; xAutoResponse?: string }): boolean {
  if (h.autoSubmitted && /auto-replied/i.test(h.autoSubmitted)) return true;
  if (h.xAutoreply || h.xAutoResponse) return true;
  return /^(automatic reply|auto(matic)?[- ]?reply|out of (the )?office|abwesenheit|réponse automatique)\b/i.test(h.subject ?? '');
}

/**
 * Splits an mbox into its messages (lines `From ` start each one; `>From ` is unescaped). Text that
 * does not start with `From ` is one message.
 */
export function splitMbox(text: string): string[] {
  if (!text.startsWith('From ')) return [text];
  const out: string[] = [];
  for (const part of text.split(/\r?\n(?=From )/)) {
    const body = part.replace(/^From [^\n]*\n/, '').replace(/^>(>*From )/gm, '$1');
    if (body.trim() !== '') out.push(body);
  }
  return out;
}
