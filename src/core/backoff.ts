/**
 * When to try a temporarily refused message again, like a mail server's deferred queue: the wait
 * doubles from queue.minBackoffSec up to queue.maxBackoffSec, with jitter so that a queue refused all
 * at once does not come back all at once; a server's Retry-After is never undercut; a message older
 * than queue.maxLifetimeHours gives up.
 */

export interface BackoffPolicy {
  minBackoffSec: number;
  maxBackoffSec: number;
  maxLifetimeHours: number;
}

export interface RetryInput {
  /** Attempts made so far, the failed one included (≥ 1). */
  attempts: number;
  /** Epoch ms of the first attempt; the lifetime counts from there, else from creation. */
  firstAttemptAt: number | null;
  createdAt: number;
  now: number;
  /** Seconds the server asked us to wait. */
  retryAfterSec?: number;
}

export type RetryDecision = { action: 'retry'; dueAt: number; delaySec: number } | { action: 'give-up'; reason: string };

/** Share of the wait that is randomised: ±20 %. */
const JITTER = 0.2;

/** The wait before attempt `attempts + 1`, in seconds, jittered and kept within [min, max]. */
export function backoffDelaySec(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const min = Math.max(1, policy.minBackoffSec);
  const max = Math.max(min, policy.maxBackoffSec);
  const exponent = Math.min(Math.max(0, attempts - 1), 30);
  const base = Math.min(max, min * 2 ** exponent);
  const jittered = base * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.min(max, Math.max(min, jittered)));
}

export function lifetimeDeadline(input: Pick<RetryInput, 'firstAttemptAt' | 'createdAt'>, policy: BackoffPolicy): number {
  return (input.firstAttemptAt ?? input.createdAt) + policy.maxLifetimeHours * 3_600_000;
}

/**
 * Retry or give up. The last retry is pulled in to the end of the lifetime rather than skipped, so a
 * message always gets its try at the deadline before it fails.
 */
export function retryDecision(input: RetryInput, policy: BackoffPolicy, random: () => number = Math.random): RetryDecision {
  const deadline = lifetimeDeadline(input, policy);
  if (input.now >= deadline) {
    return {
      action: 'give-up',
      reason: `still refused after ${policy.maxLifetimeHours} h (queue.maxLifetimeHours) and ${input.attempts} attempt(s)`,
    };
  }
  let delaySec = backoffDelaySec(input.attempts, policy, random);
  if (input.retryAfterSec !== undefined && input.retryAfterSec > delaySec) delaySec = Math.ceil(input.retryAfterSec);
  const dueAt = Math.min(input.now + delaySec * 1000, deadline);
  return { action: 'retry', dueAt, delaySec: Math.max(0, Math.round((dueAt - input.now) / 1000)) };
}
