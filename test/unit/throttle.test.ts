import { describe, expect, it } from 'vitest';
import { MAX_DEFERRALS, THROTTLE_WINDOW_MS, perMinuteLimit, planThrottle } from '../../src/core/throttle.js';
import { Settings } from '../../src/core/precedence.js';
import type { ParamValue } from '../../src/core/params.js';

function settings(params: Record<string, ParamValue>): Settings {
  return Settings.from({ params: new Map(Object.entries(params)), user: new Map(), env: {}, dataDir: '/tmp/x' }).settings;
}

/** A distributor driven by a fake clock: messages become due, each pass decides against the shared window. */
function simulate(limit: number, arrivals: number[], passEveryMs: number, untilMs: number) {
  interface Msg {
    id: number;
    due: number;
    deferrals: number;
    sentAt?: number;
    forced?: boolean;
  }
  const msgs: Msg[] = arrivals.map((t, id) => ({ id, due: t, deferrals: 0 }));
  const window: number[] = [];
  for (let now = 0; now <= untilMs; now += passEveryMs) {
    const due = msgs.filter((m) => m.sentAt === undefined && m.due <= now).sort((a, b) => a.due - b.due || a.id - b.id);
    const decisions = planThrottle(limit, window, now, due);
    due.forEach((m, i) => {
      const d = decisions[i];
      if (d.action === 'send') {
        m.sentAt = now;
        m.forced = d.forced;
        window.push(now);
      } else {
        expect(d.until).toBeGreaterThan(now);
        expect(d.until - now).toBeLessThanOrEqual(THROTTLE_WINDOW_MS);
        expect(d.deferrals).toBe(m.deferrals + 1);
        m.due = d.until;
        m.deferrals = d.deferrals;
      }
    });
  }
  return msgs;
}

function maxInAnyWindow(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi] - t[lo] >= THROTTLE_WINDOW_MS) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('throttle window', () => {
  it('limit 30: at most 30 unforced sends in any 60 s window', () => {
    // 200 messages arriving in bursts, passes every 7 s for 20 minutes
    const arrivals = Array.from({ length: 200 }, (_, i) => (i % 4) * 45_000 + Math.floor(i / 4) * 100);
    const msgs = simulate(30, arrivals, 7_000, 20 * 60_000);
    const unforced = msgs.filter((m) => m.sentAt !== undefined && !m.forced).map((m) => m.sentAt!);
    expect(unforced.length).toBeGreaterThan(30);
    expect(maxInAnyWindow(unforced)).toBeLessThanOrEqual(30);
    expect(msgs.every((m) => m.sentAt !== undefined)).toBe(true);
  });

  it('a message deferred ten times goes on the eleventh try, counted as forced', () => {
    const full = Array.from({ length: 30 }, () => 0);
    let deferrals = 0;
    let now = 1;
    for (let i = 0; i < MAX_DEFERRALS; i++) {
      const [d] = planThrottle(
        30,
        full.map(() => now - 1),
        now,
        [{ deferrals }],
      );
      expect(d.action).toBe('defer');
      if (d.action === 'defer') deferrals = d.deferrals;
      now += 1000;
    }
    expect(deferrals).toBe(10);
    const [eleventh] = planThrottle(
      30,
      full.map(() => now - 1),
      now,
      [{ deferrals }],
    );
    expect(eleventh).toEqual({ action: 'send', forced: true });
  });

  it('defers until the oldest send leaves the window, spreading a batch over the freeing slots', () => {
    const window = [1000, 2000, 3000];
    const d = planThrottle(3, window, 10_000, [{ deferrals: 0 }, { deferrals: 0 }, { deferrals: 0 }, { deferrals: 0 }]);
    // a slot is reused 62 s after the send that held it (a minute, and a margin for the hand-over)
    expect(d.map((x) => (x.action === 'defer' ? x.until : -1))).toEqual([63_000, 64_000, 65_000, 72_000]);
  });

  it('ignores sends older than the window and lets everything through with limit 0', () => {
    expect(planThrottle(1, [0], THROTTLE_WINDOW_MS, [{ deferrals: 0 }])).toEqual([{ action: 'send', forced: false }]);
    expect(planThrottle(0, Array(100).fill(5), 10, [{ deferrals: 0 }])).toEqual([{ action: 'send', forced: false }]);
  });

  it('per-minute limits: off unless enabled, 30 for Microsoft 365 and exchange, eml never', () => {
    expect(perMinuteLimit(settings({ 'smtp.host': 'smtp.office365.com' }), 'smtp')).toBe(0);
    const on = { 'throttling.enabled': true };
    expect(perMinuteLimit(settings({ ...on, 'smtp.host': 'smtp.office365.com' }), 'smtp')).toBe(30);
    expect(perMinuteLimit(settings({ ...on, 'smtp.host': 'mail.example.com' }), 'smtp')).toBe(0);
    expect(perMinuteLimit(settings({ ...on, 'smtp.host': 'mail.example.com', 'smtp.perMinuteLimit': 12 }), 'smtp')).toBe(12);
    expect(perMinuteLimit(settings({ ...on, 'smtp.host': 'smtp.office365.com', 'smtp.perMinuteLimit': 0 }), 'smtp')).toBe(0);
    expect(perMinuteLimit(settings(on), 'exchange')).toBe(30);
    expect(perMinuteLimit(settings({ ...on, 'exchange.perMinuteLimit': 5 }), 'eml')).toBe(0);
  });
});
