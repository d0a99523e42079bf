/**
 * What the user types is checked before it is stored: no CR, LF or NUL in a single-line field (a name,
 * an address, a subject, a header, a setting), no NUL in a body; and an error quoting a bad value shows
 * it escaped and cut short, and never the content of a file that was not JSON.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
beforeAll(async () => {
  sb = sandbox('sysemail-hygiene-e2e-');
  const r = await sb.run(['params', 'set', 'sender.default', 'app@example.com']);
  expect(r.exitCode, r.stderr).toBe(0);
});
afterAll(() => sb.cleanup());

function file(name: string, content: string | Buffer): string {
  const p = path.join(sb.dir, name);
  fs.writeFileSync(p, content);
  return p;
}

function count(table: string): number {
  const db = new Database(sb.db, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Every text value stored anywhere in the database. */
function storedText(): string[] {
  const db = new Database(sb.db, { readonly: true });
  try {
    const out: string[] = [];
    for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]) {
      for (const row of db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[]) {
        for (const v of Object.values(row)) if (typeof v === 'string') out.push(v);
      }
    }
    return out;
  } finally {
    db.close();
  }
}

/** The error is one line of stderr (warnings aside): no raw CR, LF or NUL from the value. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning:'));
  expect(lines, JSON.stringify(stderr)).toHaveLength(1);
  expect(lines[0]).not.toMatch(/[\r\0]/);
  return lines[0];
}

const outbox = () => path.join(sb.env.XDG_DATA_HOME, 'sysemail', 'outbox');
const emlCount = () => (fs.existsSync(outbox()) ? fs.readdirSync(outbox()).length : 0);

describe('no CR, LF or NUL is stored', () => {
  it('users add/set --name with a line break: 65, no user', async () => {
    const r = await sb.run(['users', 'add', 'u1', '--email', 'u1@example.com', '--name', 'U\r\nBcc: x@example.com']);
    expect(r.exitCode, r.stderr).toBe(65);
    expect(oneLine(r.stderr)).toContain('--name');
    expect(count('users')).toBe(0);
    const ok = await sb.run(['users', 'add', 'u2', '--email', 'u2@example.com', '--name', 'Ursula']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const set = await sb.run(['users', 'set', 'u2', '--name', 'U\nX']);
    expect(set.exitCode, set.stderr).toBe(65);
    const shown = await sb.run(['users', 'show', 'u2', '--json']);
    expect(json<{ name: string }>(shown.stdout).name).toBe('Ursula');
  });

  it('template add: a description with a line break, a subject or body with NUL: 65, no template', async () => {
    const body = file('t-body.txt', 'Hello %name%\n');
    const nulBody = file('t-nul.txt', Buffer.from('Hello\0 %name%\n'));
    for (const args of [
      ['template', 'add', 't1', '--subject', 'Hi', '--body-file', body, '--description', 'd\nX-Injected: y'],
      ['template', 'add', 't2', '--subject', 'Hi', '--body-file', nulBody],
      ['template', 'add', 't3', '--subject', 'Hi', '--html-file', nulBody],
    ]) {
      const r = await sb.run(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(65);
      oneLine(r.stderr);
    }
    expect(count('templates')).toBe(0);
  });

  it('send: a body with NUL is refused (65) before any .eml is written or message stored', async () => {
    const before = count('messages');
    const r = await sb.run([
      'send',
      '--provider',
      'eml',
      '--to',
      'ann@example.com',
      '--subject',
      's',
      '--body-file',
      file('nul.txt', Buffer.from('a\0b')),
    ]);
    expect(r.exitCode, r.stderr).toBe(65);
    expect(oneLine(r.stderr)).toMatch(/NUL/);
    expect(count('messages')).toBe(before);
    expect(emlCount()).toBe(0);
    // a body keeps its line breaks
    const ok = await sb.run(['send', '--provider', 'eml', '--to', 'ann@example.com', '--subject', 's', '--body', 'line 1\nline 2']);
    expect(ok.exitCode, ok.stderr).toBe(0);
  });

  it('queue import: a subject, a sender name or a header with CR/LF/NUL refuses the whole file (65)', async () => {
    const before = count('messages');
    const lines = [
      { to: 'ann@example.com', subject: 'fine', text: 'ok' },
      { to: 'ann@example.com', subject: 'a\u0000b', text: 'x' },
      { to: 'ann@example.com', from: 'Ann\r\nBcc: x@example.com <ann@example.com>', subject: 's', text: 'x' },
      { to: 'ann@example.com', subject: 's', text: 'nul \u0000 in body' },
      { to: 'ann@example.com', subject: 's', text: 'x', headers: { 'X-Tag': 'a\nb' } },
    ];
    const r = await sb.run(['queue', 'import', file('bad.jsonl', lines.map((l) => JSON.stringify(l)).join('\n') + '\n')]);
    expect(r.exitCode, r.stderr).toBe(65);
    expect(r.stderr).not.toMatch(/[\0]/);
    expect(count('messages')).toBe(before);
  });

  it('params set and params import: a value of kind string, path, host or address with CR/LF/NUL: 65, nothing changed', async () => {
    for (const [key, value] of [
      ['smtp.username', 'ab\r\ncd'],
      ['smtp.caFile', '/etc/ca\n.pem'],
      ['smtp.host', 'mail\r\n.example.com'],
      ['sender.default', 'a@example.com\r\nBcc: x@example.com'],
    ]) {
      const r = await sb.run(['params', 'set', key, value]);
      expect(r.exitCode, `${key}: ${r.stderr}`).toBe(65);
      oneLine(r.stderr);
    }
    const doc = file('params.json', JSON.stringify({ 'smtp.username': 'ok', 'smtp.passwordCommand': 'pass show\u0000 mail' }));
    const imp = await sb.run(['params', 'import', doc]);
    expect(imp.exitCode, imp.stderr).toBe(65);
    oneLine(imp.stderr);
    const got = await sb.run(['params', 'get', 'smtp.username']);
    expect(got.stdout.trim()).toBe('');
  });

  it('nothing stored anywhere holds a CR or NUL, and only bodies hold a LF', () => {
    for (const v of storedText()) {
      expect(v).not.toMatch(/[\r\0]/);
    }
  });
});

describe('a bad value in an error message', () => {
  it('is shown escaped: \\r\\n instead of a forged second line', async () => {
    const r = await sb.run(['users', 'add', 'u3', '--email', 'u3@example.com\r\nX-Forged: yes']);
    expect(r.exitCode).toBe(65);
    const line = oneLine(r.stderr);
    expect(line).toContain('u3@example.com\\r\\nX-Forged: yes');
    const json1 = await sb.run(['users', 'add', 'u3', '--email', 'u3@example.com\r\nX-Forged: yes', '--json']);
    expect(json<{ error: { message: string } }>(json1.stderr).error.message).toContain('\\r\\n');
  });

  it('anywhere it is quoted: a file name with a line break stays on the one error line', async () => {
    const r = await sb.run(['params', 'import', 'no\nsuch.json']);
    expect(r.exitCode).toBe(66);
    expect(oneLine(r.stderr)).toContain('no\\nsuch.json');
  });

  it('is cut to about 80 characters: a 100,000-character value gives a short line', async () => {
    const long = 'x'.repeat(100_000);
    for (const args of [
      ['params', 'set', 'smtp.port', long],
      ['users', 'add', 'u4', '--email', long],
      ['send', '--provider', 'eml', '--to', long, '--subject', 's', '--body', 'b'],
      ['template', 'add', long, '--subject', 's', '--body-file', file('long-body.txt', 'b')],
      ['queue', 'list', '--limit', long],
    ]) {
      const r = await sb.run(args);
      expect(r.exitCode, args.slice(0, 2).join(' ')).not.toBe(0);
      const line = oneLine(r.stderr);
      expect(line.length, `${args.slice(0, 2).join(' ')}: ${line.slice(0, 300)}`).toBeLessThan(400);
      expect(line).toContain('100000 characters');
    }
  });

  it('params import of a file that is not JSON never echoes it: "FILE is not JSON (line L, column C)"', async () => {
    const secret = 'Zq7vX2kLm9wRt4yP-hunter2';
    const pw = file('password.txt', `${secret}\n`);
    const r = await sb.run(['params', 'import', pw]);
    expect(r.exitCode, r.stderr).toBe(65);
    const line = oneLine(r.stderr);
    expect(line).toContain(`${pw} is not JSON (line 1, column 1)`);
    for (let i = 0; i + 4 <= secret.length; i++) expect(r.stderr).not.toContain(secret.slice(i, i + 4));
    const broken = file('broken.json', '{\n  "smtp.host": "mail.example.com",\n  "smtp.port": 58 7\n}\n');
    const b = await sb.run(['params', 'import', broken, '--json']);
    expect(b.exitCode).toBe(65);
    expect(json<{ error: { message: string } }>(b.stderr).error.message).toContain(`${broken} is not JSON (line 3, column 19)`);
    expect(b.stderr).not.toContain('mail.example.com');
  });

  it('a user config (--config) that is not JSON: 78 with line and column, no content', async () => {
    const secret = 'Zq7vX2kLm9wRt4yP-hunter2';
    const rc = file('bad.emailrc.json', `{"from": ${secret}}\n`);
    const r = await sb.run(['--config', rc, 'params', 'list']);
    expect(r.exitCode, r.stderr).toBe(78);
    expect(oneLine(r.stderr)).toContain(`${rc} is not JSON (line 1, column 10)`);
    for (let i = 0; i + 4 <= secret.length; i++) expect(r.stderr).not.toContain(secret.slice(i, i + 4));
  });

  it('send --template --data and queue import with a file that is not JSON: no content echoed either', async () => {
    const secret = 'Zq7vX2kLm9wRt4yP-hunter2';
    const pw = file('secret.txt', `${secret}\n`);
    const tpl = await sb.run(['template', 'add', 'hello', '--subject', 'Hi %name%', '--body-file', file('hello.txt', 'Hello')]);
    expect([0, 65]).toContain(tpl.exitCode);
    for (const args of [
      ['send', '--provider', 'eml', '--to', 'ann@example.com', '--template', 'hello', '--data', pw],
      ['queue', 'import', pw],
    ]) {
      const r = await sb.run(args);
      expect(r.exitCode, r.stderr).toBe(65);
      expect(r.stderr).toMatch(/(line 1: not JSON \(column 1\))|(not JSON \(line 1, column 1\))/);
      for (let i = 0; i + 4 <= secret.length; i++) expect(r.stderr).not.toContain(secret.slice(i, i + 4));
    }
  });
});
