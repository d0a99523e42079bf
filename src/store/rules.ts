/**
 * The store's rules that do not depend on a database: run counts, which statuses each operator action
 * takes, the system template's org, and the address a user sends as. Every implementation shares them.
 */
import type { MessageStatus } from '../core/status.js';
import type { MessageRow, OperatorAction, QueueWrite, RunCounts, UserRow } from './ports.js';

/** The order claimed messages are sent in: the highest priority first, then the oldest due. */
export function claimOrder(a: MessageRow, b: MessageRow): number {
  return b.priority - a.priority || a.dueAt - b.dueAt || a.id - b.id;
}

export const zeroCounts = (): RunCounts => ({ sent: 0, deferred: 0, failed: 0, forced: 0 });

/** The counts of the writes the database accepted (`accepted[i]` for `writes[i]`). */
export function tallyOf(writes: readonly QueueWrite[], accepted: readonly boolean[], into: RunCounts = zeroCounts()): RunCounts {
  writes.forEach((w, i) => {
    if (!accepted[i]) return;
    if (w.op === 'sent') {
      into.sent++;
      if (w.forced) into.forced++;
    } else if (w.op === 'deferred') into.deferred++;
    else if (w.op === 'failed') into.failed++;
  });
  return into;
}

export function addCounts(into: RunCounts, c: RunCounts): RunCounts {
  into.sent += c.sent;
  into.deferred += c.deferred;
  into.failed += c.failed;
  into.forced += c.forced;
  return into;
}

/**
 * Per action: `targets`, the statuses a filter picks (the ones the action really changes), and
 * `accepts`, the statuses a listed id may have (a listed message already in the wished state is fine).
 */
export const OPERATOR_RULES: Record<OperatorAction, { targets: readonly MessageStatus[]; accepts: readonly MessageStatus[] }> = {
  hold: { targets: ['pending', 'deferred'], accepts: ['pending', 'deferred', 'held'] },
  release: { targets: ['held'], accepts: ['held', 'pending'] },
  retry: { targets: ['failed', 'deferred'], accepts: ['failed', 'deferred', 'pending'] },
  delete: { targets: ['pending', 'deferred', 'held', 'sent', 'failed'], accepts: ['pending', 'deferred', 'held', 'sent', 'failed'] },
};

/** Rows deleted per retention transaction: small enough that the write lock is held for milliseconds. */
export const PURGE_BATCH = 500;

/** The org of a system template: the row is shared by every organisation. */
export const SYSTEM_ORG = '';

/** The address a user sends as: their sender override, else their own email. */
export function senderOf(user: Pick<UserRow, 'email' | 'senderEmail'>): string {
  return user.senderEmail || user.email;
}
