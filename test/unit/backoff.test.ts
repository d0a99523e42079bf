import { describe, expect, it } from 'vitest';
import { backoffDelaySec, lifetimeDeadline, retryDecision, type BackoffPolicy } from '../../src/core/backoff.js';

const policy: BackoffPolicy = { minBackoffSec: 300, maxBackoffSec: 4000, maxLifetimeHours: 120 };
const HOUR = 3_600_000;

describe('backoff', () => {
  it('doubles from the minimum and stops at the maximum, jitter included', () => {
    for (const r of [0, 0.5, 0.999]) {
      const delays = [1, 2, 3, 4, 5, 6, 10, 50].map((a) => backoffDelaySec(a, policy, () => r));
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(300);
        expect(d).toBeLessThanOrEqual(4000);
      }
      expect(delays[7]).toBe(r === 0 ? 3200 : 4000);
    }
    // without jitter (random = 0.5) the wait doubles
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5].map((a) => backoffDelaySec(a, policy, mid))).toEqual([300, 600, 1200, 2400, 4000]);
  });

  it('spreads messages refused together', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(backoffDelaySec(3, policy, () => i / 50));
    expect(seen.size).toBeGreaterThan(20);
  });

  it('never undercuts a Retry-After', () => {
    const d = retryDecision({ attempts: 1, firstAttemptAt: 0, createdAt: 0, now: 1000, retryAfterSec: 3600 }, policy, () => 0.5);
    expect(d).toEqual({ action: 'retry', dueAt: 1000 + 3600_000, delaySec: 3600 });
    const short = retryDecision({ attempts: 1, firstAttemptAt: 0, createdAt: 0, now: 1000, retryAfterSec: 5 }, policy, () => 0.5);
    expect(short).toMatchObject({ action: 'retry', delaySec: 300 });
  });

  it('gives up past the lifetime, counted from the first attempt, else from creation', () => {
    const created = 0;
    expect(lifetimeDeadline({ firstAttemptAt: null, createdAt: created }, policy)).toBe(120 * HOUR);
    expect(lifetimeDeadline({ firstAttemptAt: 5 * HOUR, createdAt: created }, policy)).toBe(125 * HOUR);
    const late = retryDecision({ attempts: 30, firstAttemptAt: 5 * HOUR, createdAt: created, now: 125 * HOUR }, policy);
    expect(late.action).toBe('give-up');
    const notYet = retryDecision({ attempts: 30, firstAttemptAt: 5 * HOUR, createdAt: created, now: 124 * HOUR }, policy);
    expect(notYet.action).toBe('retry');
  });

  it('pulls the last retry in to the deadline instead of skipping it', () => {
    const now = 120 * HOUR - 60_000;
    const d = retryDecision({ attempts: 20, firstAttemptAt: 0, createdAt: 0, now }, policy, () => 0.5);
    expect(d).toEqual({ action: 'retry', dueAt: 120 * HOUR, delaySec: 60 });
  });
});
