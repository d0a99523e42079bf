import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const stderr = (r: { stderr?: unknown }) => String((r.stderr as string | undefined) ?? '');
const stdout = (r: { stdout?: unknown }) => String((r.stdout as string | undefined) ?? '');
const PASSWORD = 'queue-e2e-pw';

let server: TestSmtpServer;
const sandboxes: Sandbox[] = [];

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
});
afterAll(async () => {
  await server.close();
  for (const sb of sandboxes) sb.cleanup();
});

function messageIds(srv: TestSmtpServer = server): string[] {
  return srv.messages.map((b) => {
    const head = b.subarray(0, Math.min(b.length, 4096)).toString('latin1');
    return /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? '?';
  });
}

function tally(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

function counts(sb: Sandbox): Record<string, number> {
  const db = new Database(sb.db, { readonly: true });
  try {
    const out: Record<string, number> = { pending: 0, sending: 0, deferred: 0, held: 0, sent: 0, failed: 0 };
    for (const r of db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as { status: string; n: number }[])
      out[r.status] = r.n;
    return out;
  } finally {
    db.close();
  }
}

function storedMessageIds(sb: Sandbox): string[] {
  const db = new Database(sb.db, { readonly: true });
  try {
    return db.prepare("SELECT message_id FROM messages WHERE status = 'sent'").pluck().all() as string[];
  } finally {
    db.close();
  }
}

/** A sandbox whose database points at the test server, with `n` messages queued through `queue import`. */
async function queued(n: number, srv: TestSmtpServer = server): Promise<Sandbox> {
  const sb = sandbox('sysemail-queue-e2e-');
  sandboxes.push(sb);
  sb.env.SYSEMAIL_SMTP_PASSWORD = PASSWORD;
  const set = await sb.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(srv.port),
    'smtp.security',
    'starttls',
    'smtp.caFile',
    testPki().caFile,
    'smtp.username',
    'app',
  ]);
  expect(set.exitCode, stderr(set)).toBe(0);
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ to: `r${i}@example.com`, from: 'app@example.com', subject: `m${i}`, text: `message ${i}` }),
  );
  const file = path.join(sb.dir, 'batch.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const imp = await sb.run(['queue', 'import', file, '--json']);
  expect(imp.exitCode, stderr(imp)).toBe(0);
  expect(JSON.parse(stdout(imp))).toMatchObject({ imported: n });
  return sb;
}

