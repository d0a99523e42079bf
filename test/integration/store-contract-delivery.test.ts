/**
 * The store contract for idempotency keys, due times, expiry and priorities, run on every backend:
 * a key is stored once (also by connections racing), a reused key is told apart by its digest, a key
 * past its window is free again; claims take higher priorities first and fail expired messages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXPIRED_REASON } from '../../src/core/delivery.js';
import type { ClaimRequest, NewMessage, Store } from '../../src/store/ports.js';
import { MESSAGES_PER_CHUNK } from '../../src/store/pg/insert-once.js';
import { KEYS_PER_LOOKUP } from '../../src/store/sqlite/messages.js';
import { storeBackends } from '../helpers/store-backends.js';
import { queuedMessage as msg } from '../helpers/store-fixtures.js';

const BACKENDS = await storeBackends('delivery');

const req = (owner: string, now: number, max: number): ClaimRequest => ({
  owner,
  now,
  leaseMs: 60_000,
  max,
  providerOf: () => 'smtp',
  limitOf: () => 0,
});

const keyed = (i: number, key: string, digest: string, extra: Partial<NewMessage> = {}) =>
  ({ ...msg(i, extra), idempotencyKey: key, idempotencyDigest: digest }) as NewMessage & {
    idempotencyKey: string;
    idempotencyDigest: string;
  };

const HOUR = 3_600_000;

describe.each(BACKENDS)('store contract, delivery: $name', (backend) => {
  const open: Store[] = [];
  async function connections(n: number): Promise<Store[]> {
    const db = await backend.database();
    const out: Store[] = [];
    for (let i = 0; i < n; i++) out.push(await db.connect());
    open.push(...out);
    return out;
  }
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  it('a key is stored once: the same message again answers the first id, another message is told apart', async () => {
    const [a, b] = await connections(2);
    const first = await a.messages.insertOnce(keyed(1, 'K', 'd1'), 10 * HOUR, 0);
    expect(first.duplicate).toBe(false);
    expect(await b.messages.insertOnce(keyed(2, 'K', 'd1'), 11 * HOUR, 0)).toEqual({ id: first.id, duplicate: true, sameMessage: true });
    expect(await b.messages.insertOnce(keyed(3, 'K', 'other'), 11 * HOUR, 0)).toEqual({
      id: first.id,
      duplicate: true,
      sameMessage: false,
    });
    expect((await a.messages.counts()).pending).toBe(1);
    expect((await a.messages.get(first.id))!.idempotencyKey).toBe('K');
  });

  it('connections racing with one key store one message and all answer its id', async () => {
    const stores = await connections(5);
    const results = await Promise.all(stores.map((s, i) => s.messages.insertOnce(keyed(i, 'race', 'd'), 10 * HOUR, 0)));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect((await stores[0].messages.counts()).pending).toBe(1);
  });

  it('a key whose first message is older than the window is free again; the old message keeps its history', async () => {
    const [a] = await connections(1);
    const old = await a.messages.insertOnce(keyed(1, 'K', 'd'), 1 * HOUR, 0);
    const again = await a.messages.insertOnce(keyed(2, 'K', 'd'), 30 * HOUR, 30 * HOUR - 24 * HOUR);
    expect(again.duplicate).toBe(false);
    expect(again.id).not.toBe(old.id);
    expect((await a.messages.get(old.id))!.idempotencyKey).toBeNull();
    expect((await a.messages.get(again.id))!.idempotencyKey).toBe('K');
  });

  it('insertManyOnce skips keys already held, before or earlier in the list, and refuses another message with one', async () => {
    const [a] = await connections(1);
    const held = await a.messages.insertOnce(keyed(0, 'held', 'd0'), HOUR, 0);
    const list: NewMessage[] = [msg(1), keyed(2, 'held', 'd0'), keyed(3, 'new', 'd3'), keyed(4, 'new', 'd3'), msg(5)];
    for (let i = 6; i < 120; i++) list.push(i % 2 ? msg(i) : keyed(i, `k${i}`, `d${i}`));
    const refuse = (_m: NewMessage, firstId: number) => new Error(`refused, first ${firstId}`);
    const r = await a.messages.insertManyOnce(list, HOUR, 0, refuse);
    expect(r).toHaveLength(list.length);
    expect(r[1]).toEqual({ id: held.id, duplicate: true, sameMessage: true });
    expect(r[3]).toEqual({ id: r[2].id, duplicate: true, sameMessage: true });
    expect(r.filter((x) => !x.duplicate)).toHaveLength(list.length - 2);
    expect((await a.messages.counts()).pending).toBe(1 + list.length - 2);
    const before = (await a.messages.counts()).pending;
    await expect(a.messages.insertManyOnce([msg(200), keyed(201, 'new', 'changed')], HOUR, 0, refuse)).rejects.toThrow(
      `refused, first ${r[2].id}`,
    );
    expect((await a.messages.counts()).pending).toBe(before);
  });

  // the messages are read a chunk ahead and their keys looked up together: the cases at and across its edges
  const chunk = backend.name === 'sqlite' ? KEYS_PER_LOOKUP : MESSAGES_PER_CHUNK;

  it('insertManyOnce over several look-up chunks: repeats across and inside chunks, held keys in the middle, an old key taken over', async () => {
    const [a] = await connections(1);
    const old = await a.messages.insertOnce(keyed(0, 'old', 'd-old'), 1 * HOUR, 0);
    const held = await a.messages.insertOnce(keyed(0, 'held', 'd-held'), 20 * HOUR, 0);
    const now = 30 * HOUR;
    const since = now - 24 * HOUR;
    const list: NewMessage[] = [];
    for (let i = 0; i < 2 * chunk + 200; i++) list.push(i % 3 === 0 ? msg(i) : keyed(i, `k${i}`, `d${i}`));
    // a key first in the first chunk, again at the last place of it, at the first of the next and in the third
    const across = [10, chunk - 1, chunk, 2 * chunk + 5];
    for (const i of across) list[i] = keyed(i, 'across', 'd-across');
    // the same key twice in a row inside a chunk, and on both sides of a fifty-message batch of SQLite
    for (const i of [chunk + 49, chunk + 50, chunk + 51]) list[i] = keyed(i, 'inside', 'd-inside');
    // a key stored before the import, in the middle of a chunk and at the start of another
    for (const i of [chunk / 2, 2 * chunk]) list[i] = keyed(i, 'held', 'd-held');
    // a key whose holder is past the window: stored anew, then a repeat of it
    for (const i of [chunk + 100, 2 * chunk + 100]) list[i] = keyed(i, 'old', 'd-old');

    const refuse = (_m: NewMessage, firstId: number, at: number) => new Error(`refused ${at}, first ${firstId}`);
    const r = await a.messages.insertManyOnce(list, now, since, refuse);
    expect(r).toHaveLength(list.length);
    expect(r[across[0]].duplicate).toBe(false);
    for (const i of across.slice(1)) expect(r[i]).toEqual({ id: r[across[0]].id, duplicate: true, sameMessage: true });
    expect(r[chunk + 49].duplicate).toBe(false);
    for (const i of [chunk + 50, chunk + 51]) expect(r[i]).toEqual({ id: r[chunk + 49].id, duplicate: true, sameMessage: true });
    for (const i of [chunk / 2, 2 * chunk]) expect(r[i]).toEqual({ id: held.id, duplicate: true, sameMessage: true });
    expect(r[chunk + 100].duplicate).toBe(false);
    expect(r[chunk + 100].id).not.toBe(old.id);
    expect(r[2 * chunk + 100]).toEqual({ id: r[chunk + 100].id, duplicate: true, sameMessage: true });

    const duplicates = across.length - 1 + 2 + 2 + 1;
    const stored = r.filter((x) => !x.duplicate).map((x) => x.id);
    expect(stored).toHaveLength(list.length - duplicates);
    // new ids, in the order of the list
    expect(stored).toEqual([...stored].sort((x, y) => x - y));
    expect(new Set(stored).size).toBe(stored.length);
    expect(stored).not.toContain(held.id);
    expect((await a.messages.counts()).pending).toBe(2 + stored.length);
    expect((await a.messages.get(old.id))!.idempotencyKey).toBeNull();
    expect((await a.messages.get(r[chunk + 100].id))!.idempotencyKey).toBe('old');
    const last = (await a.messages.get(stored[stored.length - 1]))!;
    expect([last.subject, last.idempotencyKey]).toEqual([`m${list.length - 1}`, `k${list.length - 1}`]);

    // the same list again: every keyed message answers its first id, only the unkeyed ones are stored
    const again = await a.messages.insertManyOnce(list, now, since, refuse);
    list.forEach((m, i) => {
      if (m.idempotencyKey === undefined) expect(again[i].duplicate).toBe(false);
      else expect(again[i]).toEqual({ id: r[i].id, duplicate: true, sameMessage: true });
    });
  });

  it('insertManyOnce stores every column and the attachments of the messages it stores in a chunk', async () => {
    const [a] = await connections(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-contract-attach-'));
    try {
      const file = path.join(dir, 'report.txt');
      fs.writeFileSync(file, 'quarterly figures');
      const attachments = [{ filename: 'report.txt', path: file, contentType: 'text/plain', size: 17 }];
      const full = keyed(1, 'full', 'd-full', {
        cc: ['c@example.com'],
        bcc: ['b@example.com'],
        replyTo: 'r@example.com',
        html: '<p>hi</p>',
        headers: { 'X-Job': '7' },
        userId: 'ann',
        sizeBytes: 1234,
        dueAt: 5 * HOUR,
        expiresAt: 9 * HOUR,
        priority: -1,
        attachments,
      });
      const r = await a.messages.insertManyOnce([msg(0), full, keyed(2, 'full', 'd-full', { attachments })], HOUR, 0, () => new Error('x'));
      expect(r[2]).toEqual({ id: r[1].id, duplicate: true, sameMessage: true });
      const m = (await a.messages.get(r[1].id))!;
      expect(m).toMatchObject({
        status: 'pending',
        from: 'app@example.com',
        to: ['u1@example.com'],
        cc: ['c@example.com'],
        bcc: ['b@example.com'],
        replyTo: 'r@example.com',
        subject: 'm1',
        text: 'hi',
        html: '<p>hi</p>',
        headers: { 'X-Job': '7' },
        userId: 'ann',
        sizeBytes: 1234,
        createdAt: HOUR,
        dueAt: 5 * HOUR,
        expiresAt: 9 * HOUR,
        priority: -1,
        attempts: 0,
        idempotencyKey: 'full',
      });
      expect(m.attachments.map((x) => x.filename)).toEqual(['report.txt']);
      if (a.messages.attachmentContents) {
        expect((await a.messages.attachmentContents(r[1].id)).map((x) => [x.filename, x.content.toString('utf8')])).toEqual([
          ['report.txt', 'quarterly figures'],
        ]);
        expect(await a.messages.attachmentContents(r[0].id)).toEqual([]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two insertManyOnce racing with the same keys store each key once, and both answer its id', async () => {
    const [a, b] = await connections(2);
    const list = Array.from({ length: chunk + 50 }, (_, i) => (i % 5 === 0 ? msg(i) : keyed(i, `race${i}`, `d${i}`)));
    const refuse = (_m: NewMessage, firstId: number) => new Error(`refused, first ${firstId}`);
    const [ra, rb] = await Promise.all([
      a.messages.insertManyOnce(list, HOUR, 0, refuse),
      b.messages.insertManyOnce(list, HOUR, 0, refuse),
    ]);
    const keyedCount = list.filter((m) => m.idempotencyKey !== undefined).length;
    list.forEach((m, i) => {
      if (m.idempotencyKey === undefined) return;
      expect(ra[i].id).toBe(rb[i].id);
      expect([ra[i].duplicate, rb[i].duplicate].sort()).toEqual([false, true]);
    });
    expect((await a.messages.counts()).pending).toBe(keyedCount + 2 * (list.length - keyedCount));
  });

  it('insertManyOnce refuses a key of another message wherever it is, naming the first id and the place, and stores nothing', async () => {
    const [a] = await connections(1);
    const held = await a.messages.insertOnce(keyed(0, 'held', 'd-held'), HOUR, 0);
    const before = (await a.messages.counts()).pending;
    const refuse = (_m: NewMessage, firstId: number, at: number) => new Error(`refused ${at}, first ${firstId}`);
    const base = () => Array.from({ length: 2 * chunk + 10 }, (_, i) => (i % 2 ? msg(i) : keyed(i, `k${i}`, `d${i}`)));

    // a held key with another digest in the middle of a chunk
    let list = base();
    list[chunk + chunk / 2] = keyed(chunk + chunk / 2, 'held', 'changed');
    await expect(a.messages.insertManyOnce(list, HOUR, 0, refuse)).rejects.toThrow(`refused ${chunk + chunk / 2}, first ${held.id}`);
    expect((await a.messages.counts()).pending).toBe(before);

    // a key of the list used again with another digest, in the next chunk and in the same chunk: the
    // id named is the one its first message took, within the import that was rolled back
    for (const [first, second] of [
      [4, chunk + 2],
      [chunk + 4, chunk + 8],
    ]) {
      list = base();
      list[first] = keyed(first, 'twice', 'd1');
      list[second] = keyed(second, 'twice', 'd2');
      const error = await a.messages.insertManyOnce(list, HOUR, 0, refuse).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      const [, at, firstId] = /refused (\d+), first (\d+)/.exec((error as Error).message)!;
      expect(Number(at)).toBe(second);
      expect(Number(firstId)).toBeGreaterThan(held.id);
      expect((await a.messages.counts()).pending).toBe(before);
    }
    // and nothing was kept of them: the keys are free
    const ok = await a.messages.insertManyOnce([keyed(1, 'twice', 'd2'), keyed(2, `k${chunk + 4}`, 'x')], HOUR, 0, refuse);
    expect(ok.map((x) => x.duplicate)).toEqual([false, false]);
  });

  it('claims take the highest priority first, then the oldest due, and nothing before it is due', async () => {
    const [a] = await connections(1);
    const ids = await a.messages.insertMany(
      [
        msg(1, { priority: -1, dueAt: 1 }),
        msg(2, { priority: 0, dueAt: 3 }),
        msg(3, { priority: 1, dueAt: 5 }),
        msg(4, { priority: 0, dueAt: 2 }),
        msg(5, { priority: 1, dueAt: 100 }),
      ],
      0,
    );
    const claimed = (await a.messages.claim(req('A', 10, 3))).claimed.map((m) => m.id);
    expect(claimed).toEqual([ids[2], ids[3], ids[1]]);
    expect((await a.messages.claim(req('A', 10, 5))).claimed.map((m) => m.id)).toEqual([ids[0]]);
    expect((await a.messages.claim(req('A', 100, 5))).claimed.map((m) => [m.id, m.priority])).toEqual([[ids[4], 1]]);
  });

  it('a claim fails the due messages past their expiry instead of claiming them, and counts them to the run', async () => {
    const [a] = await connections(1);
    await a.runs.startRun({ owner: 'A', host: 'h', pid: 1, now: 0 });
    const [late, onTime, never] = await a.messages.insertMany(
      [msg(1, { expiresAt: 50 }), msg(2, { expiresAt: 500 }), msg(3, { expiresAt: 20, dueAt: 10 })],
      0,
    );
    const r = await a.messages.claim(req('A', 100, 10));
    expect(r.claimed.map((m) => m.id)).toEqual([onTime]);
    expect(r.expired?.sort()).toEqual([late, never].sort());
    for (const id of [late, never]) {
      const m = (await a.messages.get(id))!;
      expect([m.status, m.deferralReason, m.lastError?.code, m.attempts]).toEqual(['failed', EXPIRED_REASON, 'EXPIRED', 0]);
    }
    expect((await a.runs.lastRun())!.failed).toBe(2);
  });

  it("sent records written together: each is accepted only under its own lease and claim, with its attempt and its run's counts", async () => {
    const [a] = await connections(1);
    await a.runs.startRun({ owner: 'A', host: 'h1', pid: 1, now: 0 });
    await a.runs.startRun({ owner: 'B', host: 'h2', pid: 2, now: 0 });
    const ids = await a.messages.insertMany([msg(1), msg(2), msg(3), msg(4)], 0);
    expect((await a.messages.claim(req('A', 10, 3))).claimed.map((m) => m.id)).toEqual(ids.slice(0, 3));
    expect((await a.messages.claim(req('B', 10, 1))).claimed.map((m) => m.id)).toEqual([ids[3]]);
    const outcome = (messageId?: string) => ({ now: 20, startedAt: 15, provider: 'smtp' as const, response: '250 ok', messageId });
    const accepted = await a.messages.applyWrites([
      { op: 'sent', id: ids[0], owner: 'A', attempt: 1, forced: true, outcome: outcome('<one@example.com>') },
      // an earlier claim's attempt, and another owner's lease: both refused
      { op: 'sent', id: ids[1], owner: 'A', attempt: 2, outcome: outcome() },
      { op: 'sent', id: ids[3], owner: 'A', attempt: 1, outcome: outcome() },
      { op: 'sent', id: ids[2], owner: 'A', attempt: 1, outcome: outcome() },
      { op: 'sent', id: ids[3], owner: 'B', attempt: 1, outcome: outcome() },
    ]);
    expect(accepted).toEqual([true, false, false, true, true]);
    expect((await a.messages.get(ids[0]))!).toMatchObject({
      status: 'sent',
      sentAt: 20,
      sentProvider: 'smtp',
      messageId: '<one@example.com>',
    });
    expect((await a.messages.get(ids[1]))!).toMatchObject({ status: 'sending', leaseOwner: 'A', attempts: 1 });
    expect((await a.messages.get(ids[2]))!.status).toBe('sent');
    expect((await a.messages.get(ids[3]))!.status).toBe('sent');
    const [first] = await a.messages.attempts(ids[0]);
    expect(first).toMatchObject({ outcome: 'sent', startedAt: 15, endedAt: 20, provider: 'smtp', response: '250 ok', leaseOwner: 'A' });
    expect(await a.messages.attempts(ids[1])).toEqual([]);
    expect((await a.messages.attempts(ids[3])).map((x) => [x.outcome, x.leaseOwner])).toEqual([['sent', 'B']]);
    const runs = Object.fromEntries((await a.runs.lastRunPerHost()).map((r) => [r.owner, [r.sent, r.forced]]));
    expect(runs).toEqual({ A: [2, 1], B: [1, 0] });
  });

  it('a failed write may carry its reason', async () => {
    const [a] = await connections(1);
    const [id] = await a.messages.insertMany([msg(1)], 0);
    await a.messages.claim(req('A', 10, 1));
    const outcome = { now: 20, startedAt: 19, provider: 'smtp' as const, failure: { code: 'EXPIRED' }, reason: EXPIRED_REASON };
    expect(await a.messages.applyWrites([{ op: 'failed', id, owner: 'A', attempt: 1, outcome }])).toEqual([true]);
    expect((await a.messages.get(id))!.deferralReason).toBe(EXPIRED_REASON);
  });
});
