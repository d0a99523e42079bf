import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { changeMessages, parseSelection } from '../../src/app/queue.js';
import type { SysemailError } from '../../src/core/errors.js';
import { Store } from '../../src/store/index.js';
import type { NewMessage } from '../../src/store/messages.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-operator-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
const fresh = async () => (await Store.open(path.join(dir, `o${++n}.db`)))!;

function msg(to: string, extra: Partial<NewMessage> = {}): NewMessage {
  return {
    status: 'pending',
    provider: null,
    from: 'app@example.com',
    to: [to],
    cc: [],
    bcc: [],
    subject: 's',
    text: 'hi',
    attachments: [],
    ...extra,
  };
}

const statusOf = (s: Store) =>
  Object.fromEntries(
    (s.sqlite.prepare('SELECT id, status FROM messages ORDER BY id').all() as { id: number; status: string }[]).map((r) => [
      r.id,
      r.status,
    ]),
  );

describe('operator actions by filter', () => {
  it('filters are ANDed, match recipients with display names in To, Cc and Bcc, and compare addresses literally', async () => {
    const s = await fresh();
    const ids = await s.messages.insertMany(
      [
        msg('Ann Lee <ann@example.com>'), // 1
        msg('bob@example.com', { cc: ['"Lee, Ann" <ANN@example.com>'] }), // 2
        msg('bob@example.com', { bcc: ['ann@example.com'] }), // 3
        msg('a_b@example.com'), // 4
        msg('axb@example.com'), // 5
      ],
      1000,
    );
    s.sqlite.prepare('UPDATE messages SET created_at = 10 WHERE id IN (1, 4)').run();
    const sel = (flags: Parameters<typeof parseSelection>[2]) => parseSelection('hold', [], flags);
    const dry = (flags: Parameters<typeof parseSelection>[2]) => changeMessages(s, 'hold', sel(flags), { now: 2000, dryRun: true });

    expect((await dry({ to: 'ann@example.com' })).changed).toEqual([ids[0], ids[1], ids[2]]);
    expect((await dry({ to: 'Ann <ANN@EXAMPLE.COM>' })).changed).toEqual([ids[0], ids[1], ids[2]]);
    expect((await dry({ to: 'a_b@example.com' })).changed).toEqual([ids[3]]);
    // 1990 ms old at most: created at 10 only
    expect((await dry({ olderThan: '1s' })).changed).toEqual([ids[0], ids[3]]);
    expect((await dry({ olderThan: '1s', to: 'ann@example.com' })).changed).toEqual([ids[0]]);
    expect(statusOf(s)).toEqual({ 1: 'pending', 2: 'pending', 3: 'pending', 4: 'pending', 5: 'pending' });

    const held = await changeMessages(s, 'hold', sel({ to: 'ann@example.com' }), { now: 2000 });
    expect(held).toEqual({ action: 'hold', changed: [ids[0], ids[1], ids[2]], refused: [], dryRun: false });
    expect(statusOf(s)).toEqual({ 1: 'held', 2: 'held', 3: 'held', 4: 'pending', 5: 'pending' });
    // --all of hold picks pending and deferred ones, not those already held
    expect((await changeMessages(s, 'hold', sel({ all: true }), { now: 2100 })).changed).toEqual([ids[3], ids[4]]);
    await s.close();
  });

  it('messages being sent are refused and left with their lease; the rest changes', async () => {
    const s = await fresh();
    const ids = await s.messages.insertMany([msg('a@example.com'), msg('b@example.com'), msg('c@example.com')], 1000);
    const [claimed] = s.queue.claim({ owner: 'A', now: 1500, leaseMs: 60_000, max: 1, providerOf: () => 'smtp', limitOf: () => 0 }).claimed;
    expect(claimed.id).toBe(ids[0]);
    const r = await changeMessages(s, 'delete', parseSelection('delete', [], { all: true }), { now: 2000 });
    expect(r.changed).toEqual([ids[1], ids[2]]);
    expect(r.refused).toEqual([{ id: ids[0], status: 'sending', reason: expect.stringMatching(/being sent/) }]);
    const left = (await s.messages.get(ids[0]))!;
    expect([left.status, left.leaseOwner]).toEqual(['sending', 'A']);
    // the lease owner still completes it
    expect(
      s.queue.applyWrites([
        { op: 'sent', id: ids[0], owner: 'A', attempt: 1, outcome: { now: 2100, startedAt: 1500, provider: 'smtp' } },
      ])[0],
    ).toBe(true);
    await s.close();
  });

  it('listed ids: one missing or in the wrong status changes nothing, in a dry run too', async () => {
    const s = await fresh();
    const ids = await s.messages.insertMany([msg('a@example.com'), msg('b@example.com')], 1000);
    s.sqlite.prepare("UPDATE messages SET status = 'sent' WHERE id = ?").run(ids[1]);
    for (const dryRun of [true, false]) {
      await expect(
        changeMessages(s, 'hold', parseSelection('hold', [String(ids[0]), String(ids[1])], {}), { now: 2000, dryRun }),
      ).rejects.toMatchObject({
        kind: 'data',
        code: 'MESSAGE_WRONG_STATUS',
      });
      await expect(
        changeMessages(s, 'hold', parseSelection('hold', [String(ids[0]), '999'], {}), { now: 2000, dryRun }),
      ).rejects.toMatchObject({ code: 'MESSAGE_NOT_FOUND' });
    }
    expect(statusOf(s)).toEqual({ [ids[0]]: 'pending', [ids[1]]: 'sent' });
    await s.close();
  });

  it('the selection is refused before anything when ids and filters mix, or nothing is given', () => {
    const usage = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as SysemailError).kind;
      }
      return 'accepted';
    };
    expect(usage(() => parseSelection('hold', [], {}))).toBe('usage');
    expect(usage(() => parseSelection('hold', ['1'], { all: true }))).toBe('usage');
    expect(usage(() => parseSelection('retry', ['1'], { failed: true }))).toBe('usage');
    expect(usage(() => parseSelection('retry', [], { failed: true, status: 'deferred' }))).toBe('usage');
    expect(usage(() => parseSelection('release', [], { status: 'failed' }))).toBe('usage');
    expect(usage(() => parseSelection('hold', [], { olderThan: 'yesterday' }))).toBe('usage');
    expect(usage(() => parseSelection('hold', [], { to: 'two@example.com, three@example.com' }))).toBe('data');
    expect(usage(() => parseSelection('hold', [], { to: 'x@example.com\r\nBcc: y@example.com' }))).toBe('data');
    expect(parseSelection('retry', [], { failed: true, status: 'FAILED' })).toEqual({ filter: { status: 'failed' } });
    expect(parseSelection('hold', ['3', '3', '4'], {})).toEqual({ ids: [3, 4] });
  });
});

describe('history --to', () => {
  it('finds messages whose recipient is stored with a display name', async () => {
    const s = await fresh();
    const ids = await s.messages.insertMany([msg('Ada Lovelace <ada@example.com>'), msg('ada@example.org')], 1000);
    expect((await s.history.list({ to: 'ADA@example.com', limit: 10 })).map((r) => r.id)).toEqual([ids[0]]);
    await s.close();
  });
});