function start(sb: Sandbox, args: string[]): ResultPromise {
  return execa(process.execPath, [BIN, '--db', sb.db, ...args], {
    cwd: sb.dir,
    env: { ...cleanEnv(), ...sb.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
  });
}

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readDb<T>(sb: Sandbox, read: (db: Database.Database) => T): T {
  const db = new Database(sb.db, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/**
 * Waits until the server has accepted at least `n` messages and then answered nothing for `quietMs`:
 * the distributor has recorded every message the server accepted, and those it is sending now are
 * held by the server's delay.
 */
async function pauseWindow(srv: TestSmtpServer, n: number, quietMs: number): Promise<void> {
  let seen = srv.messages.length;
  let changedAt = Date.now();
  await until(() => {
    if (srv.messages.length !== seen) {
      seen = srv.messages.length;
      changedAt = Date.now();
    }
    return seen >= n && Date.now() - changedAt >= quietMs;
  }, `${n} messages, then a quiet moment`);
}

describe('queue run end to end', () => {
  it('two runs started together on one database deliver each of 2,000 messages exactly once', { timeout: 60_000 }, async () => {
    const sb = await queued(2000);
    server.reset();
    const [a, b] = await Promise.all([
      start(sb, ['queue', 'run', '--concurrency', '4', '--json', '-v']),
      start(sb, ['queue', 'run', '--concurrency', '4', '--json']),
    ]);
    expect(a.exitCode, stderr(a)).toBe(0);
    expect(b.exitCode, stderr(b)).toBe(0);
    // a queue this long has its writes done by the worker thread
    expect(stderr(a)).toContain('queue writes ran on a worker thread');
    // and it rendered messages ahead: the Message-IDs checked below show they went out as stored
    expect(Number(/(\d+) message\(s\) were rendered there ahead/.exec(stderr(a))?.[1])).toBeGreaterThan(0);
    const sentBy = [a, b].map((r) => JSON.parse(stdout(r).trim().split('\n').at(-1)!) as { sent: number });
    // both really worked: the overlap is what is under test
    expect(sentBy[0].sent).toBeGreaterThan(0);
    expect(sentBy[1].sent).toBeGreaterThan(0);
    expect(sentBy[0].sent + sentBy[1].sent).toBe(2000);
    const arrived = tally(messageIds());
    expect(arrived.size).toBe(2000);
    expect([...arrived.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(storedMessageIds(sb))).toEqual(new Set(arrived.keys()));
    expect(counts(sb)).toMatchObject({ sent: 2000, pending: 0, sending: 0 });
  });

  it(
    'a --watch killed with SIGKILL mid-drain, then restarted: everything arrives, duplicates at most the in-flight ones',
    { timeout: 60_000 },
    async () => {
      const total = 1500;
      const sb = await queued(total);
      server.reset();
      const watch = start(sb, ['queue', 'run', '--watch', '--interval', '1', '--concurrency', '4']);
      await until(() => server.messages.length >= 100, 'the first messages');
      watch.kill('SIGKILL');
      await watch;
      const atKill = counts(sb);
      expect(atKill.sent).toBeLessThan(total);
      const inFlight = atKill.sending;
      const restart = await start(sb, ['queue', 'run', '--concurrency', '4', '--json']);
      expect(restart.exitCode, stderr(restart)).toBe(0);
      expect(counts(sb)).toMatchObject({ sent: total, sending: 0, pending: 0 });
      const arrived = tally(messageIds());
      expect(arrived.size).toBe(total);
      const duplicates = [...arrived.values()].filter((n) => n > 1).length;
      expect(duplicates).toBeLessThanOrEqual(inFlight);
    },
  );

  it('SIGTERM: exits 0, nothing lost, nothing left sending', { timeout: 60_000 }, async () => {
    const total = 1500;
    const sb = await queued(total);
    server.reset();
    const watch = start(sb, ['queue', 'run', '--watch', '--interval', '1', '--concurrency', '4', '--json']);
    await until(() => server.messages.length >= 100, 'the first messages');
    watch.kill('SIGTERM');
    const r = await watch;
    expect(r.exitCode, stderr(r)).toBe(0);
    const c = counts(sb);
    expect(c.sending).toBe(0);
    expect(c.sent).toBeLessThan(total);
    expect(c.sent + c.pending).toBe(total);
    const arrived = tally(messageIds());
    expect(arrived.size).toBe(c.sent);
    expect([...arrived.values()].every((n) => n === 1)).toBe(true);
    // the rest is still there for the next run, untouched
    const db = new Database(sb.db, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) FROM messages WHERE status = 'pending' AND attempts > 0").pluck().get()).toBe(0);
      const run = db.prepare('SELECT * FROM distributor_runs ORDER BY id DESC LIMIT 1').get() as {
        ended_at: number | null;
        error_code: string | null;
        sent: number;
      };
      expect(run.ended_at).not.toBeNull();
      expect(run.error_code).toBeNull();
      expect(run.sent).toBe(c.sent);
    } finally {
      db.close();
    }
  });

  it.each([
    ['', []],
    [' (worker-thread lane: sent messages marked at once)', ['--write-thread', 'on']],
  ])(
    'a run paused (SIGSTOP) past its lease while another run sends its messages sends none of them again after it resumes%s',
    { timeout: 60_000 },
    async (_lane, laneFlags) => {
      const total = 28;
      const slow = await startSmtpServer({ users: { app: PASSWORD }, delayMs: 250 });
      const sb = await queued(total, slow);
      const lease = 5;
      const a = start(sb, ['queue', 'run', '--json', '--lease', String(lease), '--concurrency', '2', ...laneFlags]);
      try {
        await pauseWindow(slow, 3, 90);
        process.kill(a.pid!, 'SIGSTOP');
        const pausedAt = Date.now();
        const atPause = slow.messages.length;
        expect(atPause).toBeLessThan(total / 2);
        await sleep(lease * 1000 + 1500 - (Date.now() - pausedAt));
        const b = await start(sb, ['queue', 'run', '--json', '--concurrency', '2']);
        expect(b.exitCode, stderr(b)).toBe(0);
        expect(counts(sb)).toMatchObject({ sent: total, sending: 0 });
        process.kill(a.pid!, 'SIGCONT');
        const ra = await a;
        expect(ra.exitCode, stderr(ra)).toBe(0);

        const arrived = tally(messageIds(slow));
        expect(arrived.size).toBe(total);
        const twice = [...arrived.values()].filter((n) => n > 1).length;
        // only what was on the wire at the pause (one per connection) may have gone twice
        expect(twice).toBeLessThanOrEqual(2);

        const printed = JSON.parse(stdout(ra).trim().split('\n').at(-1)!) as Record<string, number>;
        const recorded = readDb(sb, (db) => {
          const run = db.prepare('SELECT sent, deferred, failed, forced, owner FROM distributor_runs WHERE pid = ?').get(a.pid) as Record<
            string,
            number
          > & { owner: string };
          const sentAttempts = db
            .prepare("SELECT count(*) FROM attempts WHERE outcome = 'sent' AND lease_owner = ?")
            .pluck()
            .get(run.owner) as number;
          return { run, sentAttempts };
        });
        expect(printed.sent).toBeGreaterThan(0);
        expect({ sent: printed.sent, deferred: printed.deferred, failed: printed.failed, forced: printed.forced }).toEqual({
          sent: recorded.run.sent,
          deferred: recorded.run.deferred,
          failed: recorded.run.failed,
          forced: recorded.run.forced,
        });
        expect(recorded.sentAttempts).toBe(printed.sent);
      } finally {
        a.kill('SIGKILL');
        await a.catch(() => undefined);
        await slow.close();
      }
    },
  );

  it(
    'a run killed with SIGKILL: queue status and diagnose say it died, what its leases still hold and when they are taken back',
    { timeout: 60_000 },
    async () => {
      const slow = await startSmtpServer({ users: { app: PASSWORD }, delayMs: 200 });
      const sb = await queued(20, slow);
      const a = start(sb, ['queue', 'run', '--lease', '300', '--concurrency', '2']);
      try {
        await until(() => slow.messages.length >= 2, 'the first messages');
        a.kill('SIGKILL');
        await a.catch(() => undefined);
        const held = readDb(
          sb,
          (db) =>
            db.prepare("SELECT count(*) AS n, max(lease_expires_at) AS until FROM messages WHERE status = 'sending'").get() as {
              n: number;
              until: number;
            },
        );
        expect(held.n).toBeGreaterThan(0);

        const j = await sb.run(['queue', 'status', '--json']);
        expect(j.exitCode, stderr(j)).toBe(0);
        const last = JSON.parse(stdout(j)).lastRun;
        expect(last).toMatchObject({
          pid: a.pid,
          endedAt: null,
          state: 'died',
          leasedMessages: held.n,
          leasesExpireAt: new Date(held.until).toISOString(),
        });

        const t = await sb.run(['queue', 'status']);
        expect(t.exitCode, stderr(t)).toBe(0);
        expect(stdout(t)).not.toContain('still running');
        expect(stdout(t)).toContain('ended abnormally');
        expect(stdout(t)).toContain(`${held.n} message(s)`);

        const d = await sb.run(['diagnose', '--offline', '--json']);
        const checks = JSON.parse(stdout(d)).checks as { id: string; status: string; detail: string }[];
        const dist = checks.find((c) => c.id === 'distributor')!;
        expect(dist.status).toBe('warn');
        expect(dist.detail).not.toContain('still running');
        const leases = checks.find((c) => c.id === 'distributor.leases')!;
        expect(leases.status).toBe('warn');
        expect(leases.detail).toContain(`${held.n} message(s)`);
        expect(leases.detail).toContain(new Date(held.until).toISOString());
      } finally {
        a.kill('SIGKILL');
        await a.catch(() => undefined);
        await slow.close();
      }
    },
  );

  it('queue import: one bad line among 1,000 → 65 naming the line, nothing stored', async () => {
    const sb = sandbox('sysemail-queue-e2e-');
    sandboxes.push(sb);
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ to: `r${i}@example.com`, from: 'app@example.com', subject: `m${i}`, text: 'x' }),
    );
    lines[616] = JSON.stringify({ to: 'r616@@example.com', from: 'app@example.com', subject: 'bad', text: 'x' });
    const file = path.join(sb.dir, 'bad.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const r = await sb.run(['queue', 'import', file]);
    expect(r.exitCode).toBe(65);
    expect(stderr(r)).toContain('line 617');
    expect(stderr(r).trim().split('\n')).toHaveLength(1);
    const j = await sb.run(['queue', 'import', file, '--json']);
    expect(j.exitCode).toBe(65);
    expect(JSON.parse(stderr(j)).error).toMatchObject({ code: 'IMPORT_INVALID', exitCode: 65, data: { lines: [{ line: 617 }] } });
    const status = await sb.run(['queue', 'status', '--json']);
    expect(status.exitCode, stderr(status)).toBe(0);
    expect(JSON.parse(stdout(status))).toEqual({
      database: expect.objectContaining({ backend: 'sqlite' }),
      counts: { pending: 0, sending: 0, deferred: 0, held: 0, sent: 0, failed: 0 },
      oldestDueAgeSec: null,
      lastRun: null,
      governor: expect.any(Array),
      hosts: [],
    });
  });
});
