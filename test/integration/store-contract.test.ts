/**
 * The store contract: what every implementation of the store ports must do, written against the
 * ports only. Each backend gives a factory of stores sharing one database; a second backend adds an
 * entry to BACKENDS and runs the same suite.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MESSAGE_STATUSES, canTransition, type MessageStatus } from '../../src/core/status.js';
import { SqliteStore } from '../../src/store/index.js';
import { PgStore } from '../../src/store/pg/store.js';
import type { ClaimRequest, DkimKeyFields, QueueWrite, Store } from '../../src/store/ports.js';
import { createTestDatabase, pgAvailable, testServer } from '../helpers/postgres.js';
import { queuedMessage as msg } from '../helpers/store-fixtures.js';

interface Backend {
  name: string;
  /** A new empty database; `connect` opens another connection (another process's view) to it. */
  database(): Promise<{ connect(): Promise<Store> }>;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-contract-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    async database() {
      const file = path.join(dir, `c${++files}.db`);
      return { connect: async () => (await SqliteStore.open(file))! };
    },
  },
];

// PostgreSQL: each test its own database on the test server (skipped only where none can be started
// and SYSEMAIL_REQUIRE_POSTGRES is unset)
if (await pgAvailable()) {
  const server = (await testServer())!;
  BACKENDS.push({
    name: 'postgres',
    async database() {
      const { url } = await createTestDatabase(server, 'contract');
      return { connect: () => PgStore.open(url) };
    },
  });
}

const req = (
  owner: string,
  now: number,
  max: number,
  o: { limit?: number; leaseMs?: number; deadOwners?: string[] } = {},
): ClaimRequest => ({
  owner,
  now,
  leaseMs: o.leaseMs ?? 60_000,
  max,
  deadOwners: o.deadOwners,
  providerOf: () => 'smtp',
  limitOf: () => o.limit ?? 0,
});

const outcome = (now: number) => ({ now, startedAt: now - 1, provider: 'smtp' as const });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

