import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pgFailure } from '../../src/store/pg/errors.js';
import { pgTarget, pgpassLookup } from '../../src/store/pg/url.js';
import { testPki } from '../helpers/tls.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-pgurl-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function pgpass(text: string, mode = 0o600): string {
  const file = path.join(dir, `pgpass-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  return file;
}

const NO_FILES = { HOME: '/nonexistent', PGPASSFILE: '/nonexistent/pgpass' };

describe('the password of a PostgreSQL URL, as libpq finds it', () => {
  it('comes from the URL first, then PGPASSWORD, then the password file', () => {
    const file = pgpass('db.example:5432:mail:app:from-file\n');
    expect(pgTarget('postgres://app:from%2Furl@db.example/mail', { PGPASSWORD: 'from-env', PGPASSFILE: file }).password).toBe('from/url');
    expect(pgTarget('postgres://app@db.example/mail', { PGPASSWORD: 'from-env', PGPASSFILE: file }).password).toBe('from-env');
    expect(pgTarget('postgres://app@db.example/mail', { PGPASSFILE: file }).password).toBe('from-file');
    expect(pgTarget('postgres://app@db.example/mail', NO_FILES).password).toBeUndefined();
  });

  it('reads the password file with wildcards and escapes, first match wins; ignores it when others may read it', () => {
    const text = [
      '# comment',
      'other:5432:*:*:nope',
      'db.example:*:mail:app:first\\:part',
      'db.example:5432:*:*:second',
      '*:*:*:*:any:with:colons',
    ].join('\n');
    const file = pgpass(text);
    const t = { host: 'db.example', port: 5432, database: 'mail', user: 'app' };
    expect(pgpassLookup(file, t)).toBe('first:part');
    expect(pgpassLookup(file, { ...t, user: 'bob' })).toBe('second');
    expect(pgpassLookup(file, { ...t, host: 'elsewhere' })).toBe('any:with:colons');
    expect(pgpassLookup(pgpass(text, 0o644), t)).toBeUndefined();
    expect(pgpassLookup(path.join(dir, 'missing'), t)).toBeUndefined();
  });
});

describe('a PostgreSQL URL to connection options', () => {
  it('takes host, port, database and user, with libpq defaults', () => {
    expect(pgTarget('postgresql://app@db.example:6543/mail', NO_FILES)).toMatchObject({
      host: 'db.example',
      port: 6543,
      database: 'mail',
      user: 'app',
      ssl: false,
    });
    expect(pgTarget('postgres://app@db.example', NO_FILES)).toMatchObject({ port: 5432, database: 'app' });
  });

  it('maps sslmode: disable/prefer plain, require encrypts without checking, verify-ca checks the chain, verify-full the name too', () => {
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const ssl = (q: string) => pgTarget(`postgres://app@db.example/mail?${q}`, NO_FILES).ssl;
    expect(ssl('sslmode=disable')).toBe(false);
    expect(ssl('sslmode=prefer')).toBe(false);
    // require checks the chain (system CAs without sslrootcert): never encryption without verification
    expect(ssl('sslmode=require')).toMatchObject({ rejectUnauthorized: true });
    const verifyCa = ssl(`sslmode=verify-ca&sslrootcert=${ca}`) as {
      rejectUnauthorized: boolean;
      ca: Buffer;
      checkServerIdentity: () => unknown;
    };
    expect(verifyCa.rejectUnauthorized).toBe(true);
    expect(verifyCa.ca.toString()).toContain('BEGIN CERTIFICATE');
    expect(verifyCa.checkServerIdentity()).toBeUndefined();
    const full = ssl(`sslmode=verify-full&sslrootcert=${ca}`) as Record<string, unknown>;
    expect(full).toMatchObject({ rejectUnauthorized: true, servername: 'db.example' });
    expect(full.checkServerIdentity).toBeUndefined();
    // require with a root certificate given verifies against it
    expect(ssl(`sslmode=require&sslrootcert=${ca}`)).toMatchObject({ rejectUnauthorized: true });
  });

  it('refuses a bad URL with a config error that never shows the password', () => {
    for (const [url, code] of [
      ['postgres://app:s3cret@db.example:99999/mail', 'PG_URL_INVALID'],
      ['postgres://app:s3cret@db.example/mail?sslmode=sometimes', 'PG_URL_INVALID'],
      ['postgres://app:s3cret@db.example/mail?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem', 'PG_TLS_FILE_UNREADABLE'],
    ] as const) {
      let err: unknown;
      try {
        pgTarget(url, NO_FILES);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code });
      expect(String((err as Error).message)).not.toContain('s3cret');
      expect(String((err as Error).message)).toContain('app:***@db.example');
    }
  });
});

