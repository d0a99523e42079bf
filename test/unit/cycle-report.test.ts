import { describe, expect, it } from 'vitest';
import type { CycleResult } from '../../src/app/distributor/index.js';
import { cycleReport } from '../../src/cli/commands/queue.js';

const idle: CycleResult = { sent: 0, deferred: 0, failed: 0, forced: 0, remaining: 0 };
const busy = (over: Partial<CycleResult>): CycleResult => ({ ...idle, ...over });
const human = { json: false, terminal: false, verbose: false };

describe('which queue run cycles print a line', () => {
  it.each([
    ['one pass, cron (no terminal)', { ...human, watch: false }, busy({ sent: 3 }), false],
    ['one pass, -v', { ...human, watch: false, verbose: true }, idle, true],
    ['one pass, terminal', { ...human, watch: false, terminal: true }, idle, true],
    ['one pass, --json', { ...human, watch: false, json: true }, idle, true],
    ['--watch, idle', { ...human, watch: true, terminal: true }, idle, false],
    ['--watch --json, idle', { ...human, watch: true, json: true }, idle, false],
    ['--watch, sent', { ...human, watch: true }, busy({ sent: 1 }), true],
    ['--watch, deferred only', { ...human, watch: true }, busy({ deferred: 2, remaining: 2 }), true],
    ['--watch, failed only', { ...human, watch: true, json: true }, busy({ failed: 1 }), true],
    ['--watch, nothing due but messages waiting', { ...human, watch: true }, busy({ remaining: 5 }), false],
  ])('%s', (_name, o, cycle, printed) => {
    expect(cycleReport(o, 0)(cycle, 1000)).toBe(printed);
  });

  it('--heartbeat prints an idle cycle once SEC seconds passed without a line, counting from the last one', () => {
    const report = cycleReport({ ...human, watch: true, heartbeatMs: 60_000 }, 0);
    expect(report(idle, 30_000)).toBe(false);
    expect(report(idle, 60_000)).toBe(true);
    expect(report(idle, 90_000)).toBe(false);
    expect(report(busy({ sent: 1 }), 100_000)).toBe(true);
    expect(report(idle, 150_000)).toBe(false);
    expect(report(idle, 160_000)).toBe(true);
  });
});
