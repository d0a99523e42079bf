/**
 * The claim's check against the suppression list: a claimed message with a suppressed recipient is
 * failed in the claim's own transaction (reason `suppressed`), so it never reaches a provider.
 */
import type { ClaimRequest, MessageRow, QueueWrite } from '../ports.js';
import { suppressedFailure } from '../../core/suppression.js';
import type { Transitions } from './transitions.js';

export function failSuppressed(
  transitions: Transitions,
  taken: MessageRow[],
  req: Pick<ClaimRequest, 'owner' | 'now' | 'providerOf'>,
): { rows: MessageRow[]; suppressed: number[] } {
  const blocked = transitions.suppressions.blocked(taken, req.now);
  if (blocked.length === 0) return { rows: taken, suppressed: [] };
  const byId = new Map(taken.map((m) => [m.id, m]));
  const writes: QueueWrite[] = blocked.map((b) => ({
    op: 'failed',
    id: b.id,
    owner: req.owner,
    attempt: byId.get(b.id)!.attempts,
    outcome: {
      now: req.now,
      startedAt: req.now,
      provider: req.providerOf(byId.get(b.id)!),
      failure: suppressedFailure(b.entry),
      diagnosis: null,
    },
  }));
  const accepted = transitions.applyAllIn(writes);
  const suppressed = blocked.filter((_, i) => accepted[i]).map((b) => b.id);
  transitions.suppressions.markSuppressed(suppressed);
  const gone = new Set(blocked.map((b) => b.id));
  return { rows: taken.filter((m) => !gone.has(m.id)), suppressed };
}
