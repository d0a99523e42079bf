import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SysemailError } from '../../src/core/errors.js';
import { Store } from '../../src/store/index.js';
import { BODY_APART_CHARS } from '../../src/store/messages.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { InlineLane, ThreadLane, type ClaimSpec, type QueueLane } from '../../src/app/distributor/lanes/index.js';
import { laneError } from '../../src/app/distributor/lanes/protocol.js';
import { SentMarks } from '../../src/store/sqlite/sent-marks.js';
import { queuedMessage as msg } from '../helpers/store-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-lane-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
// the compiled worker script: `npm test` builds first
const WORKER_SCRIPT = new URL('../../dist/app/distributor/lanes/worker.js', import.meta.url);

let n = 0;
const fresh = async () => (await Store.open(path.join(dir, `l${++n}.db`)))!;

const spec = (now: number, max: number): ClaimSpec => ({ owner: 'host:1:a', now, leaseMs: 60_000, max, batchProvider: 'smtp', limits: {} });

describe('bodies kept apart from the message row', () => {
  const long = 'L'.repeat(BODY_APART_CHARS + 1);

  it('stores a long body apart and a short one inline, and every read gives the body back', async () => {
    const s = await fresh();
    const [shortId, longId] = await s.messages.insertMany([msg(1), msg(2, { text: long, html: `<p>${long}</p>` })], 1000);
    const raw = s.sqlite.prepare('SELECT id, body_apart, text_body, html_body FROM messages ORDER BY id').all();
    expect(raw).toEqual([
      { id: shortId, body_apart: 0, text_body: 'hi', html_body: null },
      { id: longId, body_apart: 1, text_body: null, html_body: null },
    ]);
    expect(s.sqlite.prepare('SELECT message_id, length(text_body) AS t FROM message_bodies').all()).toEqual([
      { message_id: longId, t: long.length },
    ]);

    expect((await s.messages.get(longId))!.html).toBe(`<p>${long}</p>`);
    expect(s.queue.list({ limit: 10 }).map((m) => m.text)).toEqual(['hi', long]);
    const claimed = s.queue.claim({ owner: 'o', now: 2000, leaseMs: 60_000, max: 10, providerOf: () => 'smtp', limitOf: () => 0 }).claimed;
    expect(claimed.map((m) => [m.id, m.text])).toEqual([
      [shortId, 'hi'],
      [longId, long],
    ]);
    await s.close();
  });

  it('deleting a message deletes its body', async () => {
    const s = await fresh();
    const [id] = await s.messages.insertMany([msg(1, { text: long })], 1000);
    s.queue.change('hold', { ids: [id] }, { now: 1500 });
    expect(s.queue.change('delete', { ids: [id] }, { now: 0 }).changed).toEqual([id]);
    expect(s.sqlite.prepare('SELECT count(*) FROM message_bodies').pluck().get()).toBe(0);
    await s.close();
  });

  it('a database of the first schema is migrated in place and its messages read as before', async () => {
    const file = path.join(dir, 'v1.db');
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.exec(MIGRATIONS[0]);
    raw.prepare("INSERT INTO meta (key, value) VALUES ('db_id', 'abc'), ('created_at', '1')").run();
    raw
      .prepare(
        `INSERT INTO messages (status, from_addr, to_addrs, subject, text_body, created_at, due_at, updated_at) VALUES ('pending', 'a@example.com', '["b@example.com"]', 's', ?, 1, 1, 1)`,
      )
      .run(long);
    raw.pragma('user_version = 1');
    raw.close();
    const s = (await Store.open(file))!;
    expect(s.sqlite.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect((await s.messages.get(1))!.text).toBe(long);
    await s.close();
  });
});

describe.each([
  ['inline', (s: Store) => Promise.resolve(new InlineLane(s.queue, 4))],
  ['worker thread', (s: Store) => ThreadLane.open(s.file, WORKER_SCRIPT)],
] as const)('%s lane', (_name, openLane) => {
  it('applies writes in order before the next claim, and settle makes them visible', async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1), msg(2, { text: 'x'.repeat(5000) }), msg(3)], 1000);
    const lane: QueueLane = await openLane(s);
    try {
      const first = await lane.claim(spec(2000, 2));
      expect(first.claimed.map((m) => m.subject)).toEqual(['m1', 'm2']);
      expect(first.claimed[1].text).toHaveLength(5000);
      const [a, b] = first.claimed;
      lane.write({
        op: 'sent',
        id: a.id,
        owner: 'host:1:a',
        attempt: 1,
        outcome: { now: 2100, startedAt: 2000, provider: 'smtp', response: '250 ok' },
      });
      lane.write({ op: 'giveBack', owner: 'host:1:a', ids: [b.id], attempts: [1], opts: { now: 2100, uncount: true, reason: 'stopped' } });
      // the give-back is applied before this claim, so b is due again and taken with m3
      const second = await lane.claim(spec(2200, 5));
      expect(second.claimed.map((m) => m.subject).sort()).toEqual(['m2', 'm3']);
      lane.write({
        op: 'failed',
        id: b.id,
        owner: 'host:1:a',
        attempt: 1,
        outcome: { now: 2300, startedAt: 2200, provider: 'smtp', failure: { provider: 'smtp', responseCode: 550, response: '550 no' } },
      });
      await lane.settle();
      expect(s.queue.counts()).toMatchObject({ sent: 1, failed: 1, sending: 1 });
      const attempts = await s.messages.attempts(a.id);
      expect(attempts.map((x) => [x.outcome, x.response])).toEqual([['sent', '250 ok']]);
    } finally {
      await lane.close();
      await s.close();
    }
  });

  it('a sent record is at risk only until it is recorded or marked sent, and record() waits for that', async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1), msg(2), msg(3)], 1000);
    const lane: QueueLane = await openLane(s);
    try {
      const claimed = (await lane.claim(spec(2000, 3))).claimed;
      const o = { now: 2100, startedAt: 2000, provider: 'smtp' as const };
      lane.write({ op: 'sent', id: claimed[0].id, owner: 'host:1:a', attempt: 1, outcome: o });
      lane.write({ op: 'sent', id: claimed[1].id, owner: 'host:1:a', attempt: 1, outcome: o });
      const marks = SentMarks.open(s.file, false);
      if (lane.kind === 'thread') {
        // marked before write() returned: no pause can have another run send them
        expect(lane.unrecorded()).toBe(0);
        expect([marks!.get(claimed[0].id, 'host:1:a', 1)?.owner, marks!.get(claimed[1].id, 'host:1:a', 1)?.owner]).toEqual([
          'host:1:a',
          'host:1:a',
        ]);
      } else {
        expect(lane.unrecorded()).toBe(2 - s.queue.counts().sent);
      }
      await lane.record();
      expect(lane.unrecorded()).toBe(0);
      lane.write({ op: 'sent', id: claimed[2].id, owner: 'host:1:a', attempt: 1, outcome: o });
      await lane.settle();
      expect(s.queue.counts()).toMatchObject({ sent: 3, sending: 0 });
      // recorded: their marks are gone
      for (const m of claimed) expect(marks?.get(m.id, 'host:1:a', 1)).toBeUndefined();
      marks?.close();
    } finally {
      await lane.close();
      await s.close();
    }
  });

  it('counts only the writes the database accepted, and renews only the leases still held', async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1), msg(2), msg(3), msg(4)], 1000);
    const lane: QueueLane = await openLane(s);
    try {
      const [a, b, c, d] = (await lane.claim(spec(2000, 4))).claimed;
      // another run took c and d meanwhile (this one was paused past its lease)
      s.sqlite.prepare("UPDATE messages SET lease_owner = 'host:2:b' WHERE id IN (?, ?)").run(c.id, d.id);
      const o = { now: 2100, startedAt: 2000, provider: 'smtp' as const };
      lane.write({ op: 'sent', id: a.id, owner: 'host:1:a', attempt: 1, forced: true, outcome: o });
      lane.write({ op: 'sent', id: c.id, owner: 'host:1:a', attempt: 1, outcome: o });
      expect((await lane.renew('host:1:a', [b.id, c.id, d.id], 60_000)).sort()).toEqual([b.id]);
      lane.write({
        op: 'failed',
        id: b.id,
        owner: 'host:1:a',
        attempt: 1,
        outcome: { ...o, failure: { provider: 'smtp', responseCode: 550, response: '550 no' } },
      });
      lane.write({ op: 'deferred', id: d.id, owner: 'host:1:a', attempt: 1, outcome: { ...o, dueAt: 9999, reason: 'later' } });
      await lane.settle();
      expect(lane.takeCounts()).toEqual({ sent: 1, deferred: 0, failed: 1, forced: 1 });
      expect(lane.takeCounts()).toEqual({ sent: 0, deferred: 0, failed: 0, forced: 0 });
      expect(s.queue.counts()).toMatchObject({ sent: 1, failed: 1, sending: 2 });
    } finally {
      await lane.close();
      await s.close();
    }
  });

  it('a write the database refuses is reported by the next call, as a database error', async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1)], 1000);
    const lane = await openLane(s);
    try {
      const [m] = (await lane.claim(spec(2000, 1))).claimed;
      // an attempt for a message that does not exist breaks the foreign key
      const bad = () =>
        lane.write({
          op: 'giveBack',
          owner: 'host:1:a',
          ids: [m.id],
          attempts: [1],
          opts: { now: 2100, uncount: true, reason: 'r', attempt: { id: 999_999, now: 2100, startedAt: 2000, provider: 'smtp' } },
        });
      let err: unknown;
      try {
        bad();
        await lane.settle();
      } catch (e) {
        err = e;
      }
      if (_name === 'worker thread') {
        expect(err).toBeInstanceOf(SysemailError);
        expect((err as SysemailError).code).toBe('DB_WRITE_FAILED');
        expect((err as SysemailError).kind).toBe('ioerr');
        // and the lane stays failed
        expect(() =>
          lane.write({ op: 'giveBack', owner: 'host:1:a', ids: [m.id], attempts: [1], opts: { now: 2200, uncount: true, reason: 'r' } }),
        ).toThrow(/cannot write the queue/);
      } else {
        // on this thread the refusal comes straight from SQLite
        expect((err as { code?: string }).code).toMatch(/^SQLITE_CONSTRAINT/);
      }
      // nothing of the refused transaction was kept
      expect(s.queue.counts()).toMatchObject({ sending: 1, pending: 0 });
    } finally {
      await lane.close().catch(() => undefined);
      await s.close();
    }
  });
});

