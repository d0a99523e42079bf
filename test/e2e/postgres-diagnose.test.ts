/**
 * `diagnose` on a PostgreSQL database: the connection checked step by step (DNS, TCP, TLS, sign-in,
 * privileges, schema version) against the real server, each failure with its cause and fix, and the
 * password in no output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { adminQuery, createTestDatabase, dbUrl, pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';

const available = await pgAvailable();

interface Checks {
  ok: boolean;
  checks: { id: string; status: string; detail: string; fix: string; diagnosis?: string }[];
}

describe.skipIf(!available)('diagnose: the PostgreSQL connection step by step', () => {
  let sb: Sandbox;
  let server: PgCluster;
  let db: { name: string; url: string };
  const diagnose = async (url: string, env: Record<string, string> = {}) => {
    const r = await sb.run(['--db', url, 'diagnose', '--offline', '--json'], { noDb: true, env });
    expect(r.stdout).not.toContain(server.password);
    expect(r.stderr).not.toContain(server.password);
    return { exitCode: r.exitCode, out: json<Checks>(r.stdout), stderr: r.stderr };
  };
  const byId = (out: Checks) => Object.fromEntries(out.checks.map((c) => [c.id, c]));

  beforeAll(async () => {
    server = (await testServer())!;
    sb = sandbox('sysemail-pg-diagnose-');
    db = await createTestDatabase(server, 'diag');
    expect((await sb.run(['--db', db.url, 'params', 'list'], { noDb: true })).exitCode).toBe(0);
  });
  afterAll(() => sb?.cleanup());

  it('a database in order: every database step passes, then the usual checklist', async () => {
    const { out } = await diagnose(db.url);
    const c = byId(out);
    for (const id of ['database.dns', 'database.tcp', 'database.tls', 'database.auth', 'database.privileges', 'database.schema'])
      expect(c[id]?.status, id).toBe('pass');
    expect(c['database.auth'].detail).toMatch(/PostgreSQL \d+/);
    expect(c['database.schema'].detail).toContain('up to date');
    expect(c.database.status).toBe('pass'); // the health check that names the backend
    expect(c.distributor).toBeDefined();
  });

  it('server down (wrong port): the TCP step fails with its cause, the rest is not tried, exit 1', async () => {
    const { exitCode, out } = await diagnose(`postgres://app:Secret-Down-1@127.0.0.1:1/mail`);
    expect(exitCode).toBe(1);
    const c = byId(out);
    expect(c['database.dns'].status).toBe('pass');
    expect(c['database.tcp']).toMatchObject({
      status: 'fail',
      diagnosis: 'CONNECTION_REFUSED',
      fix: expect.stringContaining('Start the PostgreSQL server'),
    });
    expect(c['database.auth'].status).toBe('skip');
    expect(JSON.stringify(out)).not.toContain('Secret-Down-1');
  });

  it('a host that does not resolve: the DNS step fails', async () => {
    const { out } = await diagnose('postgres://app@no-such-host.invalid:5432/mail');
    expect(byId(out)['database.dns']).toMatchObject({ status: 'fail', diagnosis: 'HOST_NOT_FOUND' });
  });

  it('sslmode=require against a server without TLS: the TLS step fails saying so', async () => {
    const { out } = await diagnose(`${db.url}?sslmode=require`);
    expect(byId(out)['database.tls']).toMatchObject({ status: 'fail', detail: expect.stringContaining('does not accept TLS') });
    expect(byId(out)['database.auth'].status).toBe('skip');
  });

  it('wrong password: the sign-in fails with the pgpass/PGPASSWORD fix, never the password', async () => {
    const wrong = dbUrl(server, db.name, { password: 'Not-The-Password-9' });
    const { exitCode, out } = await diagnose(wrong);
    expect(exitCode).toBe(1);
    const auth = byId(out)['database.auth'];
    expect(auth.status).toBe('fail');
    expect(auth.detail).toContain('the password in the URL');
    expect(auth.fix).toMatch(/pgpass/);
    expect(auth.fix).toMatch(/PGPASSWORD/);
    expect(JSON.stringify(out)).not.toContain('Not-The-Password-9');
    expect(byId(out)['database.privileges'].status).toBe('skip');
    // from PGPASSWORD, said so
    const fromEnv = await diagnose(dbUrl(server, db.name, { password: null }), { PGPASSWORD: 'Not-The-Password-9' });
    expect(byId(fromEnv.out)['database.auth'].detail).toContain('PGPASSWORD');
  });

  it('a role without privileges on the tables: the privileges step names them and the GRANT', async () => {
    await adminQuery(
      server,
      "DO $$ BEGIN CREATE ROLE sysemail_nopriv LOGIN PASSWORD 'nopriv-Pw-1'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
    const { exitCode, out } = await diagnose(dbUrl(server, db.name, { user: 'sysemail_nopriv', password: 'nopriv-Pw-1' }));
    expect(exitCode).toBe(1);
    const c = byId(out);
    expect(c['database.auth'].status).toBe('pass');
    expect(c['database.privileges'].status).toBe('fail');
    expect(c['database.privileges'].detail).toContain('messages');
    expect(c['database.privileges'].fix).toContain('GRANT SELECT, INSERT, UPDATE, DELETE');
    // the same user on an empty database: it may not create the schema either
    const empty = await createTestDatabase(server, 'diagempty');
    const r = await diagnose(dbUrl(server, empty.name, { user: 'sysemail_nopriv', password: 'nopriv-Pw-1' }));
    expect(byId(r.out)['database.privileges']).toMatchObject({ status: 'fail', detail: expect.stringContaining('may not create') });
  });

  it('a schema written by a newer sysemail: the schema step fails naming exit 78 and the upgrade', async () => {
    const newer = await createTestDatabase(server, 'diagnewer');
    expect((await sb.run(['--db', newer.url, 'params', 'list'], { noDb: true })).exitCode).toBe(0);
    await adminQuery(server, 'INSERT INTO schema_version (version) VALUES (999)', newer.name);
    const { exitCode, out } = await diagnose(newer.url);
    expect(exitCode).toBe(1);
    expect(byId(out)['database.schema']).toMatchObject({ status: 'fail', fix: expect.stringContaining('Upgrade sysemail') });
    expect(byId(out)['database.schema'].detail).toContain('78');
    expect((await sb.run(['--db', newer.url, 'params', 'list'], { noDb: true })).exitCode).toBe(78);
    // an empty database: the first command will create the schema
    const empty = await createTestDatabase(server, 'diagfresh');
    const fresh = await diagnose(empty.url);
    expect(byId(fresh.out)['database.schema'].detail).toContain('creates the schema');
  });
});

describe.skipIf(!available)('queue status and diagnose: per host on a shared database', () => {
  let sb: Sandbox;
  let server: PgCluster;
  let db: { name: string; url: string };

  beforeAll(async () => {
    server = (await testServer())!;
    sb = sandbox('sysemail-pg-hosts-');
    db = await createTestDatabase(server, 'hosts');
    expect((await sb.run(['--db', db.url, 'params', 'list'], { noDb: true })).exitCode).toBe(0);
    // two hosts' distributors: app-a finished its run; app-b is sending two messages under its lease
    await adminQuery(
      server,
      `INSERT INTO distributor_runs (owner, host, pid, started_at, ended_at, sent, heartbeat_at, lease_ms) VALUES
         ('app-a:11:aaaa', 'app-a', 11, 1000, 2000, 7, 2000, 60000),
         ('app-b:22:bbbb', 'app-b', 22, 3000, NULL, 1, (extract(epoch FROM now()) * 1000)::bigint, 600000);
       INSERT INTO messages (status, from_addr, to_addrs, created_at, due_at, updated_at, attempts, lease_owner, lease_expires_at)
       SELECT 'sending', 'app@example.com', '["x@example.com"]', 1, 1, 1, 1, 'app-b:22:bbbb', (extract(epoch FROM now()) * 1000)::bigint + 600000
       FROM generate_series(1, 2);`,
      db.name,
    );
  });
  afterAll(() => sb?.cleanup());

  it('queue status --json lists each host with its last run and the leases it holds now; the text says the same', async () => {
    let r = await sb.run(['--db', db.url, 'queue', 'status', '--json'], { noDb: true });
    expect(r.exitCode).toBe(0);
    const s = json<{
      database: { backend: string; version: string };
      lastRun: { host: string };
      hosts: {
        host: string;
        leasedMessages: number;
        leases: { owner: string; messages: number }[];
        lastRun: { pid: number; sent: number } | null;
      }[];
    }>(r.stdout);
    expect(s.database).toMatchObject({ backend: 'postgresql', version: expect.stringMatching(/^\d+/) });
    expect(s.lastRun.host).toBe('app-b'); // unchanged: the latest run of all
    expect(s.hosts.map((h) => [h.host, h.lastRun?.pid, h.lastRun?.sent, h.leasedMessages])).toEqual([
      ['app-b', 22, 1, 2],
      ['app-a', 11, 7, 0],
    ]);
    expect(s.hosts[0].leases).toEqual([{ owner: 'app-b:22:bbbb', messages: 2, expiresAt: expect.any(String) }]);
    r = await sb.run(['--db', db.url, 'queue', 'status'], { noDb: true });
    expect(r.stdout).toMatch(/^ {2}app-b: last run .*pid 22.*holds 2 message\(s\)/m);
    expect(r.stdout).toMatch(/^ {2}app-a: last run .*pid 11.*holds no lease/m);
    r = await sb.run(['--db', db.url, 'diagnose', '--offline', '--json'], { noDb: true });
    const hosts = json<Checks>(r.stdout).checks.find((c) => c.id === 'distributor.hosts');
    expect(hosts?.detail).toMatch(/app-b: .*holds 2 message\(s\).*; app-a: /);
  });
});
