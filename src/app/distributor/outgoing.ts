/** A queued message as the provider gets it. Pure: the worker thread renders from it too. */
import { messageIdDomain } from '../../core/address.js';
import { SYSEMAIL_ID_HEADER, sysemailIdValue } from '../../core/outgoing.js';
import type { OutgoingMessage } from '../../providers/types.js';
import type { MessageRow } from '../../store/messages.js';

/** A queue has few senders: each one's Message-ID domain is parsed once (bounded, for a queue of many). */
const domains = new Map<string, string>();
const DOMAINS_KEPT = 256;

function domainOf(from: string): string {
  let d = domains.get(from);
  if (d === undefined) {
    if (domains.size >= DOMAINS_KEPT) domains.clear();
    d = messageIdDomain(from);
    domains.set(from, d);
  }
  return d;
}

/** Deterministic, so that every retry of a message carries the same Message-ID. */
export function queuedMessageId(m: Pick<MessageRow, 'id' | 'createdAt' | 'from'>, dbId: string): string {
  return `<${m.createdAt.toString(36)}.${m.id}.${dbId.slice(0, 12)}@${domainOf(m.from)}>`;
}

export function toOutgoing(m: MessageRow, dbId: string): OutgoingMessage {
  return {
    from: m.from,
    to: m.to,
    cc: m.cc,
    bcc: m.bcc,
    replyTo: m.replyTo ?? undefined,
    subject: m.subject,
    text: m.text ?? undefined,
    html: m.html ?? undefined,
    attachments: m.attachments.map((a) => ({ filename: a.filename, path: a.path, contentType: a.contentType, size: a.size })),
    messageId: m.messageId ?? queuedMessageId(m, dbId),
    headers: { ...m.headers, [SYSEMAIL_ID_HEADER]: sysemailIdValue(m.id, dbId) },
  };
}
