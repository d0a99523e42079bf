import { describe, expect, it } from 'vitest';
import { displayWidth, fitColumns } from '../../src/cli/output.js';

const total = (w: number[]) => w.reduce((a, b) => a + b, 0) + w.length + 1;

describe('fitColumns: a table within the terminal width', () => {
  it('leaves a table that fits alone, and an unknown width', () => {
    expect(fitColumns([10, 20], 80)).toBeUndefined();
    expect(fitColumns([100, 200], undefined)).toBeUndefined();
  });

  it('keeps the short columns whole and shares the rest among the wide ones', () => {
    const w = fitColumns([4, 9, 12, 120, 60], 80)!;
    expect(total(w)).toBeLessThanOrEqual(80);
    expect(w.slice(0, 3)).toEqual([4, 9, 12]);
    expect(w[3]).toBeGreaterThan(20);
    expect(w[4]).toBeGreaterThan(20);
  });

  for (const cols of [56, 60, 61, 100, 133]) {
    it(`never exceeds ${cols} columns when every column can get its minimum`, () => {
      const w = fitColumns([4, 9, 26, 10, 39, 49, 21], cols)!;
      expect(total(w)).toBeLessThanOrEqual(cols);
    });
  }

  it('displayWidth counts wide characters twice and ignores colour', () => {
    expect(displayWidth('\x1b[1mkey\x1b[22m')).toBe(3);
    expect(displayWidth('日本')).toBe(4);
    expect(displayWidth('a\nlonger line')).toBe(11);
  });
});
