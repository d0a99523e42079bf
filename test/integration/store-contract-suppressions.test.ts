/**
 * The store contract for the suppression list and bounces, on SQLite and PostgreSQL: written against
 * the ports only, as the main contract suite.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BounceRecord, ClaimRequest, Store } from '../../src/store/ports.js';
import { storeBackends } from '../helpers/store-backends.js';
import { queuedMessage as msg } from '../helpers/store-fixtures.js';

const BACKENDS = await storeBackends('suppress');

const req = (owner: string, now: number, max: number): ClaimRequest => ({
  owner,
  now,
  leaseMs: 60_000,
  max,
  providerOf: () => 'smtp',
  limitOf: () => 0,
});

describe.each(BACKENDS)('store contract, suppression list: $name', (backend) => {
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

  it('adds, finds (domain in any case, mailbox as given), expires, renews without shortening, and removes', async () => {
    const [a, b] = await two();
    expect(
      await a.suppressions.add(
        [
          { address: 'Ann@Example.COM', reason: 'asked to stop', source: 'manual' },
          { address: 'full@example.com', reason: '552 5.2.2 over quota', source: 'refusal', messageId: null, expiresAt: 1000 },
        ],
        10,
      ),
    ).toBe(2);
    expect((await b.suppressions.find(['Ann@example.com'], 20)).map((r) => r.address)).toEqual(['Ann@example.com']);
    expect(await b.suppressions.find(['ann@example.com'], 20)).toEqual([]);
    expect((await b.suppressions.list(20)).map((r) => [r.address, r.source, r.expiresAt])).toEqual([
      ['Ann@example.com', 'manual', null],
      ['full@example.com', 'refusal', 1000],
    ]);
    // past its expiry an entry is not in effect, and a new one replaces it
    expect((await b.suppressions.list(1000)).map((r) => r.address)).toEqual(['Ann@example.com']);
    // a lasting entry is not shortened by one that expires; a lasting one replaces it
    await a.suppressions.add([{ address: 'Ann@example.com', reason: 'soft', source: 'refusal', expiresAt: 5000 }], 30);
    expect((await b.suppressions.find(['Ann@example.com'], 40))[0]).toMatchObject({ reason: 'asked to stop', expiresAt: null });
    await a.suppressions.add([{ address: 'Ann@example.com', reason: '550 5.1.1 unknown', source: 'bounce', messageId: 7 }], 50);
    expect((await b.suppressions.find(['Ann@example.com'], 60))[0]).toMatchObject({
      reason: '550 5.1.1 unknown',
      source: 'bounce',
      messageId: 7,
      createdAt: 50,
    });
    expect(await b.suppressions.remove('Ann@EXAMPLE.com')).toBe(true);
    expect(await b.suppressions.remove('Ann@example.com')).toBe(false);
    expect((await a.suppressions.list(60)).map((r) => r.address)).toEqual(['full@example.com']);
  });

  it('a claim fails messages to a suppressed recipient (reason suppressed, counted failed) and hands out the rest', async () => {
    const [a, b] = await two();
    const ids = await a.messages.insertMany([msg(1), msg(2, { cc: ['Two <u2b@EXAMPLE.com>'] }), msg(3)], 0);
    await a.suppressions.add([{ address: 'u2b@example.com', reason: '550 5.1.1 unknown', source: 'bounce', messageId: 1 }], 0);
    await b.runs.startRun({ owner: 'B', host: 'h', pid: 1, now: 5 });
    const r = await b.messages.claim(req('B', 10, 10));
    expect(r.claimed.map((m) => m.id)).toEqual([ids[0], ids[2]]);
    expect(r.suppressed).toEqual([ids[1]]);
    const m = (await a.messages.get(ids[1]))!;
    expect([m.status, m.deferralReason, m.lastError?.code, m.leaseOwner]).toEqual(['failed', 'suppressed', 'SUPPRESSED', null]);
    expect(m.lastError?.response).toContain('u2b@example.com');
    expect((await a.messages.attempts(ids[1])).map((x) => x.outcome)).toEqual(['failed']);
    expect((await a.runs.lastRun())?.failed).toBe(1);
  });

  it('a write that refuses recipients for good adds them to the list, only when the database accepts it', async () => {
    const [a, b] = await two();
    const [id] = await a.messages.insertMany([msg(1, { to: ['x@example.com', 'y@example.com'] })], 0);
    await a.messages.claim(req('A', 10, 1));
    const entry = { address: 'y@example.com', reason: '550 5.1.1 unknown', source: 'refusal' as const, messageId: id };
    const outcome = { now: 20, startedAt: 19, provider: 'smtp' as const };
    expect(await b.messages.applyWrites([{ op: 'sent', id, owner: 'B', attempt: 1, outcome, suppress: [entry] }])).toEqual([false]);
    expect(await a.suppressions.list(30)).toEqual([]);
    expect(await a.messages.applyWrites([{ op: 'sent', id, owner: 'A', attempt: 1, outcome, suppress: [entry] }])).toEqual([true]);
    expect((await b.suppressions.list(30)).map((r) => [r.address, r.messageId, r.source])).toEqual([['y@example.com', id, 'refusal']]);
  });

  it('records a bounce once: an attempt with the remote words, a final one fails the message and suppresses the recipient', async () => {
    const [a, b] = await two();
    const [id] = await a.messages.insertMany([msg(1, { messageId: '<abc@example.com>' })], 0);
    await a.messages.claim(req('A', 10, 1));
    await a.messages.applyWrites([{ op: 'sent', id, owner: 'A', attempt: 1, outcome: { now: 20, startedAt: 19, provider: 'smtp' } }]);
    expect(await b.suppressions.messageByMessageId('<abc@example.com>')).toBe(id);
    expect(await b.suppressions.messageByMessageId('<other@example.com>')).toBeUndefined();
    const bounce: BounceRecord = {
      reportKey: '<dsn1@mx>',
      messageId: id,
      recipient: 'u1@example.com',
      action: 'failed',
      status: '5.1.1',
      failure: { code: 'BOUNCED', enhancedCode: '5.1.1', responseCode: 550, response: 'mx.example.com: 550 5.1.1 User unknown' },
      diagnosis: 'RECIPIENT_UNKNOWN',
      at: 100,
      final: true,
      suppress: { address: 'u1@example.com', reason: '5.1.1 User unknown', source: 'bounce', messageId: id },
    };
    expect(await a.suppressions.recordBounce(bounce, 200)).toBe('recorded');
    expect(await b.suppressions.recordBounce(bounce, 300)).toBe('duplicate');
    expect(await b.suppressions.recordBounce({ ...bounce, messageId: id + 99 }, 300)).toBe('missing');
    const m = (await b.messages.get(id))!;
    expect([m.status, m.diagnosis, m.lastError?.enhancedCode]).toEqual(['failed', 'RECIPIENT_UNKNOWN', '5.1.1']);
    const attempts = await b.messages.attempts(id);
    expect(attempts.map((x) => [x.outcome, x.enhancedCode, x.responseCode])).toEqual([
      ['sent', null, null],
      ['bounced', '5.1.1', 550],
    ]);
    expect((await a.suppressions.list(300)).map((r) => [r.address, r.source, r.messageId])).toEqual([['u1@example.com', 'bounce', id]]);
    // a delay is recorded, changes no status and suppresses nobody
    expect(
      await a.suppressions.recordBounce(
        { ...bounce, reportKey: '<dsn2@mx>', action: 'delayed', status: '4.2.2', final: false, suppress: undefined },
        400,
      ),
    ).toBe('recorded');
    expect((await b.messages.attempts(id)).length).toBe(3);
  });
});
