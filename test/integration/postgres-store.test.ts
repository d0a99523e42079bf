/**
 * What only a server database has to prove, on a real PostgreSQL: claims racing from several
 * connections at once (SKIP LOCKED), the fence against a former lease owner, the throttle window
 * shared by hosts, migrations under concurrent first opens, a newer schema refused, and the faults a
 * server brings (down, wrong password, no privilege, no database) mapped to their exit codes without
 * ever showing the password.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { isSysemailError } from '../../src/core/errors.js';
import { PG_MIGRATIONS } from '../../src/store/pg/schema.js';
import { PgStore } from '../../src/store/pg/store.js';
import type { ClaimRequest, NewMessage } from '../../src/store/ports.js';
import { ROOT } from '../helpers/cli.js';
import { adminQuery, createTestDatabase, dbUrl, pgAvailable, testServer } from '../helpers/postgres.js';

const available = await pgAvailable();
const server = available ? (await testServer())! : undefined;

const msg = (i: number): NewMessage => ({
  status: 'pending',
  provider: null,
  from: 'app@example.com',
  to: [`u${i}@example.com`],
  cc: [],
  bcc: [],
  subject: `m${i}`,
  text: 'hi',
  attachments: [],
});

const req = (owner: string, max: number, o: { limit?: number; leaseMs?: number } = {}): ClaimRequest => ({
  owner,
  now: Date.now(),
  leaseMs: o.leaseMs ?? 60_000,
  max,
  providerOf: () => 'smtp',
  limitOf: () => o.limit ?? 0,
});

async function failureOf(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe.skipIf(!available)('PostgreSQL store', () => {
  const open: PgStore[] = [];
  async function stores(n: number, url?: string): Promise<PgStore[]> {
    const u = url ?? (await createTestDatabase(server!, 'pg')).url;
    const out: PgStore[] = [];
    for (let i = 0; i < n; i++) out.push(await PgStore.open(u));
    open.push(...out);
    return out;
  }
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  it('claimers racing at the same moment never get the same message (FOR UPDATE SKIP LOCKED)', async () => {
    const hosts = await stores(4);
    const ids = await hosts[0].messages.insertMany(
      Array.from({ length: 300 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    const owners = new Map<number, string>();
    await Promise.all(
      hosts.map(async (s, h) => {
        for (;;) {
          const r = await s.messages.claim(req(`host${h}`, 7));
          if (r.claimed.length === 0) return;
          for (const m of r.claimed) {
            expect(owners.get(m.id), `message ${m.id} claimed by two hosts`).toBeUndefined();
            owners.set(m.id, `host${h}`);
          }
        }
      }),
    );
    expect([...owners.keys()].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(owners.values()).size).toBeGreaterThan(1);
    expect((await hosts[1].messages.counts()).sending).toBe(300);
  });

  it('a former owner whose lease ran out can neither renew nor complete the newer attempt', async () => {
    const [a, b] = await stores(2);
    const [id] = await a.messages.insertMany([msg(1)], Date.now() - 1000);
    const claimedAt = Date.now();
    expect((await a.messages.claim(req('A', 1, { leaseMs: 250 }))).claimed.map((m) => m.id)).toEqual([id]);
    await new Promise((r) => setTimeout(r, Math.max(0, claimedAt + 400 - Date.now())));
    const taken = await b.messages.claim(req('B', 1));
    expect(taken.reclaimed).toEqual([id]);
    expect(taken.claimed.map((m) => [m.id, m.attempts, m.leaseOwner])).toEqual([[id, 2, 'B']]);
    expect((await a.messages.renew('A', [id], 60_000)).renewed).toEqual([]);
    const now = Date.now();
    expect(
      await a.messages.applyWrites([{ op: 'sent', id, owner: 'A', attempt: 1, outcome: { now, startedAt: now, provider: 'smtp' } }]),
    ).toEqual([false]);
    expect(
      await b.messages.applyWrites([
        { op: 'sent', id, owner: 'B', attempt: 2, outcome: { now, startedAt: now, provider: 'smtp', response: '250 ok' } },
      ]),
    ).toEqual([true]);
    expect((await a.messages.attempts(id)).map((x) => [x.outcome, x.leaseOwner])).toEqual([['sent', 'B']]);
  });

  it('keeps claiming after another host adds a column to the messages table (the claim is prepared on each connection)', async () => {
    const { name, url } = await createTestDatabase(server!, 'pg');
    const [s] = await stores(1, url);
    await s.messages.insertMany(
      Array.from({ length: 8 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    // four at once: every connection of the pool runs (and keeps) the claim statement
    const before = await Promise.all([0, 1, 2, 3].map((h) => s.messages.claim(req(`A${h}`, 1))));
    expect(before.flatMap((r) => r.claimed)).toHaveLength(4);
    // a later sysemail's migration, run by another host while this one is claiming
    await adminQuery(server!, 'ALTER TABLE messages ADD COLUMN added_later text', name);
    const after = await Promise.all([0, 1, 2, 3].map((h) => s.messages.claim(req(`A${h}`, 1))));
    const claimed = after.flatMap((r) => r.claimed);
    expect(claimed.map((m) => m.subject).sort()).toEqual(['m4', 'm5', 'm6', 'm7']);
    expect(claimed.every((m) => m.status === 'sending' && m.to.length === 1 && m.text === 'hi')).toBe(true);
  });

  it('three hosts sharing a limit of 20 per minute claim at most 20 sends between them', async () => {
    const hosts = await stores(3);
    await hosts[0].messages.insertMany(
      Array.from({ length: 60 }, (_, i) => msg(i)),
      Date.now() - 1000,
    );
    const results = await Promise.all(hosts.map((s, h) => s.messages.claim(req(`host${h}`, 20, { limit: 20 }))));
    const sent = results.flatMap((r) => r.claimed);
    expect(sent).toHaveLength(20);
    expect(sent.every((m) => !m.forcedSend)).toBe(true);
    expect(results.reduce((n, r) => n + r.throttled.length, 0)).toBe(40);
    // a deferral waits for a slot of the shared window: within the minute, never before now
    for (const t of results.flatMap((r) => r.throttled)) expect(t.until).toBeGreaterThan(Date.now() - 5000);
    const again = await hosts[1].messages.claim(req('host1', 20, { limit: 20 }));
    expect(again.claimed).toEqual([]);
  });

  it('stores the bytes of attachments with the message, so any host can send it', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-pgatt-'));
    try {
      const file = path.join(dir, 'report.pdf');
      const bytes = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
      fs.writeFileSync(file, bytes);
      const [a, b] = await stores(2);
      const id = await a.messages.insert(
        { ...msg(1), attachments: [{ filename: 'report.pdf', path: file, contentType: 'application/pdf', size: bytes.length }] },
        Date.now(),
      );
      fs.rmSync(file);
      expect(await b.messages.attachmentContents(id)).toEqual([
        { position: 0, filename: 'report.pdf', contentType: 'application/pdf', content: bytes },
      ]);
      expect((await b.operator.change('delete', { ids: [id] }, { now: Date.now() })).changed).toEqual([id]);
      expect(await b.messages.attachmentContents(id)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('several processes opening a new database at once migrate it exactly once', async () => {
    const { url } = await createTestDatabase(server!, 'mig');
    const script = `
      const { PgStore } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'store', 'pg', 'store.js'))});
      const s = await PgStore.open(process.env.URL);
      process.stdout.write(JSON.stringify({ id: s.id, created: s.created }));
      await s.close();`;
    const run = promisify(execFile);
    const outs = await Promise.all(
      Array.from({ length: 6 }, () =>
        run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, URL: url }, timeout: 60_000 }),
      ),
    );
    const opened = outs.map((o) => JSON.parse(o.stdout) as { id: string; created: boolean });
    expect(new Set(opened.map((o) => o.id)).size).toBe(1);
    expect(opened.filter((o) => o.created)).toHaveLength(1);
    const db = new URL(url).pathname.slice(1);
    expect(await adminQuery(server!, 'SELECT version FROM schema_version ORDER BY version', db)).toEqual(
      PG_MIGRATIONS.map((_, i) => ({ version: i + 1 })),
    );
    expect(await adminQuery(server!, "SELECT count(*)::int AS n FROM meta WHERE key = 'db_id'", db)).toEqual([{ n: 1 }]);
  });

  it('refuses a schema newer than this sysemail knows, with 78, and leaves it unchanged', async () => {
    const { url, name } = await createTestDatabase(server!, 'new');
    await (await PgStore.open(url)).close();
    const known = PG_MIGRATIONS.length;
    await adminQuery(server!, `INSERT INTO schema_version (version) VALUES (${known + 1}), (${known + 2})`, name);
    const err = await failureOf(PgStore.open(url));
    expect(err).toMatchObject({ kind: 'config', code: 'DB_TOO_NEW' });
    expect(String((err as Error).message)).toContain(`schema ${known + 2}, this one knows ${known}`);
    expect(await adminQuery(server!, 'SELECT max(version) AS v FROM schema_version', name)).toEqual([{ v: known + 2 }]);
  });

  it('refuses a database holding tables of the same names that sysemail did not make', async () => {
    const { url, name } = await createTestDatabase(server!, 'foreign');
    await adminQuery(server!, 'CREATE TABLE messages (id int)', name);
    expect(await failureOf(PgStore.open(url))).toMatchObject({ kind: 'config', code: 'DB_FOREIGN' });
  });

  describe('faults, each with its exit code and never the password', () => {
    const SECRET = 'Very-Secret-9q';

    function expectNoSecret(err: unknown, secret = SECRET) {
      const e = err as Error & { fix?: string; data?: unknown };
      for (const text of [e.message, e.fix ?? '', JSON.stringify(e.data ?? null), String(e)]) expect(text).not.toContain(secret);
    }

    it('server down: tempfail (75)', async () => {
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      const err = await failureOf(PgStore.open(`postgres://app:${SECRET}@127.0.0.1:${port}/mail?connect_timeout=5`));
      expect(isSysemailError(err)).toBe(true);
      expect(err).toMatchObject({ kind: 'tempfail', code: 'PG_UNAVAILABLE' });
      expect((err as Error).message).toContain('app:***@127.0.0.1');
      expectNoSecret(err);
    });

    it('wrong password: noperm (77)', async () => {
      const err = await failureOf(PgStore.open(dbUrl(server!, 'postgres', { password: SECRET })));
      expect(err).toMatchObject({ kind: 'noperm', code: 'PG_AUTH_FAILED' });
      expectNoSecret(err);
    });

    it('no password anywhere: noperm (77), without looking at a password file anyone may read', async () => {
      const err = await failureOf(
        PgStore.open(dbUrl(server!, 'postgres', { password: null }), { env: { HOME: '/nonexistent', PGPASSFILE: '/nonexistent/pgpass' } }),
      );
      expect(err).toMatchObject({ kind: 'noperm' });
    });

    it('no privilege to create the schema: noperm (77)', async () => {
      const { name } = await createTestDatabase(server!, 'priv');
      const role = `sysemail_ro_${process.pid}_${Date.now() % 100000}`;
      await adminQuery(server!, `CREATE ROLE ${role} LOGIN PASSWORD '${SECRET}'`);
      await adminQuery(server!, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`, name);
      const err = await failureOf(PgStore.open(dbUrl(server!, name, { user: role, password: SECRET })));
      expect(err).toMatchObject({ kind: 'noperm', code: 'PG_NO_PRIVILEGE' });
      expectNoSecret(err);
    });

    it('no such database: config (78) naming the fix', async () => {
      const err = await failureOf(PgStore.open(dbUrl(server!, 'sysemail_does_not_exist')));
      expect(err).toMatchObject({ kind: 'config', code: 'PG_NO_DATABASE' });
      expect((err as { fix: string }).fix).toMatch(/createdb|CREATE DATABASE/);
      expectNoSecret(err, server!.password);
    });
  });
});
