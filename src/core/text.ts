import { SysemailError, quoted, type ErrorCode } from './errors.js';

/**
 * User text inside messages: a value quoted in an error must not break the line it sits on (a CR/LF
 * would forge a second line, a 100,000-character value would bury the message), and single-line
 * fields must not hold a line break or NUL.
 */

/** CR, LF or NUL: what a header, a name or a one-line setting may never hold. */
export const LINE_BREAK_OR_NUL = /[\r\n\0]/;

// quoted() and escapeControls() live with the error class (every error message needs them, and
// start-up loads no more modules for them); they are re-exported here with the rest of the text rules.
export { QUOTE_MAX, escapeControls, quoted } from './errors.js';

/** The checks a single-line field fails: undefined when it is fine. */
export function lineBreakProblem(value: string): string | undefined {
  if (value.includes('\0')) return 'contains a NUL character';
  if (/[\r\n]/.test(value)) return 'contains a line break (CR/LF)';
  return undefined;
}

/** `label` holding a CR, LF or NUL is refused (65), naming the field and showing the value escaped. */
export function requireOneLine(value: string, label: string): string {
  const problem = lineBreakProblem(value);
  if (problem) {
    throw new SysemailError('data', 'VALUE_NOT_ONE_LINE', `${label} ${quoted(value)} ${problem}`, {
      fix: `Give ${label} on one line, without control characters; nothing was saved`,
    });
  }
  return value;
}

/** A body may keep its line breaks, never a NUL: it would cut the text short in many mail programs. */
export function requireNoNul(value: string, label: string): string {
  if (value.includes('\0')) {
    throw new SysemailError('data', 'VALUE_NUL', `${label} contains a NUL character`, {
      fix: `Remove the NUL bytes from ${label} (a binary file is sent with --attach); nothing was saved`,
    });
  }
  return value;
}

/**
 * "FILE is not JSON (line L, column C)": where the text stops being JSON, never any of its content,
 * which could be a secret in a file given by mistake.
 */
export function notJsonError(source: string, text: string, fix: string, code: ErrorCode = 'NOT_JSON'): SysemailError {
  const at = jsonSyntaxError(text);
  return new SysemailError('data', code, `${source} is not JSON${at ? ` (line ${at.line}, column ${at.column})` : ''}`, { fix });
}

/** Line and column (from 1) of an offset in a text. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/**
 * Where a text stops being JSON, without repeating any of it: the parser's own message quotes the
 * text, which for a secret file given by mistake would print the secret.
 */
export function jsonSyntaxError(text: string): { line: number; column: number } | undefined {
  const offset = firstJsonError(text);
  return offset === undefined ? undefined : lineColumn(text, offset);
}

/** Offset of the first character where `text` is not valid JSON; undefined when it is valid. */
export function firstJsonError(text: string): number | undefined {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  class Stop {
    constructor(readonly at: number) {}
  }
  const fail = (at = i): never => {
    throw new Stop(Math.min(at, n));
  };
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) fail(i + k);
    i += word.length;
  };
  const string = () => {
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail(i + 2);
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(i + 1);
      } else i++;
    }
    fail(n);
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '-' || m[0] === '') fail();
    i += m![0].length;
  };
  const key = () => {
    ws();
    if (text[i] !== '"') fail();
    string();
    ws();
    if (text[i] !== ':') fail();
    i++;
  };
  // iterative over containers, so deep nesting cannot overflow the stack; every turn consumes input
  const stack: ('{' | '[')[] = [];
  try {
    let expectValue = true;
    while (true) {
      ws();
      if (expectValue) {
        const c = text[i];
        if (c === '{' || c === '[') {
          stack.push(c);
          i++;
          ws();
          if (text[i] === (c === '{' ? '}' : ']')) {
            stack.pop();
            i++;
            expectValue = false;
          } else if (c === '{') key();
          continue;
        }
        if (c === '"') string();
        else if (c === 't') literal('true');
        else if (c === 'f') literal('false');
        else if (c === 'n') literal('null');
        else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
        else fail();
        expectValue = false;
        continue;
      }
      const top = stack[stack.length - 1];
      if (!top) break;
      if (text[i] === ',') {
        i++;
        if (top === '{') key();
        expectValue = true;
      } else if (text[i] === (top === '{' ? '}' : ']')) {
        stack.pop();
        i++;
      } else fail();
    }
    if (i < n) fail();
    return undefined;
  } catch (err) {
    if (err instanceof Stop) return err.at;
    throw err;
  }
}
