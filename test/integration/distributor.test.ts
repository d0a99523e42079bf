import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elapsedClock, runQueue, systemClock, type Clock, type RunQueueOptions } from '../../src/app/distributor/index.js';
import { SysemailError } from '../../src/core/errors.js';
import { diagnose } from '../../src/core/diagnosis/index.js';
import { createProvider } from '../../src/providers/index.js';
import { Store } from '../../src/store/index.js';
import type { NewMessage } from '../../src/store/messages.js';
import { settingsOf } from '../helpers/settings.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-distributor-'));
const servers: TestSmtpServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let dbs = 0;
async function freshStore(): Promise<Store> {
  return (await Store.open(path.join(dir, `d${++dbs}.db`)))!;
}

function msg(to: string, extra: Partial<NewMessage> = {}): NewMessage {
  return {
    status: 'pending',
    provider: null,
    from: 'app@example.com',
    to: [to],
    cc: [],
    bcc: [],
    subject: `to ${to}`,
    text: 'hello',
    attachments: [],
    ...extra,
  };
}

function baseOptions(store: Store, srv: TestSmtpServer, password = 'pw', extra: Partial<RunQueueOptions> = {}): RunQueueOptions {
  const settings = settingsOf({
    'smtp.host': '127.0.0.1',
    'smtp.port': srv.port,
    'smtp.security': 'starttls',
    'smtp.caFile': testPki().caFile,
    'smtp.username': 'app',
    'queue.minBackoffSec': 300,
  });
  return {
    store,
    settings,
    providerFactory: (name) =>
      createProvider(name, {
        settings,
        secrets: { dbId: store.id, env: { SYSEMAIL_SMTP_PASSWORD: password } },
        pool: { maxConnections: 2 },
        timeouts: { connectionMs: 5000, greetingMs: 5000, socketMs: 5000 },
      }),
    owner: `test:${process.pid}:${dbs}`,
    host: 'test',
    pid: process.pid,
    concurrency: 1,
    diagnose: (f) => diagnose(f)[0]?.id ?? null,
    ...extra,
  };
}

