/**
 * What `queue status` and `diagnose` make of the last distributor run, from a real SQLite file: still at
 * work, finished, stopped by an error, or dead (its process gone on this host, or silent on another for
 * longer than its lease), with what its leases still hold.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { healthChecks } from '../../src/app/diagnose/health.js';
import { queueStatus } from '../../src/app/queue.js';
import { Store } from '../../src/store/index.js';

import { queuedMessage as msg } from '../helpers/store-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-runstate-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
const fresh = async () => (await Store.open(path.join(dir, `r${++n}.db`)))!;

const HERE = { host: 'here', isPidAlive: () => true };
const LEASE_MS = 60_000;

/** A run of `owner` on `host` that claimed two of three messages and was then heard from `silentMs` ago. */
async function runThatClaimed(store: Store, host: string, silentMs: number): Promise<{ owner: string; until: number }> {
  const owner = `${host}:4242:abcd`;
  const now = Date.now();
  await store.messages.insertMany([msg(1), msg(2), msg(3)], now - 1000);
  store.queue.startRun({ owner, host, pid: 4242, now, leaseMs: LEASE_MS });
  store.queue.claim({ owner, now, leaseMs: LEASE_MS, max: 2, providerOf: () => 'smtp', limitOf: () => 0 });
  store.sqlite.prepare('UPDATE distributor_runs SET heartbeat_at = heartbeat_at - ? WHERE owner = ?').run(silentMs, owner);
  const until = store.sqlite.prepare("SELECT max(lease_expires_at) FROM messages WHERE status = 'sending'").pluck().get() as number;
  return { owner, until };
}

const check = (checks: { id: string }[], id: string) =>
  checks.find((c) => c.id === id) as { id: string; status: string; detail: string; fix: string };

describe('the last distributor run as queue status and diagnose show it', () => {
  it('a run on another host silent for longer than its lease died: its leased messages and when they are taken back', async () => {
    const store = await fresh();
    const { until } = await runThatClaimed(store, 'elsewhere', LEASE_MS + 5_000);
    const s = await queueStatus(store, Date.now(), HERE);
    expect(s.lastRun).toMatchObject({
      state: 'died',
      diedBecause: 'silent',
      endedAt: null,
      leasedMessages: 2,
      leasesExpireAt: new Date(until).toISOString(),
    });
    expect(Date.parse(s.lastRun!.lastSeenAt!)).toBeLessThan(Date.now() - LEASE_MS);

    const checks = await healthChecks({ store, now: Date.now(), ...HERE });
    expect(check(checks, 'distributor').status).toBe('warn');
    expect(check(checks, 'distributor').detail).toContain('ended abnormally');
    const leases = check(checks, 'distributor.leases');
    expect(leases.status).toBe('warn');
    expect(leases.detail).toContain('2 message(s)');
    expect(leases.detail).toContain(new Date(until).toISOString());
    await store.close();
  });

  it('a run on another host heard from within its lease is running, its leases in use and nothing stuck', async () => {
    const store = await fresh();
    await runThatClaimed(store, 'elsewhere', 1_000);
    const s = await queueStatus(store, Date.now(), HERE);
    expect(s.lastRun).toMatchObject({ state: 'running', diedBecause: null, leasedMessages: 2 });
    const checks = await healthChecks({ store, now: Date.now(), ...HERE });
    expect(check(checks, 'distributor').status).toBe('pass');
    expect(check(checks, 'distributor.leases').status).toBe('pass');
    await store.close();
  });

  it('a run on this host whose process is gone died, however recently it was heard from', async () => {
    const store = await fresh();
    await runThatClaimed(store, 'here', 0);
    const s = await queueStatus(store, Date.now(), { host: 'here', isPidAlive: () => false });
    expect(s.lastRun).toMatchObject({ state: 'died', diedBecause: 'process gone', leasedMessages: 2 });
    expect((await queueStatus(store, Date.now(), HERE)).lastRun?.state).toBe('running');
    await store.close();
  });

  it('a run that ended is finished, or stopped when an error ended it; either way it holds nothing', async () => {
    const store = await fresh();
    const a = store.queue.startRun({ owner: 'here:1:a', host: 'here', pid: 1, now: 1000, leaseMs: LEASE_MS });
    store.queue.finishRun(a, 2000);
    expect((await queueStatus(store, Date.now(), HERE)).lastRun).toMatchObject({
      state: 'finished',
      leasedMessages: 0,
      leasesExpireAt: null,
    });
    const b = store.queue.startRun({ owner: 'here:2:b', host: 'here', pid: 2, now: 3000, leaseMs: LEASE_MS });
    store.queue.finishRun(b, 4000, { code: 'AUTH_FAILED', message: '535 5.7.8 Authentication credentials invalid' });
    expect((await queueStatus(store, Date.now(), { host: 'here', isPidAlive: () => false })).lastRun).toMatchObject({
      state: 'stopped',
      error: { code: 'AUTH_FAILED' },
    });
    await store.close();
  });
});
