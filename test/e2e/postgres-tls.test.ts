/**
 * TLS to a PostgreSQL server that speaks it, the way libpq users expect: sslmode and sslrootcert in the
 * URL, ~/.postgresql/root.crt by default, the certificate's chain and name checked, and each failure a
 * one-line error naming the certificate problem and its fix (exit 78, as an untrusted SMTP certificate),
 * with `diagnose` saying the same in its TLS step.
 *
 * Two throwaway clusters of their own: one with a certificate signed by the test CA, listening also on
 * 127.0.0.2 (an address the certificate does not name), where database `secure` takes only TLS
 * connections and `mail` plain ones too; one with a self-signed certificate; one whose certificate,
 * signed by the test CA, has expired.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type CliResult, type Sandbox } from '../helpers/cli.js';
import { adminQuery, dbUrl, findPgBin, pgAvailable, postgresRequired, startCluster, type PgCluster } from '../helpers/postgres.js';
import { testPki, type TestPki } from '../helpers/tls.js';

const canStart = (await pgAvailable()) && !!findPgBin('initdb') && !!findPgBin('pg_ctl');
// a server given from outside (SYSEMAIL_TEST_PG_URL) without local PostgreSQL programs: these clusters cannot be started
const run = canStart || postgresRequired();

interface Checks {
  checks: { id: string; status: string; detail: string; fix: string; diagnosis?: string }[];
}

/** Only TLS connections (pg_hba.conf hostssl), and plain ones too. */
const SECURE = 'secure';
const PLAIN_OK = 'mail';

