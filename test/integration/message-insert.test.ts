// Many messages stored at once (`queue import`): insertMany binds fifty rows per statement, and every
// message still gets its own id, in the order given, with its long body kept apart under that id.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { BODY_APART_CHARS, type NewMessage } from '../../src/store/messages.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-insert-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function message(i: number, over: Partial<NewMessage> = {}): NewMessage {
  return {
    status: 'pending',
    provider: null,
    from: 'shop@example.com',
    to: [`c${i}@example.com`],
    cc: [],
    bcc: [],
    subject: `order ${i}`,
    text: `text ${i}`,
    attachments: [],
    ...over,
  };
}

describe('insertMany', () => {
  it('stores every message under its own id, in order, long bodies apart, whatever the batch boundaries', async () => {
    const file = path.join(dir, 'many.db');
    const store = (await Store.open(file))!;
    const now = 1_700_000_000_000;
    try {
      // one stored before, so that ids do not start at 1
      const before = await store.messages.insert(message(-1), now);
      const long = 'x'.repeat(BODY_APART_CHARS + 1);
      const count = 50 * 3 + 7; // three full batches and a rest
      const messages = Array.from({ length: count }, (_, i) =>
        message(
          i,
          i % 37 === 5
            ? { text: `${long}${i}`, html: `<p>${i}</p>` }
            : i === 60
              ? { cc: ['cc@example.com'], headers: { 'X-Order': '60' }, userId: 'u1' }
              : {},
        ),
      );
      const ids = await store.messages.insertMany(messages, now);
      expect(ids).toEqual(Array.from({ length: count }, (_, i) => before + 1 + i));

      for (const [i, id] of ids.entries()) {
        const row = (await store.messages.get(id))!;
        expect([row.subject, row.to, row.text ?? null]).toEqual([`order ${i}`, [`c${i}@example.com`], messages[i].text ?? null]);
      }
      const sixty = (await store.messages.get(ids[60]))!;
      expect([sixty.cc, sixty.headers, sixty.userId]).toEqual([['cc@example.com'], { 'X-Order': '60' }, 'u1']);

      const raw = new Database(file, { readonly: true });
      try {
        const apart = raw
          .prepare(
            'SELECT m.id, m.subject, b.text_body, b.html_body FROM messages m JOIN message_bodies b ON b.message_id = m.id WHERE m.body_apart = 1 ORDER BY m.id',
          )
          .all() as { id: number; subject: string; text_body: string; html_body: string }[];
        const expected = messages.flatMap((m, i) =>
          i % 37 === 5 ? [{ id: ids[i], subject: `order ${i}`, text_body: m.text, html_body: m.html }] : [],
        );
        expect(apart).toEqual(expected);
        expect(raw.prepare('SELECT count(*) FROM messages WHERE body_apart = 0 AND text_body IS NULL').pluck().get()).toBe(0);
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
  });

  it('stores none when one row is refused', async () => {
    const store = (await Store.open(path.join(dir, 'none.db')))!;
    try {
      const messages = Array.from({ length: 120 }, (_, i) => message(i));
      // the status CHECK refuses row 110, in the rest after the last full batch of fifty
      messages[110] = message(110, { status: 'bogus' as NewMessage['status'] });
      await expect(store.messages.insertMany(messages, Date.now())).rejects.toThrow(/CHECK constraint/);
      messages[110] = message(110);
      messages[20] = message(20, { status: 'bogus' as NewMessage['status'] });
      await expect(store.messages.insertMany(messages, Date.now())).rejects.toThrow(/CHECK constraint/);
      expect(await store.messages.insertMany([message(1)], Date.now())).toEqual([1]);
    } finally {
      await store.close();
    }
  });
});
