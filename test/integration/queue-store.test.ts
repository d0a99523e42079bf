import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';

import type { ClaimRequest, RunCounts } from '../../src/store/queue.js';
import { THROTTLE_WINDOW_MS } from '../../src/core/throttle.js';
import { queuedMessage as msg } from '../helpers/store-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-queue-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function open(file?: string): Promise<{ a: Store; b: Store; file: string }> {
  const f = file ?? path.join(dir, `q${++n}.db`);
  const a = (await Store.open(f))!;
  const b = (await Store.open(f))!;
  return { a, b, file: f };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const req = (owner: string, now: number, max: number, limit = 0): ClaimRequest => ({
  owner,
  now,
  leaseMs: 60_000,
  max,
  providerOf: () => 'smtp',
  limitOf: () => limit,
});

describe('queue store', () => {
  let stores: Store[] = [];
  beforeEach(async () => {
    for (const s of stores) await s.close();
    stores = [];
  });

  it('claims atomically: two stores on one file never get the same message', async () => {
    const { a, b } = await open();
    stores.push(a, b);
    await a.messages.insertMany(
      Array.from({ length: 100 }, (_, i) => msg(i)),
      1000,
    );
    const seen = new Map<number, string>();
    for (let round = 0; round < 20; round++) {
      for (const [s, owner] of [
        [a, 'A'],
        [b, 'B'],
      ] as const) {
        for (const m of s.queue.claim(req(owner, 2000, 7)).claimed) {
          expect(seen.has(m.id)).toBe(false);
          seen.set(m.id, owner);
          expect(m.status).toBe('sending');
          expect(m.attempts).toBe(1);
          expect(m.leaseOwner).toBe(owner);
          expect(m.firstAttemptAt).toBe(2000);
        }
      }
    }
    expect(seen.size).toBe(100);
    expect(a.queue.counts().sending).toBe(100);
  });

  it('lets only the lease owner complete, and takes back expired leases as a new attempt', async () => {
    const { a, b } = await open();
    stores.push(a, b);
    const [id] = await a.messages.insertMany([msg(1)], 0);
    // leases run on the database's clock: a short real one, waited out
    const leaseMs = 1500;
    const claimedAt = Date.now();
    const [claimed] = a.queue.claim({ ...req('A', 10, 1), leaseMs }).claimed;
    expect(claimed.id).toBe(id);
    const o = { now: 20, startedAt: 10, provider: 'smtp' as const };
    expect(b.queue.applyWrites([{ op: 'sent', id, owner: 'B', attempt: 1, outcome: o }])[0]).toBe(false);
    expect(b.queue.applyWrites([{ op: 'failed', id, owner: 'B', attempt: 1, outcome: o }])[0]).toBe(false);
    // before expiry nobody else gets it, whatever B's own clock says; after, B takes it and A's completion is refused
    expect(b.queue.claim(req('B', 10 + 3_600_000, 5)).claimed).toHaveLength(0);
    await sleep(claimedAt + leaseMs + 100 - Date.now());
    const r = b.queue.claim(req('B', 30, 5));
    expect(r.reclaimed).toEqual([id]);
    expect(r.claimed.map((m) => [m.id, m.attempts, m.leaseOwner])).toEqual([[id, 2, 'B']]);
    expect(a.queue.applyWrites([{ op: 'sent', id, owner: 'A', attempt: 1, outcome: o }])[0]).toBe(false);
    expect(b.queue.applyWrites([{ op: 'sent', id, owner: 'B', attempt: 2, outcome: { ...o, response: '250 ok' } }])[0]).toBe(true);
    const m = (await a.messages.get(id))!;
    expect(m.status).toBe('sent');
    expect(m.leaseOwner).toBeNull();
    expect((await a.messages.attempts(id)).map((x) => [x.outcome, x.response, x.leaseOwner])).toEqual([['sent', '250 ok', 'B']]);
  });

  it("sets leases on the database's clock: a claimer whose clock runs 15 minutes ahead takes no valid lease", async () => {
    const { a, b } = await open();
    stores.push(a, b);
    await a.messages.insertMany([msg(1), msg(2)], 0);
    const before = Date.now();
    const [m] = a.queue.claim({ ...req('A', before, 1), leaseMs: 600_000 }).claimed;
    expect(m.leaseExpiresAt).toBeGreaterThanOrEqual(before + 600_000);
    expect(m.leaseExpiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    // B's clock is 15 minutes ahead: A's lease (10 minutes) is valid all the same, and B's own lease
    // is ten minutes from the database's now, not from B's
    const ahead = b.queue.claim({ ...req('B', before + 15 * 60_000, 5), leaseMs: 600_000 });
    expect(ahead.reclaimed).toEqual([]);
    expect(ahead.claimed.map((x) => x.id)).not.toContain(m.id);
    expect(ahead.claimed).toHaveLength(1);
    expect(ahead.claimed[0].leaseExpiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect((await a.messages.get(m.id))!.leaseOwner).toBe('A');
  });

  it('renews only leases still held: not one that ran out, not one another owner took', async () => {
    const { a, b } = await open();
    stores.push(a, b);
    const ids = await a.messages.insertMany([msg(1), msg(2), msg(3)], 0);
    const claimedAt = Date.now();
    a.queue.claim({ ...req('A', 10, 2), leaseMs: 1000 });
    b.queue.claim({ ...req('B', 10, 1), leaseMs: 60_000 });
    const held = () =>
      a.sqlite.prepare('SELECT id, lease_owner AS owner, lease_expires_at AS until FROM messages ORDER BY id').all() as {
        id: number;
        owner: string;
        until: number;
      }[];
    const first = held();
    // A renews its two and B's one: only its own are renewed, B's lease stays as it was
    expect(a.queue.renew('A', ids, 60_000).renewed.sort()).toEqual([ids[0], ids[1]]);
    const second = held();
    expect(second[0].until).toBeGreaterThan(first[0].until);
    expect(second[2]).toEqual(first[2]);
    // once A's short lease ran out, its renewal is refused even though nobody took the message yet
    a.queue.renew('A', [ids[0]], 500);
    await sleep(claimedAt + 1600 - Date.now());
    expect(a.queue.renew('A', [ids[0], ids[1]], 60_000).renewed).toEqual([ids[1]]);
    expect(held()[0].owner).toBe('A');
  });

  it("applyWrites tells which writes the database accepted, and only those count for the writer's run", async () => {
    const { a, b } = await open();
    stores.push(a, b);
    const ids = await a.messages.insertMany([msg(1), msg(2), msg(3)], 0);
    const runA = a.queue.startRun({ owner: 'A', host: 'h', pid: 1, now: 5, leaseMs: 60_000 });
    a.queue.claim({ ...req('A', 10, 3) });
    // B takes the third message's lease (as after a pause of A's longer than its lease)
    a.sqlite.prepare('UPDATE messages SET lease_owner = ? WHERE id = ?').run('B', ids[2]);
    const o = { now: 20, startedAt: 10, provider: 'smtp' as const };
    const accepted = a.queue.applyWrites([
      { op: 'sent', id: ids[0], owner: 'A', attempt: 1, forced: true, outcome: o },
      { op: 'deferred', id: ids[1], owner: 'A', attempt: 1, outcome: { ...o, dueAt: 99, reason: 'later' } },
      { op: 'sent', id: ids[2], owner: 'A', attempt: 1, outcome: o },
    ]);
    expect(accepted).toEqual([true, true, false]);
    const run = a.sqlite
      .prepare('SELECT sent, deferred, failed, forced, heartbeat_at AS heartbeatAt FROM distributor_runs WHERE id = ?')
      .get(runA) as RunCounts & { heartbeatAt: number };
    expect([run.sent, run.deferred, run.failed, run.forced]).toEqual([1, 1, 0, 1]);
    expect(run.heartbeatAt).toBeGreaterThan(0);
    expect(a.queue.heldBy('B')).toMatchObject({ count: 1 });
    expect(a.queue.heldBy('A')).toEqual({ count: 0, firstExpiresAt: null, lastExpiresAt: null });
  });

  it('takes the leases of dead owners at once, and gives back unsent claims without counting them', async () => {
    const { a } = await open();
    stores.push(a);
    await a.messages.insertMany([msg(1), msg(2), msg(3)], 0);
    const first = a.queue.claim(req('host:1:dead', 10, 3)).claimed;
    expect(first).toHaveLength(3);
    const r = a.queue.claim({ ...req('host:2:live', 20, 1), deadOwners: ['host:1:dead'] });
    expect(r.reclaimed).toHaveLength(3);
    expect(r.claimed).toHaveLength(1);
    expect(r.claimed[0].attempts).toBe(2);
    expect(a.queue.giveBackAll('host:2:live', 30, 'stopping')).toBe(1);
    const back = (await a.messages.get(r.claimed[0].id))!;
    expect(back.status).toBe('pending');
    expect(back.attempts).toBe(1);
    // a message claimed for the first time and given back uncounted has no first attempt
    const [fresh] = await a.messages.insertMany([msg(4)], 40);
    a.queue.claim({ ...req('X', 50, 10) });
    a.queue.applyWrites([
      { op: 'giveBack', owner: 'X', ids: [fresh], attempts: [1], opts: { now: 60, uncount: true, reason: 'run stopped' } },
    ]);
    const f = (await a.messages.get(fresh))!;
    expect([f.status, f.attempts, f.firstAttemptAt]).toEqual(['pending', 0, null]);
  });

  it('two distributors on one file share the throttle window', async () => {
    const { a, b } = await open();
    stores.push(a, b);
    await a.messages.insertMany(
      Array.from({ length: 100 }, (_, i) => msg(i)),
      0,
    );
    let now = 1000;
    const sendTimes: number[] = [];
    const forcedTimes: number[] = [];
    // both claim alternately every 5 s for 5 minutes, limit 10/min
    for (let step = 0; step < 60; step++, now += 5000) {
      for (const [s, owner] of [
        [a, 'A'],
        [b, 'B'],
      ] as const) {
        const r = s.queue.claim(req(owner, now, 4, 10));
        for (const m of r.claimed) {
          (m.forcedSend ? forcedTimes : sendTimes).push(now);
          expect(
            s.queue.applyWrites([
              { op: 'sent', id: m.id, owner: owner, attempt: m.attempts, outcome: { now, startedAt: now, provider: 'smtp' } },
            ])[0],
          ).toBe(true);
        }
        for (const t of r.throttled) {
          expect(t.until).toBeGreaterThan(now);
          expect(t.until - now).toBeLessThanOrEqual(THROTTLE_WINDOW_MS);
        }
      }
    }
    sendTimes.sort((x, y) => x - y);
    for (let i = 0; i < sendTimes.length; i++) {
      const inWindow = sendTimes.filter((t) => t >= sendTimes[i] && t < sendTimes[i] + THROTTLE_WINDOW_MS).length;
      expect(inWindow).toBeLessThanOrEqual(10);
    }
    // 5 minutes at 10/min: about 50 unforced; each store alone would have allowed twice that
    expect(sendTimes.length).toBeGreaterThanOrEqual(40);
    expect(sendTimes.length).toBeLessThanOrEqual(60);
    const throttled = a.sqlite.prepare('SELECT max(deferrals) FROM messages').pluck().get() as number;
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThanOrEqual(10);
  });

  it('hold, release, retry and delete check every id first', async () => {
    const { a } = await open();
    stores.push(a);
    const ids = await a.messages.insertMany([msg(1), msg(2), msg(3)], 0);
    expect(a.queue.change('hold', { ids: [ids[0], 999] }, { now: 5 })).toMatchObject({ changed: [], missing: [999] });
    expect((await a.messages.get(ids[0]))!.status).toBe('pending');
    expect(a.queue.change('hold', { ids: [ids[0], ids[1]] }, { now: 5 }).changed).toEqual([ids[0], ids[1]]);
    expect(a.queue.claim(req('A', 10, 10)).claimed.map((m) => m.id)).toEqual([ids[2]]);
    expect(a.queue.change('delete', { ids: [ids[2]] }, { now: 0 }).refused).toEqual([{ id: ids[2], status: 'sending' }]);
    expect(
      a.queue.applyWrites([
        {
          op: 'failed',
          id: ids[2],
          owner: 'A',
          attempt: 1,
          outcome: { now: 11, startedAt: 10, provider: 'smtp', failure: { responseCode: 550, response: '550 5.1.1 no such user' } },
        },
      ])[0],
    ).toBe(true);
    expect(a.queue.change('retry', { ids: [ids[2]] }, { now: 20 }).changed).toEqual([ids[2]]);
    const retried = (await a.messages.get(ids[2]))!;
    expect([retried.status, retried.attempts, retried.dueAt]).toEqual(['pending', 0, 20]);
    expect(a.queue.change('release', { ids: [ids[0]] }, { now: 30 }).changed).toEqual([ids[0]]);
    expect(a.queue.change('delete', { ids: [ids[1]] }, { now: 0 }).changed).toEqual([ids[1]]);
    expect(await a.messages.get(ids[1])).toBeUndefined();
    expect(a.queue.counts()).toMatchObject({ pending: 2, held: 0 });
  });

  it('history: newest first, failed filter, recipient filter; retention deletes in batches', async () => {
    const { a } = await open();
    stores.push(a);
    const ids = await a.messages.insertMany(
      Array.from({ length: 1200 }, (_, i) => msg(i)),
      1000,
    );
    a.sqlite.prepare("UPDATE messages SET status = 'sent', created_at = id WHERE id <= 1100").run();
    a.sqlite
      .prepare(
        "UPDATE messages SET status = 'failed', created_at = id, last_error = '{\"responseCode\":550}' WHERE id > 1100 AND id <= 1150",
      )
      .run();
    const failed = await a.history.list({ failed: true, limit: 5 });
    expect(failed.map((r) => r.id)).toEqual([1150, 1149, 1148, 1147, 1146]);
    expect(failed[0].lastError).toEqual({ responseCode: 550 });
    expect((await a.history.list({ to: 'U7@EXAMPLE.com', limit: 10 })).map((r) => r.id)).toEqual([ids[7]]);
    const r = await a.history.purgeBatch(1101, 500);
    expect(r.deleted).toBe(500);
    expect((await a.history.purgeBatch(1101, 500)).deleted).toBe(500);
    expect((await a.history.purgeBatch(1101, 500)).deleted).toBe(100);
    expect((await a.history.purgeBatch(1101, 500)).deleted).toBe(0);
    expect(a.queue.counts()).toMatchObject({ sent: 0, failed: 50, pending: 50 });
  });
});