describe('PostgreSQL failures by code', () => {
  it('maps the driver and server codes to exit kinds', () => {
    const label = 'postgres://app:***@db/mail';
    const of = (e: object) => pgFailure(Object.assign(new Error('x'), e), label);
    expect(of({ code: 'ECONNREFUSED' })).toMatchObject({ kind: 'tempfail', code: 'PG_UNAVAILABLE' });
    expect(
      pgFailure(Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]), {}), label),
    ).toMatchObject({ kind: 'tempfail' });
    expect(of({ code: '28P01' })).toMatchObject({ kind: 'noperm' });
    expect(of({ code: '42501' })).toMatchObject({ kind: 'noperm' });
    expect(of({ code: '3D000' })).toMatchObject({ kind: 'config' });
    expect(of({ code: '57P03' })).toMatchObject({ kind: 'tempfail' });
    expect(of({ code: 'SELF_SIGNED_CERT_IN_CHAIN' })).toMatchObject({ kind: 'config', code: 'PG_TLS_UNTRUSTED' });
    expect(of({ code: '42P01' })).toMatchObject({ kind: 'ioerr' });
  });

  it('says what is wrong with a certificate: self-signed, unknown CA, expired, the wrong name', () => {
    const label = 'postgres://app:***@db/mail?sslmode=verify-full';
    const of = (e: object) => pgFailure(Object.assign(new Error('x'), e), label);
    expect(of({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }).message).toContain('is self-signed and not trusted');
    expect(of({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }).message).toContain('signed by a CA that is not trusted');
    expect(of({ code: 'CERT_HAS_EXPIRED' })).toMatchObject({
      kind: 'config',
      code: 'PG_TLS_UNTRUSTED',
      message: expect.stringContaining('has expired'),
      fix: expect.stringContaining('Renew'),
    });
    const mismatch = of({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      host: 'db',
      cert: { subjectaltname: 'DNS:db.example, IP Address:10.0.0.5' },
    });
    expect(mismatch.message).toContain('not valid for db (it names db.example, 10.0.0.5)');
    expect(mismatch.fix).toContain('verify-ca');
  });

  it('a pg_hba.conf that takes only TLS from this host: PG_TLS_REQUIRED naming sslmode', () => {
    const e = pgFailure(
      Object.assign(new Error('no pg_hba.conf entry for host "10.0.0.9", user "app", database "mail", no encryption'), { code: '28000' }),
      'postgres://app@db/mail?sslmode=disable',
    );
    expect(e).toMatchObject({ kind: 'noperm', code: 'PG_TLS_REQUIRED', fix: expect.stringContaining('sslmode=verify-full') });
  });
});

describe('TLS files as libpq finds them', () => {
  it('sslrootcert, else PGSSLROOTCERT, else ~/.postgresql/root.crt, else the system CAs; the same for the client pair', () => {
    const pki = testPki();
    const home = fs.mkdtempSync(path.join(dir, 'home-'));
    fs.mkdirSync(path.join(home, '.postgresql'));
    const env = { HOME: home, PGPASSFILE: '/nonexistent/pgpass' };
    const ssl = (q: string, e: Record<string, string> = env) =>
      pgTarget(`postgres://app@db.example/mail?sslmode=verify-full${q}`, e).ssl as Record<string, unknown>;
    expect(ssl('').ca).toBeUndefined(); // the system's CAs
    fs.copyFileSync(pki.caFile, path.join(home, '.postgresql', 'root.crt'));
    expect(String(ssl('').ca)).toBe(pki.ca);
    expect(String(ssl('', { ...env, PGSSLROOTCERT: pki.untrusted.certFile }).ca)).toBe(pki.untrusted.cert);
    expect(String(ssl(`&sslrootcert=${pki.server.certFile}`, { ...env, PGSSLROOTCERT: pki.untrusted.certFile }).ca)).toBe(pki.server.cert);
    expect(ssl('&sslrootcert=system').ca).toBeUndefined();
    // a default client certificate counts only with its key
    fs.copyFileSync(pki.server.certFile, path.join(home, '.postgresql', 'postgresql.crt'));
    expect(ssl('').cert).toBeUndefined();
    fs.copyFileSync(pki.server.keyFile, path.join(home, '.postgresql', 'postgresql.key'));
    expect([String(ssl('').cert), String(ssl('').key)]).toEqual([pki.server.cert, pki.server.key]);
  });

  it('refuses a CA file without a certificate and a client pair OpenSSL cannot use, before connecting', () => {
    const pki = testPki();
    const junk = path.join(dir, 'junk.pem');
    fs.writeFileSync(junk, 'not a certificate\n');
    const target = (q: string) => () => pgTarget(`postgres://app:s3cret@db.example/mail?sslmode=verify-full&${q}`, NO_FILES);
    expect(target(`sslrootcert=${junk}`)).toThrow(expect.objectContaining({ kind: 'config', code: 'PG_TLS_FILE_INVALID' }));
    expect(target(`sslrootcert=${pki.caFile}&sslcert=${pki.server.certFile}&sslkey=${pki.untrusted.keyFile}`)).toThrow(
      expect.objectContaining({ kind: 'config', code: 'PG_TLS_FILE_INVALID' }),
    );
    expect(target(`sslrootcert=${pki.caFile}&sslcert=${pki.server.certFile}&sslkey=${pki.server.keyFile}`)).not.toThrow();
  });
});
