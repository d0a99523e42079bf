/**
 * The distributor and due times, expiry and priorities, on SQLite and on PostgreSQL, against a real
 * SMTP server, with the caller's clock driven by the test (no sleeping):
 * - a message due a minute ahead is not sent by a run before then, and is sent by the first run after;
 * - one past its expiry fails as expired and never reaches the server, whether it expired before the
 *   claim or between the claim and the hand-over (the fence);
 * - with 50,000 low-priority messages queued and a throttled provider, a high-priority message queued
 *   after them is the next one sent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runQueue, type RunQueueOptions } from '../../src/app/distributor/index.js';
import { sendMessage } from '../../src/app/send.js';
import { EXPIRED_REASON } from '../../src/core/delivery.js';
import type { Settings } from '../../src/core/precedence.js';
import { createProvider } from '../../src/providers/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { PgStore } from '../../src/store/pg/store.js';
import type { NewMessage } from '../../src/store/ports.js';
import { fixedClock } from '../helpers/fixed-clock.js';
import { createTestDatabase, pgAvailable, testServer } from '../helpers/postgres.js';
import { settingsOf } from '../helpers/settings.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

type AnyStore = SqliteStore | PgStore;

interface Backend {
  name: string;
  open(): Promise<{ store: AnyStore; url?: string }>;
  /** Queues `n` low-priority messages due at `at`, the fastest way the backend allows. */
  bulkLow(s: { store: AnyStore; url?: string }, n: number, at: number): Promise<void>;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-delivery-run-'));
let files = 0;

const low = (i: number): NewMessage => ({
  status: 'pending',
  provider: null,
  from: 'app@example.com',
  to: [`bulk${i}@example.com`],
  cc: [],
  bcc: [],
  subject: `bulk ${i}`,
  text: 'statement',
  attachments: [],
  priority: -1,
});

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    open: async () => ({ store: (await SqliteStore.open(path.join(dir, `d${++files}.db`)))! }),
    async bulkLow({ store }, n, at) {
      await store.messages.insertMany(
        Array.from({ length: n }, (_, i) => low(i)),
        at,
      );
    },
  },
];
if (await pgAvailable()) {
  BACKENDS.push({
    name: 'postgres',
    async open() {
      const { url } = await createTestDatabase((await testServer())!, 'delivery_run');
      return { store: await PgStore.open(url), url };
    },
    async bulkLow({ url }, n, at) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(
          `INSERT INTO messages (status, from_addr, to_addrs, subject, text_body, created_at, due_at, updated_at, priority)
           SELECT 'pending', 'app@example.com', jsonb_build_array('bulk' || g || '@example.com'), 'bulk ' || g, 'statement', $2, $2, $2, -1
           FROM generate_series(1, $1::int) AS g`,
          [n, at],
        );
      } finally {
        await c.end();
      }
    },
  });
}

const T0 = Date.UTC(2026, 11, 24, 7, 0);

