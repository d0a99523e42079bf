/**
 * A real PostgreSQL server for tests: a throwaway cluster (initdb in a temporary folder, listening on
 * 127.0.0.1 at an ephemeral port, its unix sockets in that folder, run as an unprivileged user when the
 * tests run as root), and a fresh database per caller.
 *
 * Which server: `SYSEMAIL_TEST_PG_URL` when set (`.ci/run` or test/pg-global-setup.ts started one for
 * the whole run), else a cluster this test process starts on first use and stops when it exits.
 * PostgreSQL tests skip when no server can be started, unless `SYSEMAIL_REQUIRE_POSTGRES=1`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The superuser's name and password in clusters started here. */
export const PG_TEST_USER = 'sysemail_test';
export const PG_TEST_PASSWORD = 'test-only-Pw-7f3a';

const NOBODY = 65534;

export interface PgCluster {
  /** Superuser URL of the server's `postgres` database (password included: tests only). */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  stop(): void;
}

/** A PostgreSQL program: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin (newest first). */
export function findPgBin(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && isExecutable(file)) return file;
  }
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const v of versions) {
    const file = path.join(root, v, 'bin', name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A port free on loopback right now (the server binds it a moment later; a clash is retried). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL program, as `nobody` when we are root (the server refuses to run as root). */
function runAs(unprivileged: boolean, file: string, args: string[], timeoutMs: number): { status: number | null; output: string } {
  const [cmd, argv] = unprivileged
    ? ['setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', file, ...args]]
    : [file, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

export interface ClusterOptions {
  /**
   * TLS on (ssl=on) with this certificate and key. Both are copied into the cluster's folder, owned by
   * the server's user, the key mode 0600: the server refuses a key that group or others may read.
   */
  tls?: { certFile: string; keyFile: string };
  /** Loopback addresses to listen on (default 127.0.0.1 only); any of 127.0.0.0/8 works on Linux. */
  listen?: string[];
  /** pg_hba.conf lines replacing initdb's, e.g. `hostssl all all 127.0.0.2/32 scram-sha-256`. */
  hba?: string[];
}

/** Copies a file into the cluster's folder, readable by the server's user only. */
function copyForServer(from: string, to: string, root: boolean): void {
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o600);
  if (root) fs.chownSync(to, NOBODY, NOBODY);
}

/**
 * Starts a throwaway cluster and returns how to reach it. Throws (with initdb's or the server's words)
 * when it cannot be started. Without options: loopback 127.0.0.1, no TLS, initdb's pg_hba.conf.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const initdb = findPgBin('initdb');
  const pgCtl = findPgBin('pg_ctl');
  if (!initdb || !pgCtl) throw new Error('PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin)');
  const root = process.geteuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-pg-'));
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, PG_TEST_PASSWORD + '\n', { mode: 0o600 });
  if (root) {
    fs.chownSync(dir, NOBODY, NOBODY);
    fs.chownSync(pwfile, NOBODY, NOBODY);
  }
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  const init = runAs(
    root,
    initdb,
    ['-D', data, '-U', PG_TEST_USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync'],
    120_000,
  );
  fs.rmSync(pwfile, { force: true });
  if (init.status !== 0) {
    cleanup();
    throw new Error(`initdb failed: ${init.output.trim().split('\n').slice(-3).join(' ')}`);
  }
  const extra: string[] = [];
  if (options.tls) {
    const cert = path.join(data, 'server.crt');
    const key = path.join(data, 'server.key');
    copyForServer(options.tls.certFile, cert, root);
    copyForServer(options.tls.keyFile, key, root);
    extra.push('-c ssl=on', `-c ssl_cert_file=${cert}`, `-c ssl_key_file=${key}`);
  }
  if (options.hba) {
    const hba = path.join(data, 'pg_hba.conf');
    fs.writeFileSync(hba, options.hba.join('\n') + '\n');
    if (root) fs.chownSync(hba, NOBODY, NOBODY);
  }
  const listen = (options.listen ?? ['127.0.0.1']).join(',');
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const opts = [
      `-c listen_addresses=${listen}`,
      `-p ${port}`,
      `-k ${dir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
      ...extra,
    ].join(' ');
    const started = runAs(root, pgCtl, ['start', '-D', data, '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', opts], 90_000);
    if (started.status === 0) {
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        runAs(root, pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30'], 40_000);
        cleanup();
      };
      const url = `postgres://${PG_TEST_USER}:${encodeURIComponent(PG_TEST_PASSWORD)}@127.0.0.1:${port}/postgres`;
      return { url, host: '127.0.0.1', port, user: PG_TEST_USER, password: PG_TEST_PASSWORD, stop };
    }
    if (tries >= 2) {
      let log = '';
      try {
        log = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
      } catch {
        // no log written
      }
      cleanup();
      throw new Error(`the PostgreSQL server did not start: ${(log || started.output).trim().split('\n').slice(-3).join(' ')}`);
    }
  }
}

let local: Promise<PgCluster | undefined> | undefined;
let localError: unknown;

/** The server the tests use, or undefined when none can be had (see pgOrSkip). */
export function testServer(): Promise<PgCluster | undefined> {
  const given = process.env.SYSEMAIL_TEST_PG_URL;
  if (given) {
    const u = new URL(given);
    return Promise.resolve({
      url: given,
      host: u.hostname,
      port: Number(u.port || 5432),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      stop: () => {},
    });
  }
  local ??= startCluster().then(
    (c) => {
      process.once('exit', () => c.stop());
      return c;
    },
    (err) => {
      localError = err;
      return undefined;
    },
  );
  return local;
}

/** True when PostgreSQL tests must run (CI): a missing server is then a failure, not a skip. */
export const postgresRequired = (): boolean => !!process.env.SYSEMAIL_REQUIRE_POSTGRES && process.env.SYSEMAIL_REQUIRE_POSTGRES !== '0';

/**
 * Whether this machine can run PostgreSQL tests: for `describe.skipIf(!(await pgAvailable()))`.
 * Throws when SYSEMAIL_REQUIRE_POSTGRES is set and no server can be had.
 */
export async function pgAvailable(): Promise<boolean> {
  const server = await testServer();
  if (server) return true;
  if (postgresRequired())
    throw new Error(`SYSEMAIL_REQUIRE_POSTGRES is set but no PostgreSQL server could be started: ${String(localError)}`);
  return false;
}

/** The URL of `db` on the test server, with the superuser's credentials unless others are given. */
export function dbUrl(server: PgCluster, db: string, creds: { user?: string; password?: string | null } = {}): string {
  const u = new URL(server.url);
  u.pathname = `/${db}`;
  u.username = encodeURIComponent(creds.user ?? server.user);
  u.password = creds.password === null ? '' : encodeURIComponent(creds.password ?? server.password);
  return u.toString();
}

/** Runs SQL as the superuser on the `postgres` database (or `db`), through psql-free pg. */
export async function adminQuery(server: PgCluster, sql: string, db = 'postgres'): Promise<unknown[]> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: dbUrl(server, db) });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

let databases = 0;

/** A new empty database on the test server; returns its name and superuser URL. */
export async function createTestDatabase(server: PgCluster, prefix = 't'): Promise<{ name: string; url: string }> {
  const name = `sysemail_${prefix}_${process.pid}_${++databases}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  await adminQuery(server, `CREATE DATABASE ${name}`);
  return { name, url: dbUrl(server, name) };
}
