/**
 * What `queue run` prints where nobody reads it: cron mails any output, a journal fills with idle lines.
 */
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, sandbox, type Sandbox } from '../helpers/cli.js';
import { spawnPty, type Pty } from '../helpers/pty.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const PASSWORD = 'quiet-e2e-pw';
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
let server: TestSmtpServer;
const boxes: Sandbox[] = [];
const running: (ResultPromise | Pty)[] = [];

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
});
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});
afterAll(async () => {
  await server.close();
  for (const b of boxes) b.cleanup();
});

async function box(): Promise<Sandbox> {
  const sb = sandbox('sysemail-quiet-e2e-');
  boxes.push(sb);
  sb.env.SYSEMAIL_SMTP_PASSWORD = PASSWORD;
  const set = await sb.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(server.port),
    'smtp.caFile',
    testPki().caFile,
    'smtp.username',
    'app',
    'sender.default',
    'app@example.com',
  ]);
  expect(set.exitCode, set.stderr).toBe(0);
  return sb;
}

async function enqueue(sb: Sandbox, n = 1): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await sb.run(['send', '--queue', '--to', `r${i}@example.com`, '--subject', `m${i}`, '--body', 'hello']);
    expect(r.exitCode, r.stderr).toBe(0);
  }
}

function watch(sb: Sandbox, args: string[]): { child: ResultPromise; out: () => string; err: () => string } {
  const child = execa(process.execPath, [BIN, '--db', sb.db, 'queue', 'run', '--watch', ...args], {
    cwd: sb.dir,
    env: { ...cleanEnv(), ...sb.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    buffer: false,
    timeout: 60_000,
  });
  running.push(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  return { child, out: () => out, err: () => err };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('queue run output', () => {
  it('prints nothing at all on success when stdout is not a terminal (cron)', async () => {
    const sb = await box();
    await enqueue(sb, 2);
    server.reset();
    const r = await sb.run(['queue', 'run']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(server.messages).toHaveLength(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('still reports a failure on stderr with its exit code', async () => {
    const sb = await box();
    await enqueue(sb);
    const r = await sb.run(['queue', 'run'], { env: { SYSEMAIL_SMTP_PASSWORD: 'wrong' } });
    expect(r.exitCode).toBe(77);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('--json lines carry an ISO 8601 time', async () => {
    const sb = await box();
    await enqueue(sb);
    const r = await sb.run(['queue', 'run', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ sent: 1, deferred: 0, failed: 0, forced: 0, remaining: 0 });
    expect(doc.time).toMatch(ISO_8601);
    expect(Number.isFinite(Date.parse(doc.time))).toBe(true);
  });

  it('keeps the summary line on a terminal', async () => {
    const sb = await box();
    await enqueue(sb);
    const term = spawnPty(process.execPath, [BIN, '--db', sb.db, 'queue', 'run'], { env: { ...cleanEnv(), ...sb.env }, cwd: sb.dir });
    running.push(term);
    await term.waitFor(/sent 1, deferred 0, failed 0; 0 still queued/);
    expect((await term.exit()).exitCode).toBe(0);
  });

  it('--watch prints a line only for a cycle that did something', { timeout: 60_000 }, async () => {
    const sb = await box();
    const w = watch(sb, ['--interval', '1', '--json']);
    // idle cycles first: the run is recorded before its first cycle, then let a few go by
    await until(async () => (await sb.run(['queue', 'status', '--json'])).stdout.includes('"pid"'), 'the first cycle');
    await new Promise((r) => setTimeout(r, 2500));
    server.reset();
    await enqueue(sb);
    await until(() => server.messages.length === 1, 'the delivery');
    await until(() => lines(w.out()).length >= 1, 'the cycle line');
    await new Promise((r) => setTimeout(r, 2500));
    w.child.kill('SIGTERM');
    const r = await w.child;
    expect(r.exitCode).toBe(0);
    const docs = lines(w.out()).map((l) => JSON.parse(l));
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ sent: 1 });
    expect(docs[0].time).toMatch(ISO_8601);
  });

  it('--watch --heartbeat SEC prints an idle line at least every SEC seconds', { timeout: 60_000 }, async () => {
    const sb = await box();
    const w = watch(sb, ['--interval', '1', '--heartbeat', '1', '--json']);
    await until(() => lines(w.out()).length >= 2, 'two heartbeat lines');
    w.child.kill('SIGTERM');
    expect((await w.child).exitCode).toBe(0);
    for (const d of lines(w.out()).map((l) => JSON.parse(l)))
      expect(d).toMatchObject({ sent: 0, deferred: 0, failed: 0, remaining: 0, time: expect.stringMatching(ISO_8601) });
  });

  it('queue status names the database: its backend, the engine version and the file', async () => {
    const sb = await box();
    const j = await sb.run(['queue', 'status', '--json']);
    expect(j.exitCode).toBe(0);
    expect(JSON.parse(j.stdout).database).toEqual({ backend: 'sqlite', version: expect.stringMatching(/^3\.\d+/), location: sb.db });
    const t = await sb.run(['queue', 'status']);
    expect(t.stdout).toContain(`database: SQLite 3.`);
    expect(t.stdout).toContain(sb.db);
  });

  it('--heartbeat without --watch is a usage error', async () => {
    const sb = await box();
    const r = await sb.run(['queue', 'run', '--heartbeat', '60']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('--watch');
  });
});
