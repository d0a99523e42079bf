/**
 * runQueue on PostgreSQL: the port lane (the only lane there), outcomes written as on SQLite, and a
 * queued attachment sent from the bytes the database keeps.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQueue, type RunQueueOptions } from '../../src/app/distributor/index.js';
import { createProvider } from '../../src/providers/index.js';
import { PgStore } from '../../src/store/pg/store.js';
import type { NewMessage } from '../../src/store/ports.js';
import { createTestDatabase, pgAvailable, testServer } from '../helpers/postgres.js';
import { settingsOf } from '../helpers/settings.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const available = await pgAvailable();

const msg = (to: string, extra: Partial<NewMessage> = {}): NewMessage => ({
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
});

describe.skipIf(!available)('distributor on PostgreSQL (port lane)', () => {
  let smtp: TestSmtpServer;
  let store: PgStore;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-pg-distributor-'));

  beforeAll(async () => {
    smtp = await startSmtpServer({
      users: { app: 'pw' },
      refuse: {
        rcpt: {
          't451@example.com': '451 4.3.0 Temporary local problem, please try again',
          'p550@example.com': '550 5.1.1 <p550@example.com>: Recipient address rejected: User unknown',
        },
      },
    });
    store = await PgStore.open((await createTestDatabase((await testServer())!, 'dist')).url);
  });
  afterAll(async () => {
    await store?.close();
    await smtp?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const options = (extra: Partial<RunQueueOptions> = {}): RunQueueOptions => {
    const settings = settingsOf({
      'smtp.host': '127.0.0.1',
      'smtp.port': smtp.port,
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
          secrets: { dbId: store.id, env: { SYSEMAIL_SMTP_PASSWORD: 'pw' } },
          pool: { maxConnections: 3 },
          timeouts: { connectionMs: 5000, greetingMs: 5000, socketMs: 5000 },
        }),
      owner: `test:${process.pid}:pg`,
      host: 'test',
      pid: process.pid,
      concurrency: 3,
      ...extra,
    };
  };

  it('sends, defers and fails as on SQLite, with the attachment from the database; --write-thread on falls back to it', async () => {
    const file = path.join(dir, 'invoice.txt');
    fs.writeFileSync(file, 'total: 42');
    const ids = await store.messages.insertMany(
      [
        msg('ok1@example.com', { attachments: [{ filename: 'invoice.txt', path: file, contentType: 'text/plain', size: 9 }] }),
        msg('t451@example.com'),
        msg('p550@example.com'),
        ...Array.from({ length: 12 }, (_, i) => msg(`bulk${i}@example.com`)),
      ],
      Date.now() - 1000,
    );
    // only the database's copy remains
    fs.rmSync(file);
    const fallbacks: unknown[] = [];
    const lanes: (string | undefined)[] = [];
    const r = await runQueue(
      options({ thread: { mode: 'on' }, onLaneFallback: (err) => fallbacks.push(err), onCycle: (c) => lanes.push(c.lane) }),
    );
    expect(r.lane).toBe('port');
    expect(lanes).toEqual(['port']);
    expect(fallbacks).toHaveLength(1);
    expect(r.totals).toEqual({ sent: 13, deferred: 1, failed: 1, forced: 0 });
    expect(await store.messages.counts()).toMatchObject({ sent: 13, deferred: 1, failed: 1, sending: 0, pending: 0 });
    expect(smtp.messages).toHaveLength(13);
    const first = (await Promise.all(smtp.messages.map((b) => simpleParser(b)))).find((p) => p.subject === 'to ok1@example.com')!;
    expect(first.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['invoice.txt', 'total: 42']]);
    const failed = await store.messages.attempts(ids[2]);
    expect(failed.at(-1)).toMatchObject({ outcome: 'failed', responseCode: 550 });
    // the run's row carries what the database accepted
    expect(await store.runs.lastRun()).toMatchObject({ sent: 13, deferred: 1, failed: 1 });
  });

  it('a send held at the at-risk bound by a slow database is counted with its wait', async () => {
    await store.messages.insertMany([msg('slow1@example.com'), msg('slow2@example.com'), msg('slow3@example.com')], Date.now() - 1000);
    const RECORD_MS = 150;
    // a database that takes its time to record (a distant server, a busy one)
    const messages = Object.create(store.messages) as typeof store.messages;
    messages.applyWrites = async (writes) => {
      await new Promise((resolve) => setTimeout(resolve, RECORD_MS));
      return store.messages.applyWrites(writes);
    };
    const slow = Object.create(store) as PgStore;
    Object.defineProperty(slow, 'messages', { value: messages });
    const r = await runQueue(options({ store: slow, concurrency: 1 }));
    expect(r.totals.sent).toBe(3);
    // one message at risk at a time: the second and the third wait at their dot for the record before them
    expect(r.boundWaits).toBe(2);
    expect(r.boundWaitMs).toBeGreaterThanOrEqual(RECORD_MS);
    expect(await store.messages.counts()).toMatchObject({ sending: 0, pending: 0 });
  });

  it('--watch keeps one port lane for every cycle: the fallback is told once', async () => {
    await store.messages.insertMany([msg('w1@example.com'), msg('w2@example.com')], Date.now() - 1000);
    const stop = new AbortController();
    const fallbacks: unknown[] = [];
    const lanes: (string | undefined)[] = [];
    const r = await runQueue(
      options({
        watch: true,
        intervalSec: 0.05,
        signal: stop.signal,
        thread: { mode: 'on' },
        onLaneFallback: (err) => fallbacks.push(err),
        onCycle: (c) => {
          lanes.push(c.lane);
          if (lanes.length === 3) stop.abort();
        },
      }),
    );
    expect(r).toMatchObject({ cycles: 3, lane: 'port', totals: { sent: 2 } });
    expect(lanes).toEqual(['port', 'port', 'port']);
    expect(fallbacks).toHaveLength(1);
  });
});
