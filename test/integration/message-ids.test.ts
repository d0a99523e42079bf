import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { BODY_APART_CHARS } from '../../src/store/messages.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { queuedMessage as msg } from '../helpers/store-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-ids-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
const fresh = async () => (await Store.open(path.join(dir, `f${++n}.db`)))!;

/** Schema 2 (bodies apart), the layout databases in use today have, filled with three messages. */
function schema2Database(file: string): void {
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('foreign_keys = ON');
  for (const step of MIGRATIONS.slice(0, 2)) raw.exec(step);
  raw.prepare("INSERT INTO meta (key, value) VALUES ('db_id', 'abc'), ('created_at', '1')").run();
  const ins = raw.prepare(
    `INSERT INTO messages (status, from_addr, to_addrs, subject, text_body, created_at, due_at, updated_at, body_apart, attempts)
     VALUES (?, 'a@example.com', '["b@example.com"]', ?, ?, 1, 1, 1, ?, ?)`,
  );
  ins.run('sent', 's1', 'one', 0, 1);
  ins.run('failed', 's2', null, 1, 1);
  ins.run('pending', 's3', 'three', 0, 0);
  raw.prepare('INSERT INTO message_bodies (message_id, text_body) VALUES (2, ?)').run('L'.repeat(BODY_APART_CHARS + 1));
  const att = raw.prepare('INSERT INTO attempts (message_id, started_at, outcome, response) VALUES (?, 1, ?, ?)');
  att.run(1, 'sent', '250 ok');
  att.run(2, 'failed', '550 no');
  raw.prepare("INSERT INTO distributor_runs (owner, host, pid, started_at) VALUES ('o', 'h', 1, 1)").run();
  raw.pragma('user_version = 2');
  raw.close();
}

const seq = (s: Store, table: string) =>
  s.sqlite.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(table) as number | undefined;

describe('message ids are never reused', () => {
  it('a new database: the id of a deleted last message is not given again, nor after retention', async () => {
    const s = await fresh();
    const [a, b] = await s.messages.insertMany([msg(1), msg(2)], 1000);
    expect(s.queue.change('delete', { ids: [b] }, { now: 0 }).changed).toEqual([b]);
    const [c] = await s.messages.insertMany([msg(3)], 1000);
    expect(c).toBeGreaterThan(b);
    s.sqlite.prepare("UPDATE messages SET status = 'sent'").run();
    expect((await s.history.purgeBatch(2000)).deleted).toBe(2);
    const [d] = await s.messages.insertMany([msg(4)], 3000);
    expect(d).toBeGreaterThan(c);
    expect(a).toBeLessThan(b);
    await s.close();
  });

  it('a database of the previous schema is rebuilt in place, keeping rows, bodies, attempts, indexes and foreign keys', async () => {
    const file = path.join(dir, 'v2.db');
    schema2Database(file);
    const s = (await Store.open(file))!;
    expect(s.sqlite.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    for (const t of ['messages', 'attempts', 'distributor_runs']) {
      const sql = s.sqlite.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(t) as string;
      expect(sql, t).toMatch(/AUTOINCREMENT/);
    }
    expect(seq(s, 'messages')).toBeGreaterThanOrEqual(3);
    expect(seq(s, 'attempts')).toBeGreaterThanOrEqual(2);
    expect(s.sqlite.prepare('SELECT id, status, subject FROM messages ORDER BY id').all()).toEqual([
      { id: 1, status: 'sent', subject: 's1' },
      { id: 2, status: 'failed', subject: 's2' },
      { id: 3, status: 'pending', subject: 's3' },
    ]);
    expect((await s.messages.get(2))!.text).toHaveLength(BODY_APART_CHARS + 1);
    expect((await s.messages.attempts(1)).map((x) => x.response)).toEqual(['250 ok']);
    const indexes = s.sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(indexes).toEqual(
      expect.arrayContaining([
        'attempts_message',
        'distributor_runs_started',
        'messages_created',
        'messages_status_created',
        'messages_claim',
      ]),
    );
    expect(s.sqlite.pragma('foreign_key_check')).toEqual([]);
    // the children still point at the messages table: deleting a message takes its body and attempts
    const fks = (t: string) =>
      (s.sqlite.pragma(`foreign_key_list(${t})`) as { table: string; on_delete: string }[]).map((f) => [f.table, f.on_delete]);
    expect(fks('attempts')).toEqual([['messages', 'CASCADE']]);
    expect(fks('message_bodies')).toEqual([['messages', 'CASCADE']]);
    expect(s.queue.change('delete', { ids: [2] }, { now: 0 }).changed).toEqual([2]);
    expect(s.sqlite.prepare('SELECT count(*) FROM message_bodies').pluck().get()).toBe(0);
    expect(s.sqlite.prepare('SELECT count(*) FROM attempts WHERE message_id = 2').pluck().get()).toBe(0);

    // the highest id deleted, a new message gets a higher one
    expect(s.queue.change('delete', { ids: [3] }, { now: 0 }).changed).toEqual([3]);
    const [next] = await s.messages.insertMany([msg(9)], 5000);
    expect(next).toBeGreaterThan(3);
    expect(s.queue.startRun({ owner: 'o2', host: 'h', pid: 2, now: 5 })).toBe(2);
    await s.close();

    // and opening it again migrates nothing twice
    const again = (await Store.open(file))!;
    expect(again.sqlite.prepare('SELECT id FROM messages ORDER BY id').pluck().all()).toEqual([1, next]);
    await again.close();
  });
});