describe.each(BACKENDS)('due times, expiry and priorities in queue run: $name', (backend) => {
  let smtp: TestSmtpServer;
  let opened: { store: AnyStore; url?: string };
  beforeAll(async () => {
    smtp = await startSmtpServer({ tls: 'none', authOptional: true });
  });
  afterAll(async () => {
    await smtp?.close();
  });
  afterEach(async () => {
    await opened?.store.close();
    smtp.messages.length = 0;
  });

  const settingsFor = (extra: Record<string, unknown> = {}): Settings =>
    settingsOf({ 'smtp.host': '127.0.0.1', 'smtp.port': smtp.port, 'smtp.security': 'none', 'smtp.authRequired': false, ...extra });

  const options = (store: AnyStore, settings: Settings, clock: ReturnType<typeof fixedClock>, extra: Partial<RunQueueOptions> = {}) =>
    ({
      store,
      settings,
      clock,
      providerFactory: (name) =>
        createProvider(name, {
          settings,
          secrets: { dbId: store.id, env: {} },
          pool: { maxConnections: 2 },
          timeouts: { connectionMs: 5000 },
        }),
      owner: `test:${process.pid}:${Math.random()}`,
      host: 'test',
      pid: process.pid,
      concurrency: 2,
      thread: false,
      ...extra,
    }) satisfies RunQueueOptions;

  const queue = (
    store: AnyStore,
    settings: Settings,
    clock: ReturnType<typeof fixedClock>,
    to: string,
    when: { at?: string; in?: string; expires?: string },
  ) =>
    sendMessage(
      { to: [to], from: 'app@example.com', subject: `to ${to}`, text: 'hello', provider: null, queue: true, delivery: { when } },
      { store, settings, secrets: { dbId: store.id, env: {} }, clock },
    );

  it('a message due a minute ahead: not sent by a run before then, sent by the first run after', async () => {
    opened = await backend.open();
    const { store } = opened;
    const settings = settingsFor();
    const clock = fixedClock(T0);
    const q = await queue(store, settings, clock, 'later@example.com', { at: '2026-12-24T08:01+01:00' });
    expect(q.dueAt).toBe(T0 + 60_000);
    clock.at = T0 + 59_000;
    expect((await runQueue(options(store, settings, clock))).totals.sent).toBe(0);
    expect(smtp.messages).toHaveLength(0);
    expect((await store.messages.get(q.id))!.status).toBe('pending');
    clock.at = T0 + 60_000;
    expect((await runQueue(options(store, settings, clock))).totals.sent).toBe(1);
    expect(smtp.messages).toHaveLength(1);
    expect((await store.messages.get(q.id))!.status).toBe('sent');
  });

  it('a message past its expiry at the claim is failed/expired and never reaches the server', async () => {
    opened = await backend.open();
    const { store } = opened;
    const settings = settingsFor();
    const clock = fixedClock(T0);
    const q = await queue(store, settings, clock, 'stale@example.com', { in: '1m', expires: '5m' });
    const fresh = await queue(store, settings, clock, 'fresh@example.com', { in: '1m', expires: '1h' });
    clock.at = T0 + 6 * 60_000;
    const r = await runQueue(options(store, settings, clock));
    expect(r.totals).toMatchObject({ sent: 1, failed: 1 });
    const m = (await store.messages.get(q.id))!;
    expect([m.status, m.deferralReason, m.lastError?.code, m.attempts]).toEqual(['failed', EXPIRED_REASON, 'EXPIRED', 0]);
    expect((await store.messages.get(fresh.id))!.status).toBe('sent');
    expect(smtp.messages.map((b) => b.toString()).filter((b) => b.includes('stale@example.com'))).toHaveLength(0);
    expect(smtp.messages).toHaveLength(1);
  });

  it('a message that expires between its claim and the hand-over is failed at the fence, unsent', async () => {
    opened = await backend.open();
    const { store } = opened;
    const settings = settingsFor();
    const clock = fixedClock(T0);
    const q = await queue(store, settings, clock, 'fence@example.com', { expires: '10m' });
    const base = options(store, settings, clock);
    const r = await runQueue({
      ...base,
      // the fence asks the provider for its deadline just before the hand-over: the clock moves past the expiry there
      providerFactory: async (name) => {
        const real = await base.providerFactory(name);
        return new Proxy(real, {
          get(target, prop, receiver) {
            if (prop === 'deadlineMs') clock.at = T0 + 11 * 60_000;
            const v: unknown = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
      },
    });
    expect(r.totals).toMatchObject({ sent: 0, failed: 1 });
    const m = (await store.messages.get(q.id))!;
    expect([m.status, m.deferralReason, m.lastError?.code]).toEqual(['failed', EXPIRED_REASON, 'EXPIRED']);
    expect((await store.messages.attempts(q.id)).map((a) => [a.outcome, a.errorCode])).toEqual([['failed', 'EXPIRED']]);
    expect(smtp.messages).toHaveLength(0);
  });

  it(
    '50,000 low-priority messages and a throttled provider: a high-priority message queued after them is the next one sent',
    { timeout: 120_000 },
    async () => {
      opened = await backend.open();
      const { store } = opened;
      const settings = settingsFor({ 'throttling.enabled': true, 'smtp.perMinuteLimit': 1 });
      const clock = fixedClock(T0);
      await backend.bulkLow(opened, 50_000, T0 - 60_000);
      const urgent = await sendMessage(
        {
          to: ['urgent@example.com'],
          from: 'app@example.com',
          subject: 'urgent',
          text: 'now',
          provider: null,
          queue: true,
          delivery: { priority: 'high' },
        },
        { store, settings, secrets: { dbId: store.id, env: {} }, clock },
      );
      clock.at = T0 + 1000;
      // a one-pass run with a full window defers the whole queue; it is stopped once the first message is in
      const stop = new AbortController();
      const watch = setInterval(() => smtp.messages.length > 0 && stop.abort(), 5);
      const r = await runQueue(options(store, settings, clock, { signal: stop.signal })).finally(() => clearInterval(watch));
      expect(r.totals.sent).toBe(1);
      expect(smtp.messages).toHaveLength(1);
      expect(smtp.messages[0].toString()).toContain('Subject: urgent');
      expect((await store.messages.get(urgent.id))!.status).toBe('sent');
    },
  );
});
