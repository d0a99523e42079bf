// The error codes `--json` can show are listed once, in src/core/error-codes.ts: every code the sources
// throw is there, none listed is unused, and docs/error-codes.md is the list as `npm run docs` writes it.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  errorCodesSectionOf,
  isErrorCode,
  renderErrorCodesMarkdown,
  withErrorCodesSection,
} from '../../src/core/error-codes.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SRC = path.join(ROOT, 'src');
const LIST = path.join('core', 'error-codes.ts');

function sources(): { file: string; text: string }[] {
  return fs
    .readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && f !== LIST)
    .map((f) => ({ file: f, text: fs.readFileSync(path.join(SRC, f), 'utf8') }));
}

/** The top-level arguments of the call whose opening parenthesis is at `open`, as source text. */
function callArguments(text: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      // skip the string (template literals' ${} hold no code we look for at top level)
      for (i++; i < text.length && text[i] !== ch; i++) if (text[i] === '\\') i++;
    } else if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return args;
      }
    } else if (ch === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return args;
}

/** Where an error's code is written down: the call, and which argument holds the code. */
const CODE_ARGUMENT: [RegExp, number][] = [
  [/new SysemailError\(/g, 1],
  [/\bfailureError\(/g, 1],
  [/\bconfigError\(/g, 1],
  [/\bioError\(/g, 0],
  [/\bnotJsonError\(/g, 3],
];

/** Every code written as a literal where an error is made, with where. */
function thrownCodes(): Map<string, string> {
  const found = new Map<string, string>();
  for (const { file, text } of sources()) {
    for (const [pattern, index] of CODE_ARGUMENT) {
      for (const m of text.matchAll(pattern)) {
        const arg = callArguments(text, m.index + m[0].length - 1)[index] ?? '';
        // a literal, or a choice between literals (`sendAs ? 'SEND_AS_DENIED' : 'EXCHANGE_UNAUTHORIZED'`)
        for (const code of arg.matchAll(/'([A-Z][A-Z0-9_]+)'/g)) found.set(code[1], `src/${file}`);
      }
    }
    // the codes of a message's problems, which send and notify turn into their error (first.code), and
    // of the JSON error the reporter writes itself (CANCELLED)
    for (const m of text.matchAll(/\{\s*field\b[^{}]*?\bcode: '([A-Z][A-Z0-9_]+)'|\bcode: ErrorCode = '([A-Z][A-Z0-9_]+)'/g)) {
      found.set(m[1] ?? m[2], `src/${file}`);
    }
  }
  return found;
}

describe('error codes', () => {
  it('every code thrown in src/ is listed', () => {
    const thrown = thrownCodes();
    expect(thrown.size).toBeGreaterThan(80); // the scan finds the codes at all
    const unlisted = [...thrown].filter(([code]) => !isErrorCode(code)).map(([code, file]) => `${code} (${file})`);
    expect(unlisted).toEqual([]);
  });

  it('none listed is unused: each appears in the sources outside the list and the diagnosis catalogue', () => {
    const texts = sources()
      .filter(({ file }) => !file.startsWith(path.join('core', 'diagnosis')))
      .map(({ text }) => text)
      .join('\n');
    const unused = Object.keys(ERROR_CODES).filter((code) => !texts.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('each has a one-line description', () => {
    for (const [code, description] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(description.length, code).toBeGreaterThan(10);
      expect(description, code).not.toMatch(/[\r\n]/);
    }
  });

  it('docs/error-codes.md is in step with the list (run `npm run build && npm run docs` after editing it)', () => {
    const section = errorCodesSectionOf(fs.readFileSync(path.join(ROOT, 'docs', 'error-codes.md'), 'utf8'));
    expect(section, 'docs/error-codes.md has no <!-- error-codes:start --> section: run `npm run docs`').toBeDefined();
    expect(section).toBe(renderErrorCodesMarkdown(ERROR_CODES));
    for (const code of Object.keys(ERROR_CODES)) expect(section).toContain(`| \`${code}\` |`);
  });

  it('replaces the generated section in place and appends one when there is none', () => {
    const section = renderErrorCodesMarkdown(ERROR_CODES);
    const appended = withErrorCodesSection('# Error codes\n\ntext\n', section);
    expect(errorCodesSectionOf(appended)).toBe(section);
    expect(withErrorCodesSection(appended.replace('`USAGE`', '`STALE`'), section)).toBe(appended);
  });
});
