/**
 * Several distributors on one PostgreSQL database, as several hosts would run them, through the
 * built binary against one real SMTP server that records each message (by Message-ID) and when it
 * arrived: four runs drain 10,000 messages with each arriving exactly once; one killed with SIGKILL
 * loses nothing and duplicates at most what it was transmitting; one paused past its lease sees its
 * messages sent by the others and sends none of them when it resumes; three sharing a limit of 20 per
 * minute never let a 60-second window at the server hold more than 20.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueDb, messageIds, statusCounts, waitFor, SMTP_PASSWORD, type Distributor, type QueueDb } from '../helpers/pg-queue.js';
import { pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

const available = await pgAvailable();
const CONCURRENCY = 4;

/** Ends `runs` (SIGTERM to those still going) and waits for each, at most `ms`. */
async function stopAll(runs: Distributor[], ms = 30_000) {
  // only --watch runs are told to stop: a one-pass run ends by itself once the queue is empty, and a
  // SIGTERM that reaches it while it is already exiting would only race its own exit
  for (const r of runs) if (r.exitCode === null && r.spawnargs.includes('--watch')) r.kill('SIGTERM');
  const all = Promise.all(runs);
  const out = await Promise.race([all, new Promise<null>((res) => setTimeout(() => res(null), ms))]);
  if (!out) {
    for (const r of runs) r.kill('SIGKILL');
    throw new Error('a distributor did not stop on SIGTERM');
  }
  return out;
}

/** How many times each Message-ID arrived beyond the first. */
function duplicates(ids: string[]): number {
  return ids.length - new Set(ids).size;
}