describe('worker thread lane errors', () => {
  it('maps SQLite codes to the contract kinds', () => {
    expect(laneError({ message: 'database is locked', code: 'SQLITE_BUSY' })).toMatchObject({ kind: 'tempfail', code: 'DB_BUSY' });
    expect(laneError({ message: 'disk full', code: 'SQLITE_FULL' })).toMatchObject({ kind: 'ioerr', code: 'DB_WRITE_FAILED' });
    expect(laneError({ message: 'boom' })).toMatchObject({ kind: 'internal', code: 'QUEUE_THREAD_FAILED' });
  });

  it('a database that cannot be opened fails the start, naming the problem', async () => {
    const file = path.join(dir, 'not-a-db.db');
    fs.writeFileSync(file, 'this is not sqlite, just text that is long enough');
    await expect(ThreadLane.open(file, WORKER_SCRIPT)).rejects.toMatchObject({ code: 'DB_NOT_SQLITE' });
  });
});

describe('sent marks (the worker-thread lane marks a sent message before its record)', () => {
  const sent = (id: number, owner: string, attempt = 1) => ({
    op: 'sent' as const,
    id,
    owner,
    attempt,
    outcome: { now: 2100, startedAt: 2000, provider: 'smtp' as const, response: '250 queued' },
  });
  const pause = () => new Promise((resolve) => setTimeout(resolve, 15));
  const runSent = (s: Store, id: number) => s.sqlite.prepare('SELECT sent FROM distributor_runs WHERE id = ?').pluck().get(id);

  it('a message marked sent by its lease holder is recorded sent, never taken back for sending, and its run counts it once', async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1), msg(2), msg(3)], 1000);
    const runA = s.queue.startRun({ owner: 'host:1:a', host: 'host', pid: 1, now: 1500 });
    const [a, b] = s.queue.claim({ ...claimRequestOf('host:1:a'), leaseMs: 1 }).claimed;
    const marks = SentMarks.open(s.file, true)!;
    // a mark counts only for the lease holder's current claim
    marks.mark(sent(a.id, 'host:1:a'));
    marks.mark(sent(b.id, 'host:1:other'));
    await pause(); // every lease of host:1:a has run out (it was paused)
    const taken = s.queue.claim({ ...claimRequestOf('host:2:b'), now: 3000 }).claimed.map((m) => m.id);
    expect(taken.sort()).toEqual([b.id, 3]);
    expect((await s.messages.get(a.id))!.status).toBe('sent');
    expect((await s.messages.attempts(a.id)).map((x) => [x.outcome, x.response])).toEqual([['sent', '250 queued']]);
    expect(runSent(s, runA)).toBe(0);
    // host:1:a goes on: its record is accepted, counted for it once, and adds no second attempt
    expect(s.queue.applyWrites([sent(a.id, 'host:1:a')])).toEqual([true]);
    expect(runSent(s, runA)).toBe(1);
    expect(await s.messages.attempts(a.id)).toHaveLength(1);
    // and only once
    expect(s.queue.applyWrites([sent(a.id, 'host:1:a')])).toEqual([false]);
    expect(runSent(s, runA)).toBe(1);
    // the other run's record of b is its own; host:1:a's record of b (lease gone, never marked) is refused
    expect(s.queue.applyWrites([sent(b.id, 'host:1:a')])).toEqual([false]);
    marks.close();
    await s.close();
  });

  it('a run that gives back all it holds (it stops on an error) records what it marked sent, and gives back only the rest', async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1), msg(2)], 1000);
    const runA = s.queue.startRun({ owner: 'host:1:a', host: 'host', pid: 1, now: 1500 });
    const [a, b] = s.queue.claim(claimRequestOf('host:1:a')).claimed;
    const marks = SentMarks.open(s.file, true)!;
    marks.mark(sent(a.id, 'host:1:a'));
    expect(s.queue.giveBackAll('host:1:a', 3000, 'run stopped')).toBe(1);
    expect([(await s.messages.get(a.id))!.status, (await s.messages.get(b.id))!.status]).toEqual(['sent', 'pending']);
    expect(runSent(s, runA)).toBe(1);
    marks.close();
    await s.close();
  });

  it("an earlier holder's late mark neither replaces the current holder's nor stands for it", async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1)], 1000);
    const [a] = s.queue.claim({ ...claimRequestOf('host:1:a'), leaseMs: 1 }).claimed;
    await pause();
    // host:2:b takes it back (attempt 2), sends it and marks it; then host:1:a, resumed, marks its own send late
    s.queue.claim({ ...claimRequestOf('host:2:b'), now: 3000, leaseMs: 1 });
    const marks = SentMarks.open(s.file, true)!;
    marks.mark(sent(a.id, 'host:2:b', 2));
    marks.mark(sent(a.id, 'host:1:a', 1));
    await pause();
    // host:2:b paused in turn: a third run records it sent from host:2:b's mark, never sends it
    expect(s.queue.claim({ ...claimRequestOf('host:3:c'), now: 4000 }).claimed).toEqual([]);
    expect((await s.messages.get(a.id))!.status).toBe('sent');
    marks.close();
    await s.close();
  });

  it("a dead run's marked messages are recorded sent for that run by the next claim, never sent again", async () => {
    const s = await fresh();
    await s.messages.insertMany([msg(1), msg(2)], 1000);
    const runId = s.queue.startRun({ owner: 'host:77:dead', host: 'host', pid: 77, now: 1500 });
    const [a, b] = s.queue.claim(claimRequestOf('host:77:dead')).claimed;
    const marks = SentMarks.open(s.file, true)!;
    marks.mark(sent(a.id, 'host:77:dead'));
    // the process is gone (kill -9 after the send, before the record)
    const next = s.queue.claim({ ...claimRequestOf('host:2:b'), now: 3000, deadOwners: ['host:77:dead'] });
    expect(next.claimed.map((m) => m.id)).toEqual([b.id]);
    expect((await s.messages.get(a.id))!.status).toBe('sent');
    expect((await s.messages.attempts(a.id)).map((x) => [x.outcome, x.response])).toEqual([['sent', '250 queued']]);
    expect(runSent(s, runId)).toBe(1);
    expect(marks.get(a.id, 'host:77:dead', 1)).toBeUndefined();
    marks.close();
    await s.close();
  });
});

function claimRequestOf(owner: string) {
  return { owner, now: 2000, leaseMs: 60_000, max: 10, providerOf: () => 'smtp' as const, limitOf: () => 0 };
}
