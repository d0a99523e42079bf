/** The distributor's lane over the ports, on PostgreSQL: order, grouping, counts of what was accepted, failures surfacing. */
import { afterEach, describe, expect, it } from 'vitest';
import { PortLane } from '../../src/store/pg/lane.js';
import { PgStore } from '../../src/store/pg/store.js';
import type { ClaimRequest, NewMessage } from '../../src/store/ports.js';
import { createTestDatabase, pgAvailable, testServer } from '../helpers/postgres.js';

const available = await pgAvailable();

const msg = (i: number): NewMessage => ({
  status: 'pending',
  provider: null,
  from: 'app@example.com',
  to: [`u${i}@example.com`],
  cc: [],
  bcc: [],
  subject: `m${i}`,
  text: 'hi',
  attachments: [],
});
const req = (owner: string, max: number): ClaimRequest => ({
  owner,
  now: Date.now(),
  leaseMs: 60_000,
  max,
  providerOf: () => 'smtp',
  limitOf: () => 0,
});
const outcome = () => ({ now: Date.now(), startedAt: Date.now(), provider: 'smtp' as const });

describe.skipIf(!available)('PortLane on PostgreSQL', () => {
  const open: PgStore[] = [];
  const store = async () => {
    const s = await PgStore.open((await createTestDatabase((await testServer())!, 'lane')).url);
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  it('applies writes in order, answers those given before a claim before it runs, and counts only what the database accepted', async () => {
    const s = await store();
    const ids = await s.messages.insertMany(
      Array.from({ length: 6 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    const lane = new PortLane(s.messages, 64);
    const first = await lane.claim(req('A', 3));
    expect(first.claimed).toHaveLength(3);
    for (const m of first.claimed) lane.write({ op: 'sent', id: m.id, owner: 'A', attempt: 1, outcome: outcome() });
    // a write for a lease that is not the writer's is refused and counts for nothing
    lane.write({ op: 'sent', id: ids[5], owner: 'someone else', attempt: 1, outcome: outcome() });
    expect(lane.unrecorded()).toBe(4);
    const second = await lane.claim(req('A', 10));
    // the first record went at once, those given while it was on its way after it, and the claim after
    // both: it carries none (its transaction would hold the run's row the records count in)
    expect(second.beforeAccepted).toEqual([]);
    expect(lane.unrecorded()).toBe(0);
    expect(lane.takeCounts()).toEqual({ sent: 3, deferred: 0, failed: 0, forced: 0 });
    expect(second.claimed.map((m) => m.id).sort()).toEqual(ids.filter((id) => !first.claimed.some((m) => m.id === id)).sort());
    lane.write({
      op: 'failed',
      id: second.claimed[0].id,
      owner: 'A',
      attempt: 1,
      outcome: { ...outcome(), failure: { responseCode: 550, response: '550 no' } },
    });
    for (const m of second.claimed.slice(1)) lane.write({ op: 'sent', id: m.id, owner: 'A', attempt: 1, outcome: outcome() });
    await lane.settle();
    expect(lane.unrecorded()).toBe(0);
    expect(lane.takeCounts()).toEqual({ sent: 2, deferred: 0, failed: 1, forced: 0 });
    expect(lane.takeCounts()).toEqual({ sent: 0, deferred: 0, failed: 0, forced: 0 });
    expect(await s.messages.counts()).toMatchObject({ sent: 5, failed: 1, sending: 0 });
    expect(await lane.renew('A', ids, 60_000)).toEqual([]);
  });

  it('a record goes at once when nothing is on its way; those given meanwhile go together after its answer', async () => {
    const s = await store();
    await s.messages.insertMany(
      Array.from({ length: 4 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    const batches: number[] = [];
    const messages = Object.create(s.messages) as typeof s.messages;
    messages.applyWrites = (writes) => {
      batches.push(writes.length);
      return s.messages.applyWrites(writes);
    };
    const lane = new PortLane(messages, 64);
    const { claimed } = await lane.claim(req('A', 4));
    for (const m of claimed) lane.write({ op: 'sent', id: m.id, owner: 'A', attempt: 1, outcome: outcome() });
    expect(lane.unrecorded()).toBe(4);
    await lane.record();
    expect(batches).toEqual([1, 3]);
    expect(lane.unrecorded()).toBe(0);
    expect(lane.takeCounts()).toMatchObject({ sent: 4 });
    expect(await s.messages.counts()).toMatchObject({ sent: 4, sending: 0 });
  });

  it('waiting for some records resolves at the next answer and sends those given meanwhile together, not one by one', async () => {
    const s = await store();
    await s.messages.insertMany(
      Array.from({ length: 6 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    const batches: number[] = [];
    const messages = Object.create(s.messages) as typeof s.messages;
    messages.applyWrites = async (writes) => {
      batches.push(writes.length);
      await new Promise((resolve) => setTimeout(resolve, 30));
      return s.messages.applyWrites(writes);
    };
    const lane = new PortLane(messages, 64);
    const { claimed } = await lane.claim(req('A', 6));
    const sent = (i: number) => lane.write({ op: 'sent', id: claimed[i].id, owner: 'A', attempt: 1, outcome: outcome() });
    sent(0);
    sent(1);
    const some = lane.recordSome();
    sent(2);
    sent(3);
    await some;
    // the first record was answered; the three given while it was on its way went together at once
    expect(batches).toEqual([1, 3]);
    expect(lane.unrecorded()).toBe(3);
    await lane.recordSome();
    expect(batches).toEqual([1, 3]);
    expect(lane.unrecorded()).toBe(0);
    // nothing unanswered: at once
    await lane.recordSome();
    expect(batches).toEqual([1, 3]);
    sent(4);
    sent(5);
    await lane.record();
    expect(batches).toEqual([1, 3, 1, 1]);
    expect(lane.takeCounts()).toMatchObject({ sent: 6 });
    expect(await s.messages.counts()).toMatchObject({ sent: 6, sending: 0 });
  });

  it('a claim never overtakes the records given before it', async () => {
    const s = await store();
    await s.messages.insertMany([msg(1), msg(2), msg(3)], Date.now() - 1000);
    // records that take their time on the way
    const messages = Object.create(s.messages) as typeof s.messages;
    messages.applyWrites = async (writes) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return s.messages.applyWrites(writes);
    };
    const lane = new PortLane(messages, 64);
    const { claimed } = await lane.claim({ ...req('A', 3), leaseMs: 1 });
    // the leases have run out: a claim that overtook the records would take the messages back
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const m of claimed) lane.write({ op: 'sent', id: m.id, owner: 'A', attempt: 1, outcome: outcome() });
    const next = await lane.claim(req('A', 10));
    expect(next.reclaimed).toEqual([]);
    expect(lane.unrecorded()).toBe(0);
    await lane.settle();
    expect(lane.takeCounts()).toMatchObject({ sent: 3 });
    expect(await s.messages.counts()).toMatchObject({ sent: 3, pending: 0, sending: 0 });
  });

  it('records given while a claim is on its way go at once over another connection: a claim never holds them up', async () => {
    const s = await store();
    await s.messages.insertMany(
      Array.from({ length: 4 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    // a claim that takes its time on the way (a busy server, a long transaction)
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const messages = Object.create(s.messages) as typeof s.messages;
    messages.claim = async (r, before) => {
      await held;
      return s.messages.claim(r, before);
    };
    const lane = new PortLane(messages, 64);
    const first = await s.messages.claim(req('A', 2));
    const claiming = lane.claim(req('A', 10));
    for (const m of first.claimed) lane.write({ op: 'sent', id: m.id, owner: 'A', attempt: 1, outcome: outcome() });
    await lane.record();
    expect(lane.unrecorded()).toBe(0);
    expect(await s.messages.counts()).toMatchObject({ sent: 2 });
    release();
    const second = await claiming;
    expect(second.claimed).toHaveLength(2);
    expect(second.beforeAccepted).toEqual([]);
    await lane.settle();
    expect(lane.takeCounts()).toMatchObject({ sent: 2 });
  });

  it('a write the database could not take is thrown by the next call that waits', async () => {
    const s = await store();
    const [id] = await s.messages.insertMany([msg(1)], Date.now() - 1000);
    const lane = new PortLane(s.messages, 64);
    await lane.claim(req('A', 1));
    await s.close();
    lane.write({ op: 'failed', id, owner: 'A', attempt: 1, outcome: outcome() });
    await expect(lane.record()).rejects.toMatchObject({ name: 'SysemailError' });
  });

  it('writes a claim or renewal carries stay unrecorded until the database answers it', async () => {
    const s = await store();
    await s.messages.insertMany(
      Array.from({ length: 4 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    const lane = new PortLane(s.messages, 64);
    const first = await lane.claim(req('A', 3));
    for (const m of first.claimed) lane.write({ op: 'sent', id: m.id, owner: 'A', attempt: 1, outcome: outcome() });
    const claiming = lane.claim(req('A', 1));
    expect(lane.unrecorded()).toBe(3);
    const second = await claiming;
    expect(lane.unrecorded()).toBe(0);
    lane.write({ op: 'sent', id: second.claimed[0].id, owner: 'A', attempt: 1, outcome: outcome() });
    const renewing = lane.renew('A', [second.claimed[0].id], 60_000);
    expect(lane.unrecorded()).toBe(1);
    expect(await renewing).toEqual([]);
    expect(lane.unrecorded()).toBe(0);
    expect(lane.takeCounts()).toMatchObject({ sent: 4 });
  });
});
