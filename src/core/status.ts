/**
 * The statuses a queued message goes through, and which moves between them are allowed, as data: the
 * store, the operator commands and `queue status` all derive from these.
 */
export const MESSAGE_STATUSES = ['pending', 'sending', 'deferred', 'held', 'sent', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/**
 * From each status, the statuses a message may move to. `sending` is a distributor's claim (a lease);
 * `sent` is final; a `failed` message only moves again when an operator retries it.
 */
export const TRANSITIONS: Readonly<Record<MessageStatus, readonly MessageStatus[]>> = {
  pending: ['sending', 'deferred', 'held', 'failed'],
  sending: ['sent', 'deferred', 'failed', 'held', 'pending'],
  deferred: ['sending', 'pending', 'held', 'failed'],
  held: ['pending', 'failed'],
  sent: [],
  failed: ['pending'],
};

export function isMessageStatus(x: unknown): x is MessageStatus {
  return typeof x === 'string' && (MESSAGE_STATUSES as readonly string[]).includes(x);
}

export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return TRANSITIONS[from].includes(to);
}
