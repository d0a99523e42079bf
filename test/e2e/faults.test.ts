/**
 * Faults outside sysemail's control end in a clear exit, never a stack trace or "this is a bug": a
 * reader that stops reading, a database that cannot be written, is locked or sits on a full disk, and a
 * database path that cannot exist.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, sandbox, type Sandbox } from '../helpers/cli.js';

const boxes: Sandbox[] = [];
afterAll(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

function newBox(): Sandbox {
  const box = sandbox('sysemail-faults-e2e-');
  boxes.push(box);
  return box;
}

/** `n` pending messages through `queue import`, each line long enough that the rows fill a pipe. */
async function withMessages(box: Sandbox, n: number): Promise<void> {
  const file = path.join(box.dir, 'messages.jsonl');
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ from: 'app@example.com', to: `user${i}@example.com`, subject: `message ${i} ${'x'.repeat(60)}`, text: 'hello' }),
  );
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const r = await box.run(['queue', 'import', file]);
  expect(r.exitCode, r.stderr).toBe(0);
}

/** Runs `sysemail ARGS`, reads the first chunk of its stdout, then closes the pipe as `head` does. */
function readThenClose(
  box: Sandbox,
  args: string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; got: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--db', box.db, ...args], {
      env: { ...cleanEnv(), ...box.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let got = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sysemail ${args.join(' ')} did not end after its reader went away\n${stderr}`));
    }, 20_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (t: string) => (stderr += t));
    child.stdout.once('data', (chunk: Buffer) => {
      got = chunk.length;
      child.stdout.destroy();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, got });
    });
  });
}

describe('a reader that stops reading (| head)', () => {
  it('queue list and history --json stop quietly with 141, as a command killed by SIGPIPE', async () => {
    const box = newBox();
    await withMessages(box, 3000);
    for (const args of [
      ['queue', 'list', '--limit', '3000'],
      ['history', '--json', '--limit', '0'],
    ]) {
      const r = await readThenClose(box, args);
      expect(r.got).toBeGreaterThan(0);
      expect(r.stderr, args.join(' ')).not.toMatch(/EPIPE|\n\s+at |internal error/);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(141);
    }
  }, 60_000);
});

describe('a database path that cannot exist', () => {
  it('--db /proc/no-such-dir/x.db exits 74 at once, naming the folder', async () => {
    const box = newBox();
    const r = await box.run(['--db', '/proc/no-such-dir/x.db', 'params', 'list'], { noDb: true, timeout: 15_000 });
    expect(r.signal, 'killed: it did not return').toBeUndefined();
    expect(r.exitCode, r.stderr).toBe(74);
    expect(r.stderr).toContain('/proc/no-such-dir');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);
});

describe('an outbox folder that cannot exist', () => {
  it('eml.outputDir under /proc: send --provider eml returns at once with 78 (a setting to correct), nothing reported sent', async () => {
    const box = newBox();
    const set = await box.run(['params', 'set', 'eml.outputDir', '/proc/no-such-dir/outbox']);
    expect(set.exitCode, set.stderr).toBe(0);
    const r = await box.run(
      ['send', '--provider', 'eml', '--from', 'app@example.com', '--to', 'ann@example.com', '--subject', 's', '--body', 'b'],
      { timeout: 15_000 },
    );
    expect(r.signal, 'killed: it did not return').toBeUndefined();
    expect(r.exitCode, r.stderr).toBe(78);
    expect(r.stderr).toContain('/proc/no-such-dir');
    expect(r.stderr).toContain('eml.outputDir');
  }, 30_000);
});

/** As root, the checks run as `nobody`: root writes through any file mode. */
const UNPRIVILEGED = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

/** A folder the unprivileged user owns, holding a sysemail database with one parameter set. */
async function ownedDatabase(): Promise<{
  dir: string;
  db: string;
  run: (args: string[], env?: Record<string, string>) => Promise<{ exitCode: number; stderr: string; stdout: string }>;
}> {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-faults-ro-'));
  fs.chmodSync(top, 0o755);
  const dir = path.join(top, 'data');
  fs.mkdirSync(dir);
  const home = path.join(top, 'home');
  fs.mkdirSync(home);
  if (UNPRIVILEGED) {
    fs.chownSync(dir, UNPRIVILEGED.uid, UNPRIVILEGED.gid);
    fs.chownSync(home, UNPRIVILEGED.uid, UNPRIVILEGED.gid);
  }
  const db = path.join(dir, 'sysemail.db');
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const r = await execa(process.execPath, [BIN, '--db', db, ...args], {
      env: { ...cleanEnv(), HOME: home, XDG_DATA_HOME: path.join(home, '.local', 'share'), NO_COLOR: '1', ...env },
      extendEnv: false,
      reject: false,
      timeout: 30_000,
      stdin: 'ignore',
      cwd: top,
      ...(UNPRIVILEGED ?? {}),
    });
    return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr), stdout: String(r.stdout) };
  };
  const made = await run(['params', 'set', 'smtp.host', 'mail.example.com']);
  expect(made.exitCode, made.stderr).toBe(0);
  cleanups.push(() => fs.rmSync(top, { recursive: true, force: true }));
  return { dir, db, run };
}

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});

/** The error is one line (no stack), names no bug, and is not the "damaged file" guess. */
function oneClearLine(stderr: string): void {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('warning:'));
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/internal error|This is a bug|\n\s+at |damaged/);
}

describe('a database that cannot be written', () => {
  it('a read-only file (0444): 74 naming the file and what to do; nothing changed', async () => {
    const { db, run } = await ownedDatabase();
    fs.chmodSync(db, 0o444);
    const r = await run(['params', 'set', 'smtp.host', 'other.example.com']);
    expect(r.exitCode, r.stderr).toBe(74);
    oneClearLine(r.stderr);
    expect(r.stderr).toContain(db);
    expect(r.stderr).toMatch(/read-only|cannot be written/);
    const got = await run(['params', 'get', 'smtp.host']);
    expect(got.stdout.trim()).toBe('mail.example.com');
  }, 60_000);

  it('a read-only folder (the write-ahead log cannot be created): 74 naming the folder', async () => {
    const { dir, db, run } = await ownedDatabase();
    fs.chmodSync(db, 0o444);
    fs.chmodSync(dir, 0o555);
    try {
      for (const args of [
        ['params', 'set', 'smtp.host', 'other.example.com'],
        ['params', 'get', 'smtp.host'],
        ['queue', 'list'],
      ]) {
        const r = await run(args);
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(74);
        oneClearLine(r.stderr);
        expect(r.stderr).toContain(dir);
        expect(r.stderr).toMatch(/folder/);
      }
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  }, 60_000);
});

describe('a database locked by another writer', () => {
  it('past the busy timeout: 75, one line saying it is locked and to try again', async () => {
    const box = newBox();
    const made = await box.run(['params', 'set', 'smtp.host', 'mail.example.com']);
    expect(made.exitCode, made.stderr).toBe(0);
    const holder = new Database(box.db);
    try {
      holder.exec('BEGIN EXCLUSIVE');
      const r = await box.run(['params', 'set', 'smtp.host', 'other.example.com'], { env: { SYSEMAIL_BUSY_TIMEOUT_MS: '200' } });
      expect(r.exitCode, r.stderr).toBe(75);
      oneClearLine(r.stderr);
      expect(r.stderr).toMatch(/locked/);
      expect(r.stderr).toContain(box.db);
      const json = await box.run(['params', 'set', 'smtp.host', 'other.example.com', '--json'], {
        env: { SYSEMAIL_BUSY_TIMEOUT_MS: '200' },
      });
      expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'DB_BUSY', exitCode: 75 } });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const got = await box.run(['params', 'get', 'smtp.host']);
    expect(got.stdout.trim()).toBe('mail.example.com');
  }, 60_000);

  it('a bad SYSEMAIL_BUSY_TIMEOUT_MS is a configuration error (78)', async () => {
    const box = newBox();
    const r = await box.run(['params', 'list'], { env: { SYSEMAIL_BUSY_TIMEOUT_MS: 'soon' } });
    expect(r.exitCode, r.stderr).toBe(78);
    expect(r.stderr).toContain('SYSEMAIL_BUSY_TIMEOUT_MS');
  });
});

/** Mounts a small tmpfs (root only); undefined where mounting is not allowed. */
function smallDisk(kb: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-faults-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  cleanups.unshift(() => {
    spawnSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes zeros into `file` until the file system has no room left. */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (let i = 0; i < 100_000; i++) fs.writeSync(fd, block);
    throw new Error('the disk never filled');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

describe('a full disk', () => {
  const disk = smallDisk(2048);
  it.skipIf(!disk)(
    'a write that needs room: 74 saying the disk is full; nothing stored',
    async () => {
      const box = newBox();
      const db = path.join(disk!, 'sysemail.db');
      const made = await box.run(['--db', db, 'params', 'set', 'sender.default', 'app@example.com'], { noDb: true });
      expect(made.exitCode, made.stderr).toBe(0);
      const file = path.join(box.dir, 'big.jsonl');
      const text = 'y'.repeat(900 * 1024);
      fs.writeFileSync(file, JSON.stringify({ to: 'ann@example.com', subject: 'big', text }) + '\n');
      // a reader keeps the log and shared-memory files, so the failing write is a statement after opening
      const reader = new Database(db, { readonly: true });
      try {
        reader.prepare('SELECT count(*) FROM messages').get();
        fillDisk(path.join(disk!, 'filler'));
        const r = await box.run(['--db', db, 'queue', 'import', file], { noDb: true });
        expect(r.exitCode, r.stderr).toBe(74);
        oneClearLine(r.stderr);
        expect(r.stderr).toMatch(/full|no space/i);
        expect(r.stderr).toContain(db);
      } finally {
        fs.rmSync(path.join(disk!, 'filler'), { force: true });
        reader.close();
      }
      const check = new Database(db, { readonly: true });
      try {
        expect((check.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n).toBe(0);
      } finally {
        check.close();
      }
    },
    60_000,
  );
});
