/**
 * `queue run` on PostgreSQL when the database goes away: a server down at start exits 75 (one pass
 * and --watch alike); the run's connections killed in the middle of a drain (pg_terminate_backend)
 * end it with 75 and one line, and every message it held is given back or its lease runs out, so a
 * later run sends the rest: nothing lost, duplicates at most the sends that were under way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueDb, messageIds, statusCounts, waitFor, SMTP_PASSWORD, type QueueDb } from '../helpers/pg-queue.js';
import { pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

const available = await pgAvailable();

describe.skipIf(!available)('queue run on PostgreSQL: the database goes away', () => {
  let pg: PgCluster;
  let smtp: TestSmtpServer;
  const dbs: QueueDb[] = [];

  beforeAll(async () => {
    pg = (await testServer())!;
    // each message answered after 20 ms: a drain of a few hundred lasts long enough to cut it
    smtp = await startSmtpServer({ users: { app: SMTP_PASSWORD }, delayMs: 20 });
  });
  afterAll(async () => {
    await smtp?.close();
    for (const db of dbs) db.sb.cleanup();
  });

  it('a server down at start: queue run exits 75 with one line, --watch as well', async () => {
    const db = await queueDb(pg, smtp, 'down');
    dbs.push(db);
    const down = 'postgres://app:Down-Pw-9@127.0.0.1:1/mail';
    for (const args of [
      ['queue', 'run'],
      ['queue', 'run', '--watch', '--interval', '1'],
    ]) {
      const r = await db.sb.run(['--db', down, ...args], { noDb: true, timeout: 60_000 });
      expect(r.exitCode, r.stderr).toBe(75);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('127.0.0.1:1');
      expect(r.stderr).not.toContain('Down-Pw-9');
    }
  }, 120_000);

  it("the run's connections killed mid-drain: exit 75, one line; the next run sends the rest, nothing lost", async () => {
    smtp.reset();
    const db = await queueDb(pg, smtp, 'cut');
    dbs.push(db);
    const n = 400;
    const concurrency = 4;
    await db.queue(n);
    const run = db.spawn(['queue', 'run', '--concurrency', String(concurrency), '--lease', '5']);
    await waitFor('the drain to be under way', () => smtp.messages.length >= 30, 60_000);
    const killed = (await db.sql(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'sysemail%'`,
    )) as { ok: boolean }[];
    expect(killed.length).toBeGreaterThan(0);
    const r = await Promise.race([run, new Promise<null>((res) => setTimeout(() => res(null), 60_000))]);
    expect(r, 'queue run did not end after losing its connections').not.toBeNull();
    expect(String(r!.stderr)).not.toMatch(/\n\s+at /);
    // a connection killed while in use ends the run with 75 and one line; one killed while idle in the
    // pool is replaced and the run goes on (exit 0): either way nothing is lost, as checked below
    expect([0, 75], String(r!.stderr)).toContain(r!.exitCode);
    if (r!.exitCode === 75) {
      const lines = String(r!.stderr).trim().split('\n');
      expect(lines, String(r!.stderr)).toHaveLength(1);
      expect(lines[0]).toMatch(/database/);
      expect(smtp.messages.length).toBeLessThan(n);
    }

    // what the cut run held is back in the queue now, or when its 5 s leases run out
    await waitFor('the cut run to hold no lease', async () => ((await statusCounts(db)).sending ?? 0) === 0, 30_000);
    const rest = await db.run(['queue', 'run', '--concurrency', String(concurrency)]);
    expect(rest.exitCode, rest.stderr).toBe(0);
    expect(await statusCounts(db)).toEqual({ sent: n });
    const ids = messageIds(smtp);
    // every message arrived; one twice only when it was being transmitted as the connections died
    expect(new Set(ids).size).toBe(n);
    expect(ids.length - n).toBeLessThanOrEqual(concurrency);
  }, 240_000);
});