function tally(srv: TestSmtpServer): Map<string, number> {
  const m = new Map<string, number>();
  for (const b of srv.messages) {
    const id = /^Message-ID:\s*(<[^>]+>)/im.exec(b.subarray(0, 4096).toString('latin1'))?.[1] ?? '?';
    m.set(id, (m.get(id) ?? 0) + 1);
  }
  return m;
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function runCaught(o: RunQueueOptions): Promise<SysemailError | undefined> {
  try {
    await runQueue(o);
    return undefined;
  } catch (err) {
    if (err instanceof SysemailError) return err;
    throw err;
  }
}

// Both lanes run every case: the queue's writes on this thread, and in the worker thread that long
// queues use (the compiled worker script: `npm test` builds first).
const WORKER_SCRIPT = new URL('../../dist/app/distributor/lanes/worker.js', import.meta.url);
const LANES: [string, RunQueueOptions['thread']][] = [
  ['inline', false],
  ['worker thread', { minDue: 0, script: WORKER_SCRIPT }],
];

describe.each(LANES)('distributor (%s lane) against a real SMTP server', (laneName, thread) => {
  const options: typeof baseOptions = (store, srv, password, extra = {}) =>
    baseOptions(store, srv, password, {
      thread,
      onLaneFallback: (err) => {
        throw err;
      },
      ...extra,
    });
  const lane = laneName === 'inline' ? 'inline' : 'thread';

  let scripted: TestSmtpServer;
  beforeAll(async () => {
    scripted = await startSmtpServer({
      users: { app: 'pw' },
      size: 20_000,
      refuse: {
        rcpt: {
          't451@example.com': '451 4.3.0 Temporary local problem, please try again',
          't452@example.com': '452 4.2.2 Mailbox full, try later',
          'p550@example.com': '550 5.1.1 <p550@example.com>: Recipient address rejected: User unknown in local recipient table',
          // a server going away (a 421 4.7.x "slow down" pauses only its mailbox instead: governor tests)
          't421@example.com': '421 4.3.2 Service shutting down, closing transmission channel',
        },
      },
    });
    servers.push(scripted);
  });

  it("ends each message in the right status, keeping the server's words; a 421 stops the run without burning the rest", async () => {
    const store = await freshStore();
    const big = 'x'.repeat(60_000);
    const ids = await store.messages.insertMany(
      [
        msg('ok1@example.com'),
        msg('t451@example.com'),
        msg('t452@example.com'),
        msg('p550@example.com'),
        msg('big@example.com', { text: big }),
        msg('t421@example.com'),
        msg('ok2@example.com'),
      ],
      Date.now() - 1000,
    );
    const [ok1, t451, t452, p550, big552, t421, ok2] = ids;

    const first = await runCaught(options(store, scripted));
    expect(first?.kind).toBe('tempfail');
    // the run stopped at the 421: the message after it was not tried and not counted
    const untouched = (await store.messages.get(ok2))!;
    expect([untouched.status, untouched.attempts]).toEqual(['pending', 0]);
    const run1 = store.queue.lastRun()!;
    expect(run1.errorCode).not.toBeNull();

    expect(await runCaught(options(store, scripted))).toBeUndefined();

    const get = async (id: number) => (await store.messages.get(id))!;
    expect((await get(ok1)).status).toBe('sent');
    expect((await get(ok2)).status).toBe('sent');
    for (const [id, code, words] of [
      [t451, 451, 'Temporary local problem'],
      [t452, 452, 'Mailbox full'],
      [t421, 421, 'Service shutting down'],
    ] as const) {
      const m = await get(id);
      expect(m.status).toBe('deferred');
      expect(m.lastError?.responseCode).toBe(code);
      expect(m.lastError?.response).toContain(words);
      expect(m.dueAt).toBeGreaterThan(Date.now() + 200_000);
      const attempts = await store.messages.attempts(id);
      expect(attempts.at(-1)).toMatchObject({ outcome: 'deferred', responseCode: code });
    }
    const unknown = await get(p550);
    expect(unknown.status).toBe('failed');
    expect(unknown.lastError).toMatchObject({ responseCode: 550, enhancedCode: '5.1.1' });
    expect(unknown.lastError?.response).toContain('User unknown');
    expect(unknown.diagnosis).toBe('RECIPIENT_UNKNOWN');
    const tooBig = await get(big552);
    expect(tooBig.status).toBe('failed');
    expect(tooBig.lastError?.responseCode).toBe(552);
    expect(tooBig.diagnosis).toBe('MESSAGE_TOO_LARGE');

    // each sent message arrived once, with the Message-ID the store kept
    const arrived = await Promise.all(scripted.messages.map((b) => simpleParser(b)));
    const sentIds = [(await get(ok1)).messageId, (await get(ok2)).messageId];
    expect(arrived.map((p) => p.messageId).sort()).toEqual(sentIds.sort());
  });

  it('a connection dropped during DATA defers the message with the error kept', async () => {
    const drop = await startSmtpServer({ users: { app: 'pw' }, refuse: { dropDuringData: true } });
    servers.push(drop);
    const store = await freshStore();
    // big enough that the client is still writing it when the server pulls the plug: a message whose
    // every byte went out before the drop may have been delivered (outcome unknown, held)
    const [id] = await store.messages.insertMany([msg('ann@example.com', { text: 'y'.repeat(1_000_000) })], Date.now());
    const err = await runCaught(options(store, drop));
    expect(err?.kind).toBe('tempfail');
    const m = (await store.messages.get(id))!;
    expect(m.status).toBe('deferred');
    expect(m.attempts).toBe(1);
    expect(m.lastError?.code).toBeTruthy();
    expect(m.lastError?.response).toBeTruthy();
    expect(drop.messages).toHaveLength(0);
  });

  it("535 stops the run, keeps every message queued with no attempt counted, and records the run's error", async () => {
    const auth = await startSmtpServer({ users: { app: 'right' } });
    servers.push(auth);
    const store = await freshStore();
    const ids = await store.messages.insertMany(
      Array.from({ length: 6 }, (_, i) => msg(`u${i}@example.com`)),
      Date.now(),
    );
    const err = await runCaught(options(store, auth, 'wrong', { concurrency: 3 }));
    expect(err?.kind).toBe('noperm');
    for (const id of ids) {
      const m = (await store.messages.get(id))!;
      expect([m.status, m.attempts, m.firstAttemptAt]).toEqual(['pending', 0, null]);
    }
    const run = store.queue.lastRun()!;
    expect(run.errorCode).toBe(err?.code);
    expect(run.sent).toBe(0);
    expect(auth.messages).toHaveLength(0);

    // the administrator fixes the password: everything goes, once
    const ok = await runQueue(options(store, auth, 'right', { concurrency: 3 }));
    expect(ok.lane).toBe(lane);
    expect(ok.totals.sent).toBe(6);
    expect(auth.messages).toHaveLength(6);
    expect(store.queue.counts()).toMatchObject({ sent: 6, pending: 0, sending: 0 });
  });

  it('--max bounds a pass and the abort signal gives back what was not sent', async () => {
    const plain = await startSmtpServer({ users: { app: 'pw' } });
    servers.push(plain);
    const store = await freshStore();
    await store.messages.insertMany(
      Array.from({ length: 10 }, (_, i) => msg(`v${i}@example.com`)),
      Date.now(),
    );
    const r = await runQueue(options(store, plain, 'pw', { max: 4, concurrency: 2 }));
    expect(r.lane).toBe(lane);
    expect(r.totals.sent).toBe(4);
    expect(store.queue.counts()).toMatchObject({ sent: 4, pending: 6 });

    const ac = new AbortController();
    const r2 = await runQueue(
      options(store, plain, 'pw', {
        concurrency: 2,
        watch: true,
        intervalSec: 1,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.done >= 2) ac.abort();
        },
      }),
    );
    expect(r2.totals.sent).toBeGreaterThanOrEqual(2);
    const counts = store.queue.counts();
    expect(counts.sending).toBe(0);
    expect(counts.sent + counts.pending).toBe(10);
    const pending = store.queue.list({ status: 'pending', limit: 100 });
    expect(pending.every((m) => m.attempts === 0)).toBe(true);
    expect(plain.messages).toHaveLength(counts.sent);
  });

  it("a second distributor whose clock runs 15 minutes ahead takes none of the first one's valid leases", async () => {
    const slow = await startSmtpServer({ users: { app: 'pw' }, delayMs: 40 });
    servers.push(slow);
    const file = path.join(dir, `ahead-${lane}.db`);
    const a = (await Store.open(file))!;
    const b = (await Store.open(file))!;
    const total = 40;
    await a.messages.insertMany(
      Array.from({ length: total }, (_, i) => msg(`w${i}@example.com`)),
      Date.now() - 1000,
    );
    const ahead: Clock = { now: () => Date.now() + 15 * 60_000, sleep: (ms, signal) => systemClock.sleep(ms, signal) };
    const first = runQueue(options(a, slow, 'pw', { owner: 'host-a:1:first', concurrency: 2 }));
    await until(() => slow.messages.length >= 2, 'the first distributor to be sending');
    const second = await runQueue(options(b, slow, 'pw', { owner: 'host-b:2:second', concurrency: 2, clock: ahead }));
    const r1 = await first;
    const arrived = tally(slow);
    expect(arrived.size).toBe(total);
    expect([...arrived.values()].filter((n) => n > 1)).toHaveLength(0);
    // nobody's lease was taken: every message was claimed once
    const attempts = a.sqlite.prepare("SELECT attempts, count(*) AS n FROM messages WHERE status = 'sent' GROUP BY attempts").all();
    expect(attempts).toEqual([{ attempts: 1, n: total }]);
    expect(a.sqlite.prepare("SELECT count(*) FROM messages WHERE deferral_reason LIKE 'lease of%'").pluck().get()).toBe(0);
    expect(r1.totals.sent + second.totals.sent).toBe(total);
    await b.close();
    await a.close();
  });

  /** The run's elapsed clock, with a pause of `jumpMs` added at will (a SIGSTOP or a suspended machine, without the wait). */
  function pausable(): { elapsed: () => number; pause(ms: number): void } {
    const real = elapsedClock();
    let jump = 0;
    return { elapsed: () => real() + jump, pause: (ms) => (jump += ms) };
  }

  it('fence: after a pause past its lease, a run whose leases another run took sends none of those messages and counts only what it sent', async () => {
    const plain = await startSmtpServer({ users: { app: 'pw' } });
    servers.push(plain);
    const store = await freshStore();
    const ids = await store.messages.insertMany(
      Array.from({ length: 6 }, (_, i) => msg(`f${i}@example.com`)),
      Date.now() - 1000,
    );
    const clock = pausable();
    const leaseSec = 60;
    const owner = `test:${process.pid}:fence-drop`;
    const r = await runQueue(
      options(store, plain, 'pw', {
        owner,
        leaseSec,
        elapsed: clock.elapsed,
        onProgress: (p) => {
          if (p.done !== 1) return;
          // frozen past the lease, meanwhile another run took every message but the one just sent
          clock.pause(leaseSec * 1000 + 1);
          store.sqlite.prepare("UPDATE messages SET lease_owner = 'other:1:x' WHERE status = 'sending' AND id <> ?").run(ids[0]);
        },
      }),
    );
    expect(plain.messages).toHaveLength(1);
    expect(r.totals).toEqual({ sent: 1, deferred: 0, failed: 0, forced: 0 });
    expect(store.queue.lastRun()).toMatchObject({ sent: 1, deferred: 0, failed: 0 });
    expect(store.queue.heldBy('other:1:x').count).toBe(5);
    // the messages it lost were not touched: no attempt recorded for them by this run
    const attempts = store.sqlite.prepare('SELECT count(*) FROM attempts WHERE lease_owner = ?').pluck().get(owner);
    expect(attempts).toBe(1);
  });

  it('fence: a lease that would not outlast the send is renewed first, once for every message held, and the run goes on', async () => {
    const plain = await startSmtpServer({ users: { app: 'pw' } });
    servers.push(plain);
    const store = await freshStore();
    const ids = await store.messages.insertMany(
      Array.from({ length: 6 }, (_, i) => msg(`g${i}@example.com`)),
      Date.now() - 1000,
    );
    const clock = pausable();
    const leaseSec = 60;
    const leaseOf = (id: number) =>
      store.sqlite.prepare('SELECT lease_expires_at FROM messages WHERE id = ?').pluck().get(id) as number | null;
    let before = 0;
    let after = 0;
    const r = await runQueue(
      options(store, plain, 'pw', {
        leaseSec,
        elapsed: clock.elapsed,
        onProgress: (p) => {
          if (p.done === 1) {
            before = leaseOf(ids[5])!;
            // most of the lease gone (a short pause): still this run's, but not enough left for a send
            clock.pause(leaseSec * 900);
          }
          if (p.done === 2) after = leaseOf(ids[5])!;
        },
      }),
    );
    expect(r.totals.sent).toBe(6);
    expect(tally(plain).size).toBe(6);
    expect([...tally(plain).values()].every((n) => n === 1)).toBe(true);
    // the last message, still waiting, had its lease renewed along with the one about to go
    expect(after).toBeGreaterThan(before);
  });
});
