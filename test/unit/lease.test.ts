import { describe, expect, it } from 'vitest';
import { elapsedClock } from '../../src/app/distributor/index.js';
import {
  DEFAULT_SEND_DEADLINE_MS,
  FENCE_MARGIN_MS,
  deathSign,
  fenceDecision,
  leaseNeededMs,
  runState,
  type RunLiveness,
} from '../../src/core/lease.js';

describe('the fence before a send', () => {
  it("asks for the provider's deadline plus a margin, or three fifths of a lease too short for that", () => {
    expect(leaseNeededMs(undefined, 600_000)).toBe(DEFAULT_SEND_DEADLINE_MS + FENCE_MARGIN_MS);
    expect(leaseNeededMs(120_000, 600_000)).toBe(120_000 + FENCE_MARGIN_MS);
    expect(leaseNeededMs(undefined, 5_000)).toBe(3_000);
    expect(leaseNeededMs(1_000, 60_000)).toBe(1_000 + FENCE_MARGIN_MS);
  });

  // lease (expiresAt on the run's elapsed clock, or lost), now, needed, renewed already → decision
  const table: [string, { expiresAt: number } | undefined, number, number, boolean, ReturnType<typeof fenceDecision>][] = [
    ['lease well ahead: send, no database round trip', { expiresAt: 600_000 }, 1_000, 305_000, false, 'send'],
    ['exactly enough left: send', { expiresAt: 306_000 }, 1_000, 305_000, false, 'send'],
    ['a millisecond short: renew first', { expiresAt: 305_999 }, 1_000, 305_000, false, 'renew'],
    ['after a pause longer than the lease: renew first', { expiresAt: 600_000 }, 900_000, 305_000, false, 'renew'],
    ['renewed and now long enough: send', { expiresAt: 1_500_000 }, 900_000, 305_000, true, 'send'],
    [
      'renewal accepted but still too short (it took too long): give it back untried',
      { expiresAt: 1_100_000 },
      900_000,
      305_000,
      true,
      'giveBack',
    ],
    ["renewal refused (expired or another owner's): drop unsent", undefined, 900_000, 305_000, true, 'drop'],
    ['lost at an earlier renewal: drop without asking again', undefined, 1_000, 305_000, false, 'drop'],
  ];
  it.each(table)('%s', (_what, lease, now, needed, renewed, expected) => {
    expect(fenceDecision(lease, now, needed, renewed)).toBe(expected);
  });
});

describe("the run's elapsed clock", () => {
  it('counts a frozen process (wall and monotonic both move) and a suspended machine (only the wall moves), and never goes back', () => {
    let mono = 1_000;
    let wall = 1_700_000_000_000;
    const elapsed = elapsedClock(
      () => mono,
      () => wall,
    );
    expect(elapsed()).toBe(0);
    mono += 100;
    wall += 100;
    expect(elapsed()).toBe(100);
    // SIGSTOP for 10 minutes: both clocks go on
    mono += 600_000;
    wall += 600_000;
    expect(elapsed()).toBe(600_100);
    // the machine suspended for an hour: the monotonic clock stood still
    wall += 3_600_000;
    expect(elapsed()).toBe(4_200_100);
    // the wall clock set back by a day: the monotonic clock still counts
    wall -= 86_400_000;
    mono += 50;
    expect(elapsed()).toBe(4_200_100);
    mono += 5_000_000;
    expect(elapsed()).toBe(5_600_150);
  });
});

describe('what the record of a run says about its distributor', () => {
  const run = (x: Partial<RunLiveness> = {}): RunLiveness => ({
    host: 'web1',
    pid: 42,
    endedAt: null,
    errorCode: null,
    heartbeatAt: 1_000_000,
    silenceLimitMs: 600_000,
    ...x,
  });
  const here = (x: { dbNow?: number; host?: string; alive?: boolean } = {}) => ({
    dbNow: x.dbNow ?? 1_100_000,
    host: x.host ?? 'web1',
    isPidAlive: () => x.alive ?? true,
  });

  const table: [string, RunLiveness, ReturnType<typeof here>, string, string | null][] = [
    ['ended without an error: finished', run({ endedAt: 5 }), here(), 'finished', null],
    ['ended with an error: stopped', run({ endedAt: 5, errorCode: 'AUTH_FAILED' }), here({ alive: false }), 'stopped', null],
    ['this host, process alive: running', run(), here(), 'running', null],
    ['this host, process gone (kill -9): died', run(), here({ alive: false }), 'died', 'process gone'],
    [
      'this host, process gone, recorded before heartbeats: died',
      run({ heartbeatAt: null, silenceLimitMs: null }),
      here({ alive: false }),
      'died',
      'process gone',
    ],
    ['another host, heard from within its lease: running', run(), here({ host: 'web2', alive: false }), 'running', null],
    ['another host, silent longer than its lease: died', run(), here({ host: 'web2', dbNow: 1_600_001 }), 'died', 'silent'],
    ['another host, silent exactly its lease: running', run(), here({ host: 'web2', dbNow: 1_600_000 }), 'running', null],
    [
      'another host, no heartbeat recorded: cannot tell, running',
      run({ heartbeatAt: null, silenceLimitMs: null }),
      here({ host: 'web2', dbNow: 9e12 }),
      'running',
      null,
    ],
  ];
  it.each(table)('%s', (_what, r, o, state, sign) => {
    expect(runState(r, o)).toBe(state);
    expect(deathSign(r, o)).toBe(sign);
  });
});
