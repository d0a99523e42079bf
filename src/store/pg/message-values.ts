/**
 * The column values of a new message, as the INSERTs of the messages port bind them: in the order of
 * INSERT's parameters in ./messages.ts ($1 to $27; created_at, the 18th, is also updated_at).
 */
import type { NewMessage } from '../ports.js';

export function messageValues(m: NewMessage, now: number): unknown[] {
  // a message sent right away is claimed at insertion: that claim is its first attempt
  const sending = m.status === 'sending';
  return [
    m.status,
    m.provider,
    m.from,
    JSON.stringify(m.to),
    JSON.stringify(m.cc),
    JSON.stringify(m.bcc),
    m.replyTo ?? null,
    m.subject,
    m.text ?? null,
    m.html ?? null,
    JSON.stringify(m.attachments),
    m.headers ? JSON.stringify(m.headers) : null,
    m.messageId ?? null,
    m.userId ?? null,
    m.templateId ?? null,
    m.org ?? null,
    m.sizeBytes ?? null,
    now,
    m.dueAt ?? now,
    m.leaseOwner ?? null,
    m.leaseExpiresAt ?? null,
    sending ? 1 : 0,
    sending ? now : null,
    m.expiresAt ?? null,
    m.priority ?? 0,
    m.idempotencyKey ?? null,
    m.idempotencyKey === undefined ? null : (m.idempotencyDigest ?? null),
  ];
}
