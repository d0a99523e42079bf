/**
 * `db copy`: an SQLite installation moved into PostgreSQL. A database with 100,000 messages of history
 * gives the same `history`, `queue status` and `params list` on both; ids stay and are never given
 * twice; a copy refused halfway (a row the target refuses, the connection killed) leaves the target
 * empty; a non-empty target is refused with nothing written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { BIN, cleanEnv, json, sandbox, type Sandbox } from '../helpers/cli.js';
import { adminQuery, createTestDatabase, pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';

const available = await pgAvailable();

const MESSAGES = 100_000;
const DATA_TABLES = [
  'params',
  'templates',
  'users',
  'messages',
  'message_attachments',
  'attempts',
  'distributor_runs',
  'suppressions',
  'bounces',
];

/** Rows per data table of a PostgreSQL database. */
async function rowCounts(server: PgCluster, db: string): Promise<Record<string, number>> {
  const [row] = (await adminQuery(
    server,
    `SELECT ${DATA_TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`,
    db,
  )) as [Record<string, number>];
  return row;
}

const EMPTY = Object.fromEntries(DATA_TABLES.map((t) => [t, 0]));

describe.skipIf(!available)('db copy from SQLite to PostgreSQL', () => {
  let sb: Sandbox;
  let server: PgCluster;
  let queuedId: number;
  const attachment = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256));
  const noPassword = (r: { stdout: string; stderr: string }) => {
    expect(r.stdout).not.toContain(server.password);
    expect(r.stderr).not.toContain(server.password);
  };

  beforeAll(async () => {
    server = (await testServer())!;
    sb = sandbox('sysemail-pg-copy-');
    let r = await sb.run(['params', 'set', 'smtp.host', '127.0.0.1', 'smtp.port', '2525', 'sender.default', 'app@example.com']);
    expect(r.exitCode).toBe(0);
    const file = path.join(sb.dir, 'invoice.pdf');
    fs.writeFileSync(file, attachment);
    r = await sb.run([
      'send',
      '--queue',
      '--to',
      'ann@example.com',
      '--subject',
      'invoice',
      '--body',
      'attached',
      '--attach',
      file,
      '--json',
    ]);
    expect(r.exitCode).toBe(0);
    queuedId = json<{ id: number }>(r.stdout).id;
    fs.rmSync(file); // the queued copy in the spool is what travels
    fs.writeFileSync(path.join(sb.dir, 'welcome.txt'), 'Hello %name%');
    r = await sb.run(['template', 'add', 'welcome', '--subject', 'Welcome %name%', '--body-file', path.join(sb.dir, 'welcome.txt')]);
    expect(r.exitCode).toBe(0);
    r = await sb.run(['suppress', 'add', 'gone@example.com', '--reason', 'left the company']);
    expect(r.exitCode).toBe(0);
    r = await sb.run(['users', 'add', 'u1', '--email', 'u1@example.com', '--name', 'Una One']);
    expect(r.exitCode).toBe(0);

    // 100,000 messages of history with an attempt each, written directly: sent, failed with the
    // server's words, deferred, held and pending ones, long bodies kept apart among them
    const store = (await SqliteStore.open(sb.db))!;
    const db = store.sqlite;
    const now = Date.now();
    db.exec('BEGIN');
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @n)
       INSERT INTO messages (status, provider, sent_provider, from_addr, to_addrs, subject, text_body, attachments, headers, created_at, due_at,
         sent_at, updated_at, attempts, forced, deferral_reason, last_error, diagnosis, body_apart)
       SELECT CASE WHEN i % 10 = 0 THEN 'failed' WHEN i % 7 = 0 THEN 'deferred' WHEN i % 13 = 0 THEN 'held' WHEN i % 17 = 0 THEN 'pending' ELSE 'sent' END,
         'smtp', CASE WHEN i % 10 <> 0 AND i % 7 <> 0 THEN 'smtp' END, 'app@example.com', json_array('r' || i || '@example.com'),
         'message ' || i, CASE WHEN i % 1000 = 0 THEN NULL ELSE 'body ' || i END, '[]',
         CASE WHEN i % 3 = 0 THEN json_object('X-Ref', 'r' || i) END, @now - (@n - i) * 1000, @now - (@n - i) * 1000 + 500,
         CASE WHEN i % 10 <> 0 AND i % 7 <> 0 THEN @now - (@n - i) * 1000 + 900 END, @now, 1, i % 97 = 0,
         CASE WHEN i % 7 = 0 AND i % 10 <> 0 THEN 'temporary failure' END,
         CASE WHEN i % 10 = 0 THEN json_object('code', 'EENVELOPE', 'responseCode', 550, 'response', '550 5.1.1 <r' || i || '@example.com>: Recipient address rejected') END,
         CASE WHEN i % 10 = 0 THEN 'RECIPIENT_UNKNOWN' END, 0
       FROM n`,
    ).run({ now, n: MESSAGES });
    // a long body kept apart, as the store writes it
    db.prepare('UPDATE messages SET text_body = NULL, body_apart = 1 WHERE id = 1000').run();
    db.prepare('INSERT INTO message_bodies (message_id, text_body) VALUES (1000, ?)').run('long '.repeat(400));
    db.prepare(
      `INSERT INTO attempts (message_id, started_at, ended_at, provider, outcome, response, response_code, failure, diagnosis, lease_owner)
       SELECT id, created_at + 500, created_at + 900, 'smtp', CASE status WHEN 'failed' THEN 'failed' WHEN 'deferred' THEN 'deferred' ELSE 'sent' END,
         coalesce(json_extract(last_error, '$.response'), '250 2.0.0 Ok'), coalesce(json_extract(last_error, '$.responseCode'), 250), last_error,
         diagnosis, 'host-a:1:abcd' FROM messages WHERE id > ?`,
    ).run(queuedId);
    db.prepare(
      "INSERT INTO distributor_runs (owner, host, pid, started_at, ended_at, sent, heartbeat_at, lease_ms) VALUES ('host-a:1:abcd', 'host-a', 1, ?, ?, 5, ?, 60000)",
    ).run(now - 5000, now - 4000, now - 4000);
    db.exec('COMMIT');
    // the newest message deleted: its id must not be handed out again on the new database
    db.prepare('DELETE FROM messages WHERE id = (SELECT max(id) FROM messages)').run();
    await store.close();
  }, 120_000);
  afterAll(() => sb?.cleanup());

  const pgRun = (url: string, args: string[]) => sb.run(['--db', url, ...args], { noDb: true, timeout: 120_000 });

  it('copies everything: history, queue status and params list say the same on both, ids kept and never reused', async () => {
    const target = await createTestDatabase(server, 'copy');
    let r = await sb.run(['db', 'copy', '--to', target.url, '--json'], { timeout: 180_000 });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    noPassword(r);
    const out = json<{ copied: Record<string, number>; secretsToSet: string[]; to: string }>(r.stdout);
    expect(out.copied).toMatchObject({
      params: 3,
      messages: MESSAGES,
      templates: 1,
      users: 1,
      attempts: MESSAGES - 1,
      attachments: 1,
      runs: 1,
    });
    expect(out.to).toContain(':***@');
    expect(Array.isArray(out.secretsToSet)).toBe(true);

    for (const args of [
      ['history', '--limit', '0', '--json'],
      ['history', '--failed', '--limit', '0'],
      ['params', 'list', '--json'],
      ['template', 'list', '--json'],
      ['users', 'list', '--json'],
      ['suppress', 'list', '--json'],
      ['history', 'show', '1000', '--json'],
      ['history', 'show', '99990', '--json'],
    ]) {
      const [a, b] = [await sb.run(args, { timeout: 120_000 }), await pgRun(target.url, args)];
      expect([b.exitCode, args.join(' ')]).toEqual([0, args.join(' ')]);
      // the spool and outbox default to folders beside an SQLite file, to the data folder otherwise
      const local = /"(queue\.spoolDir|eml\.outputDir)"[^}]*}/g;
      expect(b.stdout.replace(local, ''), args.join(' ')).toBe(a.stdout.replace(local, ''));
    }
    const history = json<{ id: number; status: string }[]>((await pgRun(target.url, ['history', '--limit', '0', '--json'])).stdout);
    expect(history).toHaveLength(MESSAGES);
    const [a, b] = [await sb.run(['queue', 'status', '--json']), await pgRun(target.url, ['queue', 'status', '--json'])];
    const [sa, sbq] = [json<Record<string, unknown>>(a.stdout), json<Record<string, unknown>>(b.stdout)];
    expect(sbq.counts).toEqual(sa.counts);
    expect((sbq.counts as Record<string, number>).failed).toBe(MESSAGES / 10 - 1); // the newest, deleted, was a failed one
    // the same oldest due message, seen a moment later
    expect(Math.abs((sbq.oldestDueAgeSec as number) - (sa.oldestDueAgeSec as number))).toBeLessThan(30);
    expect((sbq.lastRun as { owner: string }).owner).toBe('host-a:1:abcd');

    // the queued attachment's bytes are now in the database, for any host to send
    const [att] = (await adminQuery(server, `SELECT content FROM message_attachments WHERE message_id = ${queuedId}`, target.name)) as {
      content: Buffer;
    }[];
    expect(Buffer.compare(att.content, attachment)).toBe(0);

    // a new message gets an id past every id the SQLite database ever gave (the newest was deleted)
    r = await pgRun(target.url, ['send', '--queue', '--to', 'bob@example.com', '--subject', 'after', '--body', 'x', '--json']);
    expect(json<{ id: number }>(r.stdout).id).toBe(MESSAGES + 2);

    // and a second copy into it is refused, nothing written
    const before = await rowCounts(server, target.name);
    r = await sb.run(['db', 'copy', '--to', target.url, '--json'], { timeout: 60_000 });
    expect(r.exitCode).toBe(65);
    expect(json<{ error: { code: string } }>(r.stderr).error.code).toBe('DB_COPY_TARGET_NOT_EMPTY');
    noPassword(r);
    expect(await rowCounts(server, target.name)).toEqual(before);
  }, 300_000);

  it('a row the target refuses halfway: the copy fails and the target stays empty', async () => {
    const target = await createTestDatabase(server, 'copyref');
    expect((await pgRun(target.url, ['params', 'list'])).exitCode).toBe(0); // the schema exists
    await adminQuery(
      server,
      `CREATE FUNCTION refuse_half() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused row %', NEW.id; END $$;
       CREATE TRIGGER refuse_half BEFORE INSERT ON attempts FOR EACH ROW WHEN (NEW.id = ${MESSAGES / 2}) EXECUTE FUNCTION refuse_half();`,
      target.name,
    );
    const r = await sb.run(['db', 'copy', '--to', target.url], { timeout: 180_000 });
    expect({ exit: r.exitCode, stderr: r.stderr }).toMatchObject({ exit: 74, stderr: expect.stringContaining('refused row') });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    noPassword(r);
    expect(await rowCounts(server, target.name)).toEqual(EMPTY);
  }, 300_000);

  it('the connection killed mid-copy: the target stays empty', async () => {
    const target = await createTestDatabase(server, 'copykill');
    const child = execa(process.execPath, [BIN, '--db', sb.db, 'db', 'copy', '--to', target.url], {
      env: { ...cleanEnv(), ...sb.env },
      extendEnv: false,
      reject: false,
      timeout: 180_000,
    });
    let killed = 0;
    for (let i = 0; i < 3000 && killed === 0; i++) {
      const rows = (await adminQuery(
        server,
        `SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity
         WHERE datname = '${target.name}' AND application_name = 'sysemail' AND query LIKE 'INSERT INTO attempts%'`,
      )) as { t: boolean }[];
      killed = rows.filter((x) => x.t).length;
      if (killed === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const r = await child;
    expect(killed).toBeGreaterThan(0);
    // one line naming the lost connection (the server's words, or the driver's when the socket closed first)
    expect({ exit: r.exitCode, lines: String(r.stderr).trim().split('\n').length }).toEqual({ exit: 75, lines: 1 });
    expect(String(r.stderr)).toMatch(/terminating connection|connection to database|cannot reach database .*\(ECONNRESET\)/);
    expect(String(r.stderr)).not.toContain(server.password);
    expect(await rowCounts(server, target.name)).toEqual(EMPTY);
  }, 300_000);
});
