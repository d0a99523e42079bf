import { describe, expect, it } from 'vitest';
import { firstJsonError, jsonSyntaxError, lineBreakProblem, quoted } from '../../src/core/text.js';

describe('quoted: a user value inside an error message', () => {
  it('escapes CR, LF, NUL, tabs, escape sequences and bidi overrides so the message stays one line', () => {
    expect(quoted('U\r\nBcc: x')).toBe("'U\\r\\nBcc: x'");
    expect(quoted('a\0b\tc')).toBe("'a\\0b\\tc'");
    expect(quoted('\x1b[31mred')).toBe("'\\u001b[31mred'");
    expect(quoted('abc\u202edef')).toBe("'abc\\u202edef'");
    expect(quoted('Grüße ✓')).toBe("'Grüße ✓'");
  });

  it('cuts a long value to about 80 characters and says how long it was', () => {
    const q = quoted('x'.repeat(100_000));
    expect(q).toBe(`'${'x'.repeat(80)}…' (100000 characters)`);
    expect(quoted('y'.repeat(80))).toBe(`'${'y'.repeat(80)}'`);
    // cut by characters, not UTF-16 halves
    expect(quoted('😀'.repeat(81))).toBe(`'${'😀'.repeat(80)}…' (81 characters)`);
  });
});

describe('lineBreakProblem', () => {
  it('names CR/LF and NUL; a plain line passes', () => {
    expect(lineBreakProblem('one line')).toBeUndefined();
    expect(lineBreakProblem('a\r\nb')).toMatch(/line break/);
    expect(lineBreakProblem('a\nb')).toMatch(/line break/);
    expect(lineBreakProblem('a\0b')).toMatch(/NUL/);
  });
});

describe('jsonSyntaxError: where a text stops being JSON, without its content', () => {
  const valid = ['{}', '[]', ' {"a":1,"b":[true,false,null,-1.5e3,"x\\u00e9\\n"]}\n', '"s"', '0', '[[[[]]]]', '{"a":{"b":{}}}'];
  for (const v of valid) {
    it(`accepts ${JSON.stringify(v)} as JSON.parse does`, () => {
      expect(() => JSON.parse(v)).not.toThrow();
      expect(firstJsonError(v)).toBeUndefined();
    });
  }
  const invalid: [string, number, number][] = [
    ['hunter2secret', 1, 1],
    ['', 1, 1],
    ['{"a":1,\n"b":x}', 2, 5],
    ['{"a":1,}', 1, 8],
    ['[1 2]', 1, 4],
    ['{"a" 1}', 1, 6],
    ['{"a":"unterminated', 1, 19],
    ['{} extra', 1, 4],
    ['01', 1, 2],
    ['{"a":"\\x"}', 1, 8],
    ['\uFEFF{}', 1, 1],
  ];
  for (const [text, line, column] of invalid) {
    it(`${JSON.stringify(text)}: line ${line}, column ${column}`, () => {
      expect(() => JSON.parse(text)).toThrow();
      expect(jsonSyntaxError(text)).toEqual({ line, column });
    });
  }
  it('deep nesting does not overflow', () => {
    expect(firstJsonError('['.repeat(200_000) + ']'.repeat(200_000))).toBeUndefined();
    expect(jsonSyntaxError('['.repeat(200_000))).toEqual({ line: 1, column: 200_001 });
  });
});
