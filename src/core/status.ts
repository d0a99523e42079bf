/** The statuses a message goes through, and which moves between them are legal. */
export const MESSAGE_STATUSES = ['pending', 'sending', 'deferred', 'held', 'sent', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/**
 * Where a message may go from each status. Only a claim leads into `sending`, and only the lease
 * owner's write (or the lease running out) leads out of it; `sent` is final (retention deletes it).
 */
export const TRANSITIONS: Readonly<Record<MessageStatus, readonly MessageStatus[]>> = {
  pending: ['sending', 'held'],
  sending: ['sent', 'deferred', 'failed', 'pending', 'held'],
  deferred: ['sending', 'held', 'pending'],
  held: ['pending'],
  sent: [],
  failed: ['pending'],
};

export function isMessageStatus(x: unknown): x is MessageStatus {
  return typeof x === 'string' && (MESSAGE_STATUSES as readonly string[]).includes(x);
}

export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * The reason a message is held with when its connection was lost after the whole message reached the
 * server and before its reply: it may have been delivered, so it is not sent again without the operator.
 */
export const OUTCOME_UNKNOWN_REASON = 'outcome unknown';
