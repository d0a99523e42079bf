import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pgFailure } from '../../src/store/pg/errors.js';
import { pgTarget, pgpassLookup } from '../../src/store/pg/url.js';

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
});
