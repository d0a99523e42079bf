// The CLI's shape, checked on its sources: every exit code goes through the one table in
// src/cli/exit-codes.ts, nothing holds an exit code for the whole process, and command files stay apart.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCode, exitCodeOf, signalExit } from '../../src/cli/exit-codes.js';

const CLI = path.resolve(import.meta.dirname, '..', '..', 'src', 'cli');

function sources(dir: string): { file: string; text: string }[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: f, text: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

/** Lines of the sources (comments dropped) that match. */
function offending(pattern: RegExp, except: string[] = []): string[] {
  const found: string[] = [];
  for (const { file, text } of sources(CLI)) {
    if (except.includes(file)) continue;
    text.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
      if (pattern.test(code)) found.push(`src/cli/${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

describe('exit codes', () => {
  it('keep the contract numbers', () => {
    expect(EXIT).toMatchObject({
      OK: 0,
      CHECK_FAILED: 1,
      USAGE: 64,
      DATAERR: 65,
      NOINPUT: 66,
      UNAVAILABLE: 69,
      SOFTWARE: 70,
      IOERR: 74,
      TEMPFAIL: 75,
      NOPERM: 77,
      CONFIG: 78,
    });
    expect([EXIT.INTERRUPTED, EXIT.BROKEN_PIPE, EXIT.TERMINATED]).toEqual([130, 141, 143]);
    expect([exitCodeOf('usage'), exitCodeOf('data'), exitCodeOf('internal'), exitCodeOf('config')]).toEqual([64, 65, 70, 78]);
    expect([exitCode('CHECK_FAILED'), signalExit('SIGINT'), signalExit('SIGTERM')]).toEqual([1, 130, 143]);
  });

  it('are never written as numbers outside the table', () => {
    // an exit code as a literal: process.exit(3), exitCode = 3, return 75 / return x ? 0 : 1 from a command
    expect(
      offending(/process\.exit\(\s*\d|exitCode\s*=\s*\d|return\s+\d+\s*;|return\s[^;]*\?\s*\d+\s*:\s*\d+\s*;/, ['exit-codes.ts']),
    ).toEqual([]);
  });

  it('are not kept in a process-wide holder: main.ts maps what a command ended with', () => {
    expect(offending(/process\.exitCode/)).toEqual([]);
    expect(offending(/^export\s+(const|let)\s+outcome\b/)).toEqual([]);
    // process.exit only where a reader went away (main.ts) or a second signal stops `queue run` at once
    expect(offending(/process\.exit\(/, ['main.ts']).map((l) => l.replace(/:\d+:.*/, ''))).toEqual(['src/cli/commands/queue.ts']);
    expect(offending(/process\.exit\((?!EXIT\.|signalExit\()/)).toEqual([]);
  });
});

describe('command files', () => {
  it('import no other command file: what they share lives in src/cli or src/app', () => {
    const imports = sources(path.join(CLI, 'commands')).flatMap(({ file, text }) =>
      [...text.matchAll(/(?:from\s+|import\()\s*'(\.\/[^']+)'/g)].map((m) => `${file} imports ${m[1]}`),
    );
    expect(imports).toEqual([]);
  });

  it('leave keeping a secret to the use case in src/app/secrets.ts', () => {
    const params = fs.readFileSync(path.join(CLI, 'commands', 'params.ts'), 'utf8');
    expect(params).toContain("import('../../app/secrets.js')");
    expect(params).not.toMatch(/\bstoreSecret\b/);
  });
});