describe.skipIf(!run)('PostgreSQL over TLS', () => {
  let pki: TestPki;
  let trusted: PgCluster;
  let untrusted: PgCluster;
  let expired: PgCluster;
  let sb: Sandbox;
  const clusters: PgCluster[] = [];
  /** A cluster stopped in afterAll, or when the process exits before that. */
  const started = (c: PgCluster): PgCluster => {
    clusters.push(c);
    process.once('exit', () => c.stop());
    return c;
  };

  const url = (c: PgCluster, query: string, host = '127.0.0.1', db = SECURE) => {
    const u = new URL(dbUrl(c, db));
    u.hostname = host;
    return `${u.toString()}?${query}`;
  };
  const ca = () => `sslrootcert=${encodeURIComponent(pki.caFile)}`;

  const cli = async (dbu: string, args: string[], s = sb): Promise<CliResult> => {
    const r = await s.run(['--db', dbu, ...args], { noDb: true, timeout: 30_000 });
    for (const c of clusters) {
      expect(r.stdout).not.toContain(c.password);
      expect(r.stderr).not.toContain(c.password);
    }
    return r;
  };
  /** A failure as an admin sees it: one line on stderr, no stack. */
  const oneLine = (r: CliResult): string => {
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    return lines[0];
  };
  const diagnose = async (dbu: string) => {
    const r = await cli(dbu, ['diagnose', '--offline', '--json']);
    return Object.fromEntries(json<Checks>(r.stdout).checks.map((c) => [c.id, c]));
  };

  beforeAll(async () => {
    pki = testPki();
    sb = sandbox('sysemail-pg-tls-');
    trusted = started(
      await startCluster({
        tls: pki.server,
        listen: ['127.0.0.1', '127.0.0.2'],
        hba: [
          'local all all scram-sha-256',
          'hostssl all all 127.0.0.0/8 scram-sha-256',
          `host postgres,${PLAIN_OK} all 127.0.0.0/8 scram-sha-256`,
        ],
      }),
    );
    untrusted = started(await startCluster({ tls: pki.untrusted }));
    expired = started(await startCluster({ tls: pki.expired }));
    for (const db of [SECURE, PLAIN_OK]) await adminQuery(trusted, `CREATE DATABASE ${db}`);
    for (const c of [untrusted, expired]) await adminQuery(c, `CREATE DATABASE ${SECURE}`);
  }, 180_000);

  afterAll(() => {
    for (const c of clusters) c.stop();
    sb?.cleanup();
  });

  it('sslmode=verify-full with the CA: params set/get and queue status work (this database takes only TLS)', async () => {
    const dbu = url(trusted, `sslmode=verify-full&${ca()}`);
    expect((await cli(dbu, ['params', 'set', 'smtp.host', 'mail.example.com'])).exitCode).toBe(0);
    const got = await cli(dbu, ['params', 'get', 'smtp.host']);
    expect(got.exitCode, got.stderr).toBe(0);
    expect(got.stdout.trim()).toBe('mail.example.com');
    const status = await cli(dbu, ['queue', 'status', '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(json<{ counts: Record<string, number> }>(status.stdout).counts).toMatchObject({ pending: 0, sent: 0 });
    // the same from libpq's environment variables
    const fromEnv = await sb.run(['--db', dbUrl(trusted, SECURE), 'params', 'get', 'smtp.host'], {
      noDb: true,
      env: { PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.caFile },
    });
    expect(fromEnv.exitCode, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout.trim()).toBe('mail.example.com');
    // the host name in the URL checked against the certificate's DNS name
    const byName = await cli(url(trusted, `sslmode=verify-full&${ca()}`, 'localhost'), ['params', 'get', 'smtp.host']);
    expect(byName.exitCode, byName.stderr).toBe(0);
  });

  it('sslmode=verify-ca with the CA works, also at an address the certificate does not name', async () => {
    for (const host of ['127.0.0.1', '127.0.0.2']) {
      const r = await cli(url(trusted, `sslmode=verify-ca&${ca()}`, host), ['params', 'get', 'smtp.host']);
      expect(r.exitCode, `${host}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe('mail.example.com');
    }
  });

  it('sslmode=require with the CA works (it checks the chain, as verify-ca)', async () => {
    const r = await cli(url(trusted, `sslmode=require&${ca()}`), ['queue', 'status', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('a CA file that is missing (66) or holds no certificate (78), a client pair that is not PEM (78): one line each', async () => {
    const missing = await cli(url(trusted, 'sslmode=verify-full&sslrootcert=/nonexistent/ca.pem'), ['params', 'get', 'smtp.host']);
    expect(missing.exitCode).toBe(66);
    expect(oneLine(missing)).toContain('sslrootcert=/nonexistent/ca.pem');
    const junk = path.join(sb.dir, 'not-a-ca.pem');
    fs.writeFileSync(junk, 'this is not a certificate\n');
    const r = await cli(url(trusted, `sslmode=verify-full&sslrootcert=${encodeURIComponent(junk)}`), ['params', 'get', 'smtp.host']);
    expect(r.exitCode).toBe(78);
    const line = oneLine(r);
    expect(line).toContain(`sslrootcert=${junk}`);
    expect(line).toMatch(/no PEM certificate/);
    // diagnose puts it under its TLS step
    const c = await diagnose(url(trusted, `sslmode=verify-full&sslrootcert=${encodeURIComponent(junk)}`));
    expect(c['database.tls']).toMatchObject({ status: 'fail', detail: expect.stringContaining('no PEM certificate') });
    expect(c['database.auth'].status).toBe('skip');
    // a client certificate and key that are not PEM
    const pair = `sslcert=${encodeURIComponent(junk)}&sslkey=${encodeURIComponent(junk)}`;
    const client = await cli(url(trusted, `sslmode=verify-full&${ca()}&${pair}`), ['params', 'get', 'smtp.host']);
    expect(client.exitCode).toBe(78);
    expect(oneLine(client)).toMatch(/client certificate or key .* cannot be used/);
    // a certificate and a key of two different pairs
    const apart = `sslcert=${encodeURIComponent(pki.server.certFile)}&sslkey=${encodeURIComponent(pki.untrusted.keyFile)}`;
    const mixed = await cli(url(trusted, `sslmode=verify-full&${ca()}&${apart}`), ['params', 'get', 'smtp.host']);
    expect(mixed.exitCode).toBe(78);
    expect(oneLine(mixed)).toMatch(/client certificate or key .* cannot be used/);
  });

  it('without sslrootcert, ~/.postgresql/root.crt is the CA (as libpq)', async () => {
    const own = sandbox('sysemail-pg-tls-home-');
    try {
      fs.mkdirSync(path.join(own.home, '.postgresql'), { recursive: true });
      fs.copyFileSync(pki.caFile, path.join(own.home, '.postgresql', 'root.crt'));
      const r = await cli(url(trusted, 'sslmode=verify-full'), ['params', 'get', 'smtp.host'], own);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('mail.example.com');
    } finally {
      own.cleanup();
    }
  });

  it('without any CA the certificate is not trusted: the error says to give sslrootcert', async () => {
    const r = await cli(url(trusted, 'sslmode=verify-full'), ['params', 'get', 'smtp.host']);
    expect(r.exitCode).toBe(78);
    const line = oneLine(r);
    expect(line).toMatch(/not trusted/);
    expect(line).toContain('sslrootcert=');
  });

  it('sslmode=disable works where pg_hba.conf allows plain connections, and where it does not, says TLS is required', async () => {
    const plain = url(trusted, 'sslmode=disable', '127.0.0.1', PLAIN_OK);
    expect((await cli(plain, ['params', 'set', 'smtp.host', 'plain.example.com'])).exitCode).toBe(0);
    const ok = await cli(plain, ['params', 'get', 'smtp.host']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe('plain.example.com');
    const refused = await cli(url(trusted, 'sslmode=disable'), ['params', 'get', 'smtp.host']);
    expect(refused.exitCode).toBe(77);
    const line = oneLine(refused);
    expect(line).toMatch(/only.*TLS|TLS.*required|requires TLS/i);
    expect(line).toContain('sslmode=verify-full');
  });

  it('a self-signed server certificate with verify-full and the CA: exit 78, one line naming it and the fix', async () => {
    const dbu = url(untrusted, `sslmode=verify-full&${ca()}`);
    const r = await cli(dbu, ['params', 'get', 'smtp.host']);
    expect(r.exitCode).toBe(78);
    const line = oneLine(r);
    expect(line).toMatch(/self-signed/);
    expect(line).toContain('sslrootcert');
    const j = await cli(dbu, ['queue', 'status', '--json']);
    expect(j.exitCode).toBe(78);
    expect(json<{ error: { code: string; exitCode: number } }>(j.stderr).error).toMatchObject({ code: 'PG_TLS_UNTRUSTED', exitCode: 78 });
  });

  it('verify-full at an address not in the certificate: exit 78 naming the mismatch', async () => {
    const r = await cli(url(trusted, `sslmode=verify-full&${ca()}`, '127.0.0.2'), ['params', 'get', 'smtp.host']);
    expect(r.exitCode).toBe(78);
    const line = oneLine(r);
    expect(line).toMatch(/not valid for 127\.0\.0\.2/);
    expect(line).toMatch(/localhost/); // the names it does carry
    expect(line).toContain('verify-ca');
  });

  it('an expired server certificate: exit 78 saying so, diagnose the same', async () => {
    const dbu = url(expired, `sslmode=verify-full&${ca()}`);
    const r = await cli(dbu, ['params', 'get', 'smtp.host']);
    expect(r.exitCode).toBe(78);
    const line = oneLine(r);
    expect(line).toMatch(/has expired/);
    expect(line).toMatch(/Renew the server's certificate/);
    const c = await diagnose(dbu);
    expect(c['database.tls']).toMatchObject({
      status: 'fail',
      diagnosis: 'TLS_CERT_UNTRUSTED',
      detail: expect.stringContaining('has expired'),
    });
  });

  it('diagnose: the TLS step passes against the trusted server', async () => {
    const c = await diagnose(url(trusted, `sslmode=verify-full&${ca()}`));
    expect(c['database.tls'].status, c['database.tls'].detail).toBe('pass');
    expect(c['database.tls'].detail).toMatch(/TLSv1\.[23]; certificate localhost issued by sysemail test CA/);
    expect(c['database.tls'].detail).toContain('sslmode=verify-full');
    expect(c['database.auth'].status).toBe('pass');
    expect(c['database.schema'].status).toBe('pass');
  });

  it('diagnose: the TLS step fails against the self-signed server with its cause and fix', async () => {
    const c = await diagnose(url(untrusted, `sslmode=verify-full&${ca()}`));
    expect(c['database.tls']).toMatchObject({ status: 'fail', diagnosis: 'TLS_CERT_UNTRUSTED' });
    expect(c['database.tls'].detail).toMatch(/self-signed/);
    expect(c['database.tls'].fix).toContain('sslrootcert');
    expect(c['database.auth'].status).toBe('skip');
  });

  it('diagnose: the TLS step names a host name mismatch', async () => {
    const c = await diagnose(url(trusted, `sslmode=verify-full&${ca()}`, '127.0.0.2'));
    expect(c['database.tls']).toMatchObject({ status: 'fail', diagnosis: 'TLS_CERT_UNTRUSTED' });
    expect(c['database.tls'].detail).toMatch(/not valid for 127\.0\.0\.2/);
    expect(c['database.tls'].fix).toContain('verify-ca');
  });
});