describe.skipIf(!available)('several distributors on one PostgreSQL database', () => {
  let pg: PgCluster;
  let smtp: TestSmtpServer;
  let slow: TestSmtpServer;
  const dbs: QueueDb[] = [];
  const left: Distributor[] = [];

  beforeAll(async () => {
    pg = (await testServer())!;
    smtp = await startSmtpServer({ users: { app: SMTP_PASSWORD } });
    // 10 ms per message: a drain long enough to kill or pause a distributor in its middle
    slow = await startSmtpServer({ users: { app: SMTP_PASSWORD }, delayMs: 10 });
  });
  afterAll(async () => {
    for (const r of left) r.kill('SIGKILL');
    await smtp?.close();
    await slow?.close();
    for (const db of dbs) db.sb.cleanup();
  });

  async function setUp(server: TestSmtpServer, prefix: string, params: string[] = []) {
    const db = await queueDb(pg, server, prefix, params);
    dbs.push(db);
    return db;
  }

  it('four queue run processes, two of them --watch, drain 10,000 messages: each arrives exactly once', async () => {
    smtp.reset();
    const db = await setUp(smtp, 'four');
    const n = 10_000;
    await db.queue(n);
    const runs = [
      db.spawn(['queue', 'run', '--json']),
      db.spawn(['queue', 'run', '--json']),
      db.spawn(['queue', 'run', '--watch', '--interval', '2', '--json']),
      db.spawn(['queue', 'run', '--watch', '--interval', '2', '--json']),
    ];
    left.push(...runs);
    await waitFor('every message sent', async () => (await statusCounts(db)).sent === n, 240_000);
    const ended = await stopAll(runs);
    for (const r of ended) expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(await statusCounts(db)).toEqual({ sent: n });
    const ids = messageIds(smtp);
    expect(new Set(ids).size).toBe(n);
    expect(duplicates(ids)).toBe(0);
    // every run took part (the work was shared), and the runs' own counts add up to what arrived
    const perRun = (await db.sql('SELECT sent FROM distributor_runs ORDER BY id')) as { sent: number }[];
    expect(perRun.reduce((a, r) => a + r.sent, 0)).toBe(n);
  }, 300_000);

  it('one of four killed with SIGKILL mid-drain: nothing lost, duplicates at most what it was transmitting', async () => {
    slow.reset();
    const db = await setUp(slow, 'kill');
    const n = 2_000;
    await db.queue(n);
    const victim = db.spawn(['queue', 'run', '--concurrency', String(CONCURRENCY), '--lease', '5']);
    const others = [
      db.spawn(['queue', 'run', '--lease', '5']),
      db.spawn(['queue', 'run', '--watch', '--interval', '1', '--lease', '5']),
      db.spawn(['queue', 'run', '--watch', '--interval', '1', '--lease', '5']),
    ];
    left.push(victim, ...others);
    await waitFor('the drain to be under way', () => slow.messages.length >= 300, 120_000);
    victim.kill('SIGKILL');
    expect((await victim).signal).toBe('SIGKILL');
    await waitFor('every message sent', async () => (await statusCounts(db)).sent === n, 180_000);
    await stopAll(others);
    expect(await statusCounts(db)).toEqual({ sent: n });
    const ids = messageIds(slow);
    expect(new Set(ids).size).toBe(n);
    expect(duplicates(ids)).toBeLessThanOrEqual(CONCURRENCY);
  }, 300_000);

  it('a distributor paused past its lease: the others send its messages, and it sends none of them when it resumes', async () => {
    slow.reset();
    const db = await setUp(slow, 'pause');
    const n = 1_500;
    await db.queue(n);
    const paused = db.spawn(['queue', 'run', '--concurrency', String(CONCURRENCY), '--lease', '5']);
    left.push(paused);
    await waitFor('the first run to be sending', () => slow.messages.length >= 100, 120_000);
    paused.kill('SIGSTOP');
    const pausedAt = Date.now();
    const held = (await statusCounts(db)).sending ?? 0;
    expect(held).toBeGreaterThan(0);
    const others = [
      db.spawn(['queue', 'run', '--watch', '--interval', '1', '--lease', '5']),
      db.spawn(['queue', 'run', '--watch', '--interval', '1', '--lease', '5']),
    ];
    left.push(...others);
    // its leases run out 5 s after its last renewal; the others take them back and send everything
    await waitFor('every message sent by the others', async () => (await statusCounts(db)).sent === n, 180_000);
    await stopAll(others);
    expect(Date.now() - pausedAt).toBeGreaterThan(5000);
    const beforeResume = slow.messages.length;
    const resumedAt = Date.now();
    paused.kill('SIGCONT');
    const r = await Promise.race([paused, new Promise<null>((res) => setTimeout(() => res(null), 60_000))]);
    expect(r, 'the resumed run did not end').not.toBeNull();
    // what it was transmitting at the pause may still arrive; nothing else does
    expect(slow.messages.length - beforeResume).toBeLessThanOrEqual(CONCURRENCY);
    const ids = messageIds(slow);
    expect(new Set(ids).size).toBe(n);
    expect(duplicates(ids)).toBeLessThanOrEqual(CONCURRENCY);
    // and the database accepted no send of it after it resumed: its claims were no longer its own
    const owner = ((await db.sql(`SELECT owner FROM distributor_runs WHERE pid = ${paused.pid}`)) as { owner: string }[])[0].owner;
    const late = (await db.sql(
      `SELECT count(*)::int AS n FROM attempts WHERE lease_owner = '${owner}' AND outcome = 'sent' AND ended_at >= ${resumedAt}`,
    )) as { n: number }[];
    expect(late[0].n).toBe(0);
    expect(await statusCounts(db)).toEqual({ sent: n });
  }, 300_000);

  it('three distributors sharing a limit of 20 per minute: no 60-second window at the server holds more than 20', async () => {
    // 30 messages: 20 go at once, the other 10 a minute later, so one window of the server's record
    // spans both bursts; the test lasts a little over a minute (bounded at 150 s)
    smtp.reset();
    const db = await setUp(smtp, 'throttle', ['throttling.enabled', 'true', 'smtp.perMinuteLimit', '20']);
    const n = 30;
    await db.queue(n);
    const runs = [0, 1, 2].map(() => db.spawn(['queue', 'run', '--watch', '--interval', '5', '--json']));
    left.push(...runs);
    await waitFor('every message sent', async () => (await statusCounts(db)).sent === n, 150_000);
    const ended = await stopAll(runs);
    // forced sends (after ten deferrals) may go over the limit; they are logged in the runs' --json lines
    let forced = 0;
    for (const r of ended) {
      expect(r.exitCode, String(r.stderr)).toBe(0);
      for (const line of String(r.stdout).trim().split('\n').filter(Boolean)) forced += (JSON.parse(line) as { forced: number }).forced;
    }
    const times = [...smtp.receivedAt].sort((a, b) => a - b);
    expect(times).toHaveLength(n);
    let most = 0;
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && times[j] - times[i] < 60_000) j++;
      most = Math.max(most, j - i);
    }
    expect(most).toBeLessThanOrEqual(20 + forced);
    expect(new Set(messageIds(smtp)).size).toBe(n);
  }, 200_000);
});
