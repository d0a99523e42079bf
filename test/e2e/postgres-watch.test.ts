/**
 * `queue run --watch` on PostgreSQL listens for new messages: with a polling interval of 60 s, a
 * message queued by another process (send --queue, queue release, queue import) is sent long before
 * the next poll; after its listening connection is killed it connects again and still hears; SIGTERM
 * ends it at once. The waits are bounded at 20 s, a third of the interval, so a run that only polled
 * fails them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { queueDb, subjects, waitFor, SMTP_PASSWORD, type QueueDb } from '../helpers/pg-queue.js';
import { pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

const available = await pgAvailable();

/** Well under the 60 s interval: only a wake-up gets the message out in time. */
const WITHIN = 20_000;

async function listeners(db: QueueDb): Promise<number[]> {
  const rows = (await db.sql(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sysemail listen' AND query ILIKE 'LISTEN%'`,
  )) as { pid: number }[];
  return rows.map((r) => r.pid);
}

describe.skipIf(!available)('queue run --watch on PostgreSQL: no polling delay', () => {
  let pg: PgCluster;
  let smtp: TestSmtpServer;
  const dbs: QueueDb[] = [];

  beforeAll(async () => {
    pg = (await testServer())!;
    smtp = await startSmtpServer({ users: { app: SMTP_PASSWORD } });
  });
  afterAll(async () => {
    await smtp?.close();
    for (const db of dbs) db.sb.cleanup();
  });

  it('wakes on send --queue, queue release and queue import from other processes, reconnects its listener, stops on SIGTERM', async () => {
    smtp.reset();
    const db = await queueDb(pg, smtp, 'watch');
    dbs.push(db);
    // a message held before the run starts: released later, it must wake the run
    const held = await db.run([
      'send',
      '--queue',
      '--to',
      'held@example.com',
      '--from',
      'app@example.com',
      '--subject',
      'held',
      '--body',
      'b',
      '--json',
    ]);
    expect(held.exitCode, held.stderr).toBe(0);
    const heldId = json<{ id: number }>(held.stdout).id;
    expect((await db.run(['queue', 'hold', String(heldId)])).exitCode).toBe(0);

    const watcher = db.spawn(['queue', 'run', '--watch', '--interval', '60', '--json']);
    try {
      await waitFor('the run to listen', async () => (await listeners(db)).length === 1);
      // its first cycle found nothing due: from here on it waits for 60 s unless woken
      await waitFor(
        'the first cycle',
        async () => ((await db.sql('SELECT count(*)::int AS n FROM distributor_runs')) as { n: number }[])[0].n === 1,
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(smtp.messages).toHaveLength(0);

      const send = await db.run([
        'send',
        '--queue',
        '--to',
        'a@example.com',
        '--from',
        'app@example.com',
        '--subject',
        'first',
        '--body',
        'b',
      ]);
      expect(send.exitCode, send.stderr).toBe(0);
      await waitFor('the queued message to be sent', () => subjects(smtp).includes('first'), WITHIN);

      expect((await db.run(['queue', 'release', String(heldId)])).exitCode).toBe(0);
      await waitFor('the released message to be sent', () => subjects(smtp).includes('held'), WITHIN);

      await db.queue(3, 'imported');
      await waitFor('the imported messages to be sent', () => subjects(smtp).filter((s) => s.startsWith('imported')).length === 3, WITHIN);

      // the listening connection is killed: the run connects again and still hears
      const [before] = await listeners(db);
      await db.sql(`SELECT pg_terminate_backend(${before})`);
      await waitFor('a new listening connection', async () => {
        const now = await listeners(db);
        return now.length === 1 && now[0] !== before;
      });
      const again = await db.run([
        'send',
        '--queue',
        '--to',
        'b@example.com',
        '--from',
        'app@example.com',
        '--subject',
        'after',
        '--body',
        'b',
      ]);
      expect(again.exitCode, again.stderr).toBe(0);
      await waitFor('the message queued after the reconnection to be sent', () => subjects(smtp).includes('after'), WITHIN);

      expect(subjects(smtp).sort()).toEqual(['after', 'first', 'held', 'imported0', 'imported1', 'imported2']);
    } finally {
      watcher.kill('SIGTERM');
    }
    // SIGTERM while waiting on the listener: it ends well before its next poll, cleanly
    const stopped = await Promise.race([watcher, new Promise<null>((r) => setTimeout(() => r(null), WITHIN))]);
    expect(stopped, 'queue run --watch did not end on SIGTERM').not.toBeNull();
    expect(stopped!.exitCode, String(stopped!.stderr)).toBe(0);
    expect(await listeners(db)).toEqual([]);
  });
});