describe.each(BACKENDS)('store contract: $name', (backend) => {
  const open: Store[] = [];
  async function two(): Promise<[Store, Store]> {
    const db = await backend.database();
    const a = await db.connect();
    const b = await db.connect();
    open.push(a, b);
    return [a, b];
  }
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  it('claims are exclusive: two connections claiming in turn never get the same message', async () => {
    const [a, b] = await two();
    const ids = await a.messages.insertMany(
      Array.from({ length: 20 }, (_, i) => msg(i)),
      0,
    );
    const seen = new Map<number, string>();
    for (let round = 0; round < 6; round++) {
      for (const [s, owner] of [
        [a, 'A'],
        [b, 'B'],
      ] as const) {
        for (const m of (await s.messages.claim(req(owner, 10, 3))).claimed) {
          expect(seen.has(m.id), `message ${m.id} claimed twice`).toBe(false);
          seen.set(m.id, owner);
          expect([m.status, m.leaseOwner, m.attempts]).toEqual(['sending', owner, 1]);
        }
      }
    }
    expect([...seen.keys()].sort((x, y) => x - y)).toEqual(ids);
    expect((await a.messages.counts()).sending).toBe(20);
    expect(await b.messages.leaseOwners()).toEqual(expect.arrayContaining(['A', 'B']));
  });

  it('only the lease owner may complete a message, and only once; the attempt is recorded with it', async () => {
    const [a, b] = await two();
    const [id] = await a.messages.insertMany([msg(1)], 0);
    await a.messages.claim(req('A', 10, 1));
    const sent = (owner: string): QueueWrite => ({
      op: 'sent',
      id,
      owner,
      attempt: 1,
      outcome: { ...outcome(20), response: `250 ok ${owner}` },
    });
    expect(await b.messages.applyWrites([sent('B'), { op: 'failed', id, owner: 'B', attempt: 1, outcome: outcome(20) }])).toEqual([
      false,
      false,
    ]);
    expect((await a.messages.get(id))!.status).toBe('sending');
    expect(await a.messages.applyWrites([sent('A')])).toEqual([true]);
    expect(await a.messages.applyWrites([sent('A')])).toEqual([false]);
    const m = (await b.messages.get(id))!;
    expect([m.status, m.leaseOwner, m.sentProvider]).toEqual(['sent', null, 'smtp']);
    expect((await b.messages.attempts(id)).map((x) => [x.outcome, x.response, x.leaseOwner])).toEqual([['sent', '250 ok A', 'A']]);
  });

  it('a message stored in sending (a direct send) completes through the same path, by its owner only', async () => {
    const [a] = await two();
    const now = await a.messages.dbNow();
    const id = await a.messages.insert(
      msg(1, { status: 'sending', provider: 'smtp', leaseOwner: 'send:h:1', leaseExpiresAt: now + 60_000 }),
      now,
    );
    expect((await a.messages.get(id))!.attempts).toBe(1);
    // the distributor leaves it alone while the lease holds
    expect((await a.messages.claim(req('D', now + 1000, 10))).claimed).toEqual([]);
    const failure = { responseCode: 550, response: '550 5.1.1 no such user' };
    expect(
      await a.messages.applyWrites([{ op: 'failed', id, owner: 'someone else', attempt: 1, outcome: { ...outcome(now), failure } }]),
    ).toEqual([false]);
    expect(
      await a.messages.applyWrites([
        { op: 'failed', id, owner: 'send:h:1', attempt: 1, outcome: { ...outcome(now), failure, diagnosis: 'RECIPIENT_UNKNOWN' } },
      ]),
    ).toEqual([true]);
    const m = (await a.messages.get(id))!;
    expect([m.status, m.lastError, m.diagnosis]).toEqual(['failed', failure, 'RECIPIENT_UNKNOWN']);
    expect((await a.messages.attempts(id)).map((x) => [x.outcome, x.responseCode, x.diagnosis])).toEqual([
      ['failed', 550, 'RECIPIENT_UNKNOWN'],
    ]);
  });

  it('expired leases and those of dead owners are taken back; the former owner can no longer complete', async () => {
    const [a, b] = await two();
    const [short, dead] = await a.messages.insertMany([msg(1), msg(2)], 0);
    const leaseMs = 300;
    const claimedAt = Date.now();
    expect((await a.messages.claim(req('A', 10, 1, { leaseMs }))).claimed.map((m) => m.id)).toEqual([short]);
    expect((await a.messages.claim(req('host:1:gone', 10, 1))).claimed.map((m) => m.id)).toEqual([dead]);
    // leases run on the database's clock: a short real one, waited out
    await sleep(claimedAt + leaseMs + 100 - Date.now());
    const r = await b.messages.claim(req('B', 20, 5, { deadOwners: ['host:1:gone'] }));
    expect(r.reclaimed.sort()).toEqual([short, dead].sort());
    expect(r.claimed.map((m) => [m.id, m.attempts, m.leaseOwner]).sort()).toEqual(
      [
        [short, 2, 'B'],
        [dead, 2, 'B'],
      ].sort(),
    );
    expect(await a.messages.applyWrites([{ op: 'sent', id: short, owner: 'A', attempt: 1, outcome: outcome(30) }])).toEqual([false]);
    expect(await b.messages.applyWrites([{ op: 'sent', id: short, owner: 'B', attempt: 2, outcome: outcome(30) }])).toEqual([true]);
    expect(await b.messages.giveBackAll('B', 40, 'stopping')).toBe(1);
    const back = (await a.messages.get(dead))!;
    expect([back.status, back.attempts, back.leaseOwner]).toEqual(['pending', 1, null]);
  });

  it('the attempt is a fencing token: a late write of an earlier claim by the same owner changes nothing', async () => {
    const [a, b] = await two();
    const [id, other] = await a.messages.insertMany([msg(1), msg(2)], 0);
    const leaseMs = 300;
    const claimedAt = Date.now();
    const first = (await a.messages.claim(req('A', 10, 2, { leaseMs }))).claimed;
    expect(first.map((m) => m.attempts)).toEqual([1, 1]);
    await sleep(claimedAt + leaseMs + 100 - Date.now());
    // the same owner's leases ran out (a pause), were taken back and claimed again by it
    const again = await a.messages.claim(req('A', 20, 2));
    expect(again.reclaimed.sort()).toEqual([id, other].sort());
    expect(again.claimed.map((m) => [m.id, m.attempts, m.leaseOwner]).sort()).toEqual(
      [
        [id, 2, 'A'],
        [other, 2, 'A'],
      ].sort(),
    );
    const before = (await b.messages.get(id))!;
    const stale: QueueWrite[] = [
      { op: 'sent', id, owner: 'A', attempt: 1, outcome: outcome(30) },
      { op: 'deferred', id, owner: 'A', attempt: 1, outcome: { ...outcome(30), dueAt: 99, reason: 'later' } },
      { op: 'failed', id, owner: 'A', attempt: 1, outcome: outcome(30) },
      { op: 'giveBack', owner: 'A', ids: [id, other], attempts: [1, 1], opts: { now: 30, uncount: true, reason: 'stopped' } },
    ];
    for (const w of stale) expect(await a.messages.applyWrites([w])).toEqual([false]);
    // nothing changed: the row, its attempts and the run's counts are those of the second claim
    expect(await b.messages.get(id)).toEqual(before);
    expect((await b.messages.get(other))!).toMatchObject({ status: 'sending', attempts: 2, leaseOwner: 'A' });
    expect(await b.messages.attempts(id)).toEqual([]);
    // the write of the claim that holds it is accepted
    expect(await a.messages.applyWrites([{ op: 'sent', id, owner: 'A', attempt: 2, outcome: outcome(40) }])).toEqual([true]);
    expect((await b.messages.attempts(id)).map((x) => x.outcome)).toEqual(['sent']);
  });

  it('an expired lease is taken back by a distributor of any host', async () => {
    const [a, b] = await two();
    const [id] = await a.messages.insertMany([msg(1)], 0);
    const leaseMs = 300;
    const claimedAt = Date.now();
    expect((await a.messages.claim(req('host-a:100:x', 10, 1, { leaseMs }))).claimed.map((m) => m.id)).toEqual([id]);
    // another host's distributor: it cannot know whether host-a's process lives, only the lease's time
    expect((await b.messages.claim(req('host-b:100:y', 15, 1, { deadOwners: [] }))).claimed).toEqual([]);
    await sleep(claimedAt + leaseMs + 100 - Date.now());
    const r = await b.messages.claim(req('host-b:100:y', 20, 1));
    expect(r.reclaimed).toEqual([id]);
    expect(r.claimed.map((m) => [m.id, m.attempts, m.leaseOwner])).toEqual([[id, 2, 'host-b:100:y']]);
    expect(await a.messages.applyWrites([{ op: 'sent', id, owner: 'host-a:100:x', attempt: 1, outcome: outcome(30) }])).toEqual([false]);
    expect(await b.messages.applyWrites([{ op: 'sent', id, owner: 'host-b:100:y', attempt: 2, outcome: outcome(30) }])).toEqual([true]);
  });

  it('renews only the leases the owner still holds', async () => {
    const [a, b] = await two();
    const ids = await a.messages.insertMany([msg(1), msg(2)], 0);
    await a.messages.claim(req('A', 10, 2));
    expect((await b.messages.renew('B', ids, 60_000)).renewed).toEqual([]);
    expect((await a.messages.renew('A', ids, 120_000)).renewed.sort()).toEqual(ids);
    expect((await a.messages.heldBy('A')).count).toBe(2);
  });

  it('the throttle window is shared by every connection', async () => {
    const [a, b] = await two();
    await a.messages.insertMany(
      Array.from({ length: 6 }, (_, i) => msg(i)),
      0,
    );
    const first = await a.messages.claim(req('A', 1000, 2, { limit: 3 }));
    const second = await b.messages.claim(req('B', 1001, 4, { limit: 3 }));
    expect(first.claimed).toHaveLength(2);
    expect(second.claimed).toHaveLength(1);
    expect(second.throttled).toHaveLength(3);
    for (const t of second.throttled) expect((await a.messages.get(t.id))!.status).toBe('deferred');
  });

  it('every status change follows core/status.ts, and what it forbids is refused', async () => {
    const [a] = await two();
    const [id] = await a.messages.insertMany([msg(1)], 0);
    let now = 10;
    let status: MessageStatus = 'pending';
    const step = async (change: () => Promise<unknown>, expected: MessageStatus) => {
      await change();
      const next = (await a.messages.get(id))!.status;
      expect(next).toBe(expected);
      expect(canTransition(status, next), `${status} -> ${next}`).toBe(true);
      status = next;
      now += 10;
    };
    // each write carries the attempt count of the claim it was made under
    let attempt = 0;
    const claim = async () => {
      attempt = (await a.messages.claim(req('A', now, 1))).claimed[0].attempts;
    };
    await step(claim, 'sending');
    await step(
      () =>
        a.messages.applyWrites([
          { op: 'deferred', id, owner: 'A', attempt, outcome: { ...outcome(now), dueAt: now, reason: '451 later' } },
        ]),
      'deferred',
    );
    await step(() => a.operator.change('hold', { ids: [id] }, { now }), 'held');
    await step(() => a.operator.change('release', { ids: [id] }, { now }), 'pending');
    await step(claim, 'sending');
    await step(
      () =>
        a.messages.applyWrites([
          { op: 'giveBack', owner: 'A', ids: [id], attempts: [attempt], opts: { now, uncount: true, reason: 'stopped' } },
        ]),
      'pending',
    );
    await step(claim, 'sending');
    await step(() => a.messages.applyWrites([{ op: 'failed', id, owner: 'A', attempt, outcome: outcome(now) }]), 'failed');
    await step(() => a.operator.change('retry', { ids: [id] }, { now }), 'pending');
    await step(claim, 'sending');
    // outcome unknown: held for the operator, only by the lease owner, with its reason and attempt
    const lost = { code: 'ECONNECTION', outcomeUnknown: true, response: 'Connection closed unexpectedly' };
    expect(
      await a.messages.applyWrites([
        { op: 'held', id, owner: 'B', attempt, outcome: { ...outcome(now), failure: lost, reason: 'outcome unknown' } },
      ]),
    ).toEqual([false]);
    await step(
      () =>
        a.messages.applyWrites([
          { op: 'held', id, owner: 'A', attempt, outcome: { ...outcome(now), failure: lost, reason: 'outcome unknown' } },
        ]),
      'held',
    );
    expect(await a.messages.get(id)).toMatchObject({
      deferralReason: 'outcome unknown',
      lastError: { outcomeUnknown: true },
      leaseOwner: null,
    });
    expect((await a.messages.attempts(id)).at(-1)).toMatchObject({ outcome: 'held', errorCode: 'ECONNECTION' });
    await step(() => a.operator.change('release', { ids: [id] }, { now }), 'pending');
    await step(claim, 'sending');
    // nobody but a lease owner's write leaves sending
    for (const action of ['hold', 'release', 'retry', 'delete'] as const) {
      expect((await a.operator.change(action, { ids: [id] }, { now })).refused).toEqual([{ id, status: 'sending' }]);
    }
    await step(() => a.messages.applyWrites([{ op: 'sent', id, owner: 'A', attempt, outcome: outcome(now) }]), 'sent');
    // sent is final: no transition leads out of it
    expect(await a.messages.applyWrites([{ op: 'failed', id, owner: 'A', attempt, outcome: outcome(now) }])).toEqual([false]);
    for (const action of ['hold', 'release', 'retry'] as const) {
      expect((await a.operator.change(action, { ids: [id] }, { now })).refused).toEqual([{ id, status: 'sent' }]);
    }
    expect((await a.messages.get(id))!.status).toBe('sent');
    expect(Object.keys(await a.messages.counts()).sort()).toEqual([...MESSAGE_STATUSES].sort());
  });

  it('runs record their counts from the accepted writes', async () => {
    const [a] = await two();
    const ids = await a.messages.insertMany([msg(1), msg(2)], 0);
    const runId = await a.runs.startRun({ owner: 'A', host: 'h', pid: 1, now: 5, leaseMs: 60_000 });
    await a.messages.claim(req('A', 10, 2));
    expect(
      await a.messages.applyWrites([
        { op: 'sent', id: ids[0], owner: 'A', attempt: 1, outcome: outcome(20) },
        { op: 'sent', id: ids[1], owner: 'B', attempt: 1, outcome: outcome(20) },
      ]),
    ).toEqual([true, false]);
    await a.runs.finishRun(runId, 30);
    expect(await a.runs.lastRun()).toMatchObject({ id: runId, owner: 'A', sent: 1, deferred: 0, failed: 0, endedAt: 30 });
  });

  it('the latest run of each host, newest first', async () => {
    const [a] = await two();
    expect(await a.runs.lastRunPerHost()).toEqual([]);
    await a.runs.startRun({ owner: 'h1:1:a', host: 'h1', pid: 1, now: 10 });
    const h2 = await a.runs.startRun({ owner: 'h2:2:b', host: 'h2', pid: 2, now: 20 });
    const h1 = await a.runs.startRun({ owner: 'h1:3:c', host: 'h1', pid: 3, now: 30 });
    const runs = await a.runs.lastRunPerHost();
    expect(runs.map((r) => [r.id, r.host, r.owner])).toEqual([
      [h1, 'h1', 'h1:3:c'],
      [h2, 'h2', 'h2:2:b'],
    ]);
    expect(await a.runs.lastRunPerHost(1)).toHaveLength(1);
  });

  it('params, templates and users round-trip', async () => {
    const [a, b] = await two();
    await a.params.apply([
      { key: 'smtp.host', value: 'mail.example.com' },
      { key: 'smtp.port', value: 2525 },
    ]);
    await a.params.apply([{ key: 'throttling.enabled', value: true }], ['smtp.port']);
    expect(Object.fromEntries(await b.params.all())).toEqual({ 'smtp.host': 'mail.example.com', 'throttling.enabled': true });

    const t = await a.templates.put('welcome', '', { subject: 'Hi {{name}}', text: 'Hello', html: null, sender: 'hr@example.com' }, 100);
    expect(t).toMatchObject({
      id: 'welcome',
      org: '',
      subject: 'Hi {{name}}',
      text: 'Hello',
      html: null,
      sender: 'hr@example.com',
      createdAt: 100,
      updatedAt: 100,
    });
    await a.templates.put('welcome', 'acme', { subject: 'Acme hi' }, 200);
    expect((await b.templates.resolve('welcome', 'acme'))!.subject).toBe('Acme hi');
    expect((await b.templates.resolve('welcome', 'other'))!.subject).toBe('Hi {{name}}');
    expect((await b.templates.put('welcome', '', { subject: 'Hi again' }, 300)).createdAt).toBe(100);
    expect((await b.templates.list()).map((x) => [x.org, x.id])).toEqual([
      ['', 'welcome'],
      ['acme', 'welcome'],
    ]);
    expect(await a.templates.remove('welcome', 'acme')).toBe(true);
    expect(await a.templates.remove('welcome', 'acme')).toBe(false);
    expect(await a.templates.get('welcome', 'acme')).toBeUndefined();

    const u = await a.users.put(
      'ann',
      { email: 'ann@example.com', senderEmail: 'team@example.com', provider: 'eml', notifyEmail: false, name: 'Ann' },
      100,
    );
    expect(u).toMatchObject({
      id: 'ann',
      email: 'ann@example.com',
      senderEmail: 'team@example.com',
      provider: 'eml',
      notifyEmail: false,
      name: 'Ann',
      createdAt: 100,
    });
    expect(await b.users.put('ann', { email: 'ann@example.org' }, 200)).toMatchObject({
      email: 'ann@example.org',
      senderEmail: null,
      notifyEmail: true,
      createdAt: 100,
      updatedAt: 200,
    });
    expect((await b.users.list()).map((x) => x.id)).toEqual(['ann']);
    expect(await a.users.remove('ann')).toBe(true);
    expect(await a.users.get('ann')).toBeUndefined();
  });

  it('DKIM keys: registered per domain and selector, replaced in place, listed, removed; never a private key column', async () => {
    const [a, b] = await two();
    const key = (selector: string, over: Partial<DkimKeyFields> = {}): DkimKeyFields => ({
      domain: 'example.org',
      selector,
      algorithm: 'rsa-sha256',
      source: 'file',
      location: `/etc/dkim/${selector}.pem`,
      publicKey: `PUB-${selector}`,
      ...over,
    });
    expect(await a.dkim.list()).toEqual([]);
    await a.dkim.put(key('s2'), 100);
    await a.dkim.put(key('s1', { algorithm: 'ed25519-sha256', source: 'keychain', location: null }), 110);
    await a.dkim.put(key('m1', { domain: 'other.example' }), 120);
    // the other connection sees them, by domain then selector
    expect((await b.dkim.list()).map((k) => `${k.selector}._domainkey.${k.domain}`)).toEqual([
      's1._domainkey.example.org',
      's2._domainkey.example.org',
      'm1._domainkey.other.example',
    ]);
    expect(await b.dkim.list('example.org')).toEqual([
      { ...key('s1', { algorithm: 'ed25519-sha256', source: 'keychain', location: null }), createdAt: 110, updatedAt: 110 },
      { ...key('s2'), createdAt: 100, updatedAt: 100 },
    ]);
    // the same selector again replaces it, keeping its creation time
    expect(await b.dkim.put(key('s2', { source: 'command', location: 'pass show dkim', publicKey: 'PUB-NEW' }), 200)).toEqual({
      ...key('s2', { source: 'command', location: 'pass show dkim', publicKey: 'PUB-NEW' }),
      createdAt: 100,
      updatedAt: 200,
    });
    expect((await a.dkim.remove('example.org', 's2')).map((k) => k.selector)).toEqual(['s2']);
    expect(await a.dkim.remove('example.org', 's2')).toEqual([]);
    await a.dkim.put(key('s3'), 300);
    expect((await b.dkim.remove('example.org')).map((k) => k.selector)).toEqual(['s1', 's3']);
    expect((await a.dkim.list()).map((k) => k.domain)).toEqual(['other.example']);
  });

  it('templates keep their bulk mark and one-click unsubscribe addresses', async () => {
    const [a, b] = await two();
    await a.templates.put(
      'news',
      '',
      { subject: 's', text: 't', bulk: true, unsubscribeUrl: 'https://example.org/u?t=%token%', unsubscribeMailto: 'u@example.org' },
      10,
    );
    expect(await b.templates.get('news')).toMatchObject({
      bulk: true,
      unsubscribeUrl: 'https://example.org/u?t=%token%',
      unsubscribeMailto: 'u@example.org',
    });
    await b.templates.put('news', '', { subject: 's', text: 't' }, 20);
    expect(await a.templates.get('news')).toMatchObject({ bulk: false, unsubscribeUrl: null, unsubscribeMailto: null });
  });

  it('history lists what happened, newest first, and retention purges only what is finished', async () => {
    const [a, b] = await two();
    const ids = await a.messages.insertMany([msg(1), msg(2, { to: ['Bo Lee <bo@example.com>'] }), msg(3)], 0);
    await a.messages.claim(req('A', 10, 2));
    const failure = { responseCode: 550, response: '550 5.1.1 no such user' };
    await a.messages.applyWrites([
      { op: 'sent', id: ids[0], owner: 'A', attempt: 1, outcome: outcome(20) },
      { op: 'failed', id: ids[1], owner: 'A', attempt: 1, outcome: { ...outcome(20), failure, diagnosis: 'RECIPIENT_UNKNOWN' } },
    ]);
    expect((await b.history.list({ limit: 10 })).map((r) => [r.id, r.status])).toEqual(
      [
        [ids[2], 'pending'],
        [ids[1], 'failed'],
        [ids[0], 'sent'],
      ].sort((x, y) => (y[0] as number) - (x[0] as number)),
    );
    expect(await b.history.list({ failed: true, limit: 10 })).toMatchObject([
      { id: ids[1], lastError: failure, diagnosis: 'RECIPIENT_UNKNOWN', to: ['Bo Lee <bo@example.com>'] },
    ]);
    expect((await b.history.list({ to: 'BO@example.com', limit: 10 })).map((r) => r.id)).toEqual([ids[1]]);
    expect(await b.history.purgeable(1)).toEqual([ids[0], ids[1]]);
    expect(await a.history.purgeBatch(1, 1)).toMatchObject({ deleted: 1 });
    expect(await a.history.purgeBatch(1, 10)).toMatchObject({ deleted: 1 });
    expect(await a.history.purgeBatch(1, 10)).toMatchObject({ deleted: 0 });
    expect((await a.messages.counts()).pending).toBe(1);
  });

  it('diagnosis reads see expired leases and failures grouped by diagnosis', async () => {
    const [a] = await two();
    const [id] = await a.messages.insertMany([msg(1)], 0);
    expect(await a.diagnosis.expiredLeases()).toEqual({ count: 0, oldestExpiredAt: null, owners: [] });
    const claimedAt = Date.now();
    await a.messages.claim(req('A', 10, 1, { leaseMs: 200 }));
    await sleep(claimedAt + 300 - Date.now());
    expect(await a.diagnosis.expiredLeases()).toMatchObject({ count: 1, owners: ['A'] });
    const r = await a.messages.claim(req('B', 20, 1));
    expect(r.reclaimed).toEqual([id]);
    const failure = { responseCode: 535, response: '535 5.7.8 bad credentials' };
    await a.messages.applyWrites([
      {
        op: 'deferred',
        id,
        owner: 'B',
        attempt: 2,
        outcome: { now: 30, startedAt: 25, provider: 'smtp', failure, diagnosis: 'BAD_CREDENTIALS', dueAt: 40, reason: 'auth' },
      },
    ]);
    expect(await a.diagnosis.failuresSince(0)).toEqual([
      { diagnosis: 'BAD_CREDENTIALS', count: 1, messages: 1, lastAt: 25, lastFailure: failure },
    ]);
    expect(await a.diagnosis.failuresSince(26)).toEqual([]);
  });

  describe('send governor', () => {
    const gov = (o: { perMinute?: number; perDay?: number } = {}): ClaimRequest['governor'] => ({
      rule: { smtpUser: null, exchangeMailbox: null },
      defaults: { smtp: { perMinute: o.perMinute ?? 0, concurrency: 0, perDay: o.perDay ?? 0 } },
    });
    const greq = (owner: string, now: number, max: number, g: ClaimRequest['governor']): ClaimRequest => ({
      ...req(owner, now, max),
      governor: g,
    });

    it('limits per key, across connections: each mailbox gets its own window, an administrator value over the default', async () => {
      const [a, b] = await two();
      await a.governor.setLimits({ provider: 'smtp', mailbox: 'b@example.com' }, { perMinute: 1 }, 0);
      await a.messages.insertMany(
        [1, 2, 3].map((i) => msg(i, { from: 'a@example.com' })).concat([4, 5].map((i) => msg(i, { from: 'B <b@example.com>' }))),
        0,
      );
      const now = Date.now();
      const r1 = await a.messages.claim(greq('A', now, 2, gov({ perMinute: 2 })));
      const r2 = await b.messages.claim(greq('B', now, 10, gov({ perMinute: 2 })));
      const keys = [...r1.claimed, ...r2.claimed].map((m) => m.governorKey).sort();
      expect(keys).toEqual(['smtp:a@example.com', 'smtp:a@example.com', 'smtp:b@example.com']);
      expect(r2.throttled).toHaveLength(2);
      const use = await a.governor.use(now);
      expect(use.map((u) => [u.mailbox, u.lastMinute, u.last24hRecipients])).toEqual([
        ['a@example.com', 2, 2],
        ['b@example.com', 1, 1],
      ]);
      const limits = await b.governor.limits();
      expect(limits).toMatchObject([{ provider: 'smtp', mailbox: 'b@example.com', perMinute: 1, concurrency: null, perDay: null }]);
    });

    it('a pause defers only its key, for every connection; reset lifts it', async () => {
      const [a, b] = await two();
      await a.messages.insertMany([msg(1, { from: 'a@example.com' }), msg(2, { from: 'b@example.com' })], 0);
      const now = Date.now();
      await a.governor.pause({ provider: 'smtp', mailbox: 'a@example.com' }, { now, pauseMs: 60_000, reason: '432 4.3.2 slow down' });
      const r = await b.messages.claim(greq('B', now, 10, gov()));
      expect(r.claimed.map((m) => m.from)).toEqual(['b@example.com']);
      expect(r.throttled).toHaveLength(1);
      const [paused] = (await a.governor.use(now)).filter((u) => u.pausedUntil !== null);
      expect(paused).toMatchObject({ mailbox: 'a@example.com', pauseReason: '432 4.3.2 slow down' });
      expect(await a.governor.reset({ provider: 'smtp', mailbox: 'a@example.com' })).toBe(true);
      expect((await a.governor.use(now)).filter((u) => u.pausedUntil !== null)).toEqual([]);
    });

    it('slots: at most the limit held at once across connections, freed on release or when their lease runs out', async () => {
      const [a, b] = await two();
      const key = { provider: 'smtp' as const, mailbox: 'a@example.com' };
      expect(await a.governor.acquireSlot(key, { owner: 'A', messageId: 1, limit: 2, leaseMs: 60_000 })).toBe(true);
      expect(await b.governor.acquireSlot(key, { owner: 'B', messageId: 2, limit: 2, leaseMs: 300 })).toBe(true);
      expect(await b.governor.acquireSlot(key, { owner: 'B', messageId: 3, limit: 2, leaseMs: 60_000 })).toBe(false);
      await sleep(400);
      // B's short lease ran out (a process killed while sending): its slot is free again
      expect(await b.governor.acquireSlot(key, { owner: 'B', messageId: 3, limit: 2, leaseMs: 60_000 })).toBe(true);
      expect(await a.governor.acquireSlot(key, { owner: 'A', messageId: 4, limit: 2, leaseMs: 60_000 })).toBe(false);
      await a.governor.releaseSlot(key, 'A', 1);
      expect(await a.governor.acquireSlot(key, { owner: 'A', messageId: 4, limit: 2, leaseMs: 60_000 })).toBe(true);
      expect((await a.governor.use(Date.now())).find((u) => u.mailbox === 'a@example.com')?.slots).toBe(2);
    });
  });
});
