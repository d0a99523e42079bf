/**
 * From a `postgres://` URL to the driver's connection options, the way libpq users expect: the
 * password from the URL, else PGPASSWORD, else the password file (PGPASSFILE or ~/.pgpass, used only
 * when nobody else may read it); TLS from `sslmode` and `sslrootcert` / `sslcert` / `sslkey`, each
 * defaulting to libpq's file in ~/.postgresql when that exists.
 */
import os from 'node:os';
import path from 'node:path';
import tls, { type ConnectionOptions } from 'node:tls';
import { fs } from '../../core/builtins.js';
import { SysemailError } from '../../core/errors.js';
import { maskedDbUrl } from '../../config/paths.js';
import { rememberTrust } from './errors.js';

export { maskedDbUrl as maskUrl };

export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  ssl: false | ConnectionOptions;
  connectTimeoutMs: number;
  /** The URL as it may be printed. */
  label: string;
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSL_MODES)[number];

function badUrl(label: string, why: string, fix: string): SysemailError {
  return new SysemailError('config', 'PG_URL_INVALID', `database URL ${label}: ${why}`, { fix });
}

/** One field of a ~/.pgpass line: `\:` and `\\` are escapes, `*` matches anything. */
function pgpassFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\' && i + 1 < line.length) cur += line[++i];
    else if (ch === ':') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * The password for this server, database and user in a libpq password file
 * (hostname:port:database:username:password, the first matching line wins). A file that group or
 * others may read is ignored, as libpq does.
 */
export function pgpassLookup(file: string, t: { host: string; port: number; database: string; user: string }): string | undefined {
  let st: import('node:fs').Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (!st.isFile() || (st.mode & 0o077) !== 0) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  // libpq compares the host as given; a local socket path matches "localhost"
  const host = t.host.startsWith('/') ? 'localhost' : t.host;
  for (const raw of text.split(/\r?\n/)) {
    if (!raw || raw.startsWith('#')) continue;
    const f = pgpassFields(raw);
    if (f.length < 5) continue;
    const [h, p, d, u] = f;
    const password = f.slice(4).join(':');
    const match = (pattern: string, value: string) => pattern === '*' || pattern === value;
    if (match(h, host) && match(p, String(t.port)) && match(d, t.database) && match(u, t.user)) return password;
  }
  return undefined;
}

function tlsFileInvalid(message: string, fix: string, cause?: unknown): SysemailError {
  return new SysemailError('config', 'PG_TLS_FILE_INVALID', message, { fix, cause });
}

function readFileOption(label: string, name: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new SysemailError(
      'noinput',
      'PG_TLS_FILE_UNREADABLE',
      `${name}=${file} in database URL ${label} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      {
        fix: `Give a readable file in ${name}`,
        cause: err,
      },
    );
  }
}

/**
 * A TLS file as libpq finds it: the URL's parameter, else its environment variable, else the file of
 * that name in ~/.postgresql when it exists. `from` says which, as a user would write it.
 */
function tlsFile(
  q: URLSearchParams,
  env: NodeJS.ProcessEnv,
  name: 'sslrootcert' | 'sslcert' | 'sslkey',
  envName: string,
  defaultName: string,
): { file: string; from: string } | undefined {
  const given = q.get(name);
  if (given) return { file: given, from: `${name}=${given}` };
  const fromEnv = env[envName];
  if (fromEnv) return { file: fromEnv, from: `${envName}=${fromEnv}` };
  const file = path.join(env.HOME || os.homedir(), '.postgresql', defaultName);
  return fs.existsSync(file) ? { file, from: `~/.postgresql/${defaultName}` } : undefined;
}

/**
 * TLS options for a sslmode; verify-ca checks the chain but not the name, verify-full both. The
 * certificate chain is always checked: `require` behaves as verify-ca (against sslrootcert, else the
 * system's CAs) instead of libpq's unverified encryption, which anyone on the path could intercept.
 * Unlike libpq, a missing root certificate file means the system's CAs, not a refusal.
 */
function sslOptions(label: string, mode: SslMode, host: string, q: URLSearchParams, env: NodeJS.ProcessEnv): false | ConnectionOptions {
  // node-postgres has no "try TLS, fall back to plain": allow and prefer connect without TLS
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') return false;
  const rootcert = tlsFile(q, env, 'sslrootcert', 'PGSSLROOTCERT', 'root.crt');
  const system = !rootcert || rootcert.file === 'system';
  rememberTrust(label, system ? "the system's CAs" : rootcert.from);
  const opts: ConnectionOptions = {};
  if (!system) {
    opts.ca = readFileOption(label, 'sslrootcert', rootcert.file);
    // Node ignores a CA file without a certificate in it, and every server then looks untrusted
    if (!opts.ca.includes('-----BEGIN CERTIFICATE-----'))
      throw tlsFileInvalid(
        `${rootcert.from} for database ${label} holds no PEM certificate`,
        "Name the PEM file of the CA that signed the server's certificate (-----BEGIN CERTIFICATE-----), or sslrootcert=system for the system's CAs",
      );
  }
  let cert = tlsFile(q, env, 'sslcert', 'PGSSLCERT', 'postgresql.crt');
  let key = tlsFile(q, env, 'sslkey', 'PGSSLKEY', 'postgresql.key');
  // a default client certificate or key counts only with its other half
  if (!cert !== !key && (cert ?? key)!.from.startsWith('~/')) cert = key = undefined;
  if (cert) opts.cert = readFileOption(label, 'sslcert', cert.file);
  if (key) opts.key = readFileOption(label, 'sslkey', key.file);
  if (cert || key) {
    // checked here: a pair OpenSSL refuses at connect time leaves node-postgres's socket open
    try {
      tls.createSecureContext({ cert: opts.cert, key: opts.key });
    } catch (err) {
      throw tlsFileInvalid(
        `the client certificate or key for database ${label} (${[cert?.from, key?.from].filter(Boolean).join(', ')}) cannot be used (${(err as Error).message})`,
        'Give sslcert and sslkey as PEM files of one pair (the key unencrypted), or leave both out',
        err,
      );
    }
  }
  if (!host.startsWith('/') && !/^[\d.]+$|:/.test(host)) opts.servername = host;
  if (mode === 'verify-full') return { ...opts, rejectUnauthorized: true };
  return { ...opts, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

/** Reads a `postgres://` or `postgresql://` URL; throws a config error naming what is wrong (never the password). */
export function pgTarget(url: string, env: NodeJS.ProcessEnv = process.env): PgTarget {
  const label = maskedDbUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badUrl(label, 'not a valid URL', 'Write it as postgres://USER@HOST:PORT/DATABASE');
  }
  const q = u.searchParams;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw badUrl(label, 'a %-escape in it is broken', 'Escape special characters of the user or password as %XX');
    }
  };
  const host = q.get('host') ?? (u.hostname ? decode(u.hostname).replace(/^\[|\]$/g, '') : env.PGHOST || 'localhost');
  const portText = q.get('port') ?? (u.port || env.PGPORT || '5432');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw badUrl(label, `port ${portText} is not a TCP port`, 'Give a port between 1 and 65535, e.g. :5432');
  const user = q.get('user') ?? (u.username ? decode(u.username) : env.PGUSER || os.userInfo().username);
  const database = q.get('dbname') ?? (u.pathname.length > 1 ? decode(u.pathname.slice(1)) : env.PGDATABASE || user);
  const mode = (q.get('sslmode') ?? env.PGSSLMODE ?? 'prefer') as SslMode;
  if (!SSL_MODES.includes(mode))
    throw badUrl(
      label,
      `sslmode=${mode} is not one of ${SSL_MODES.join(', ')}`,
      'Use sslmode=verify-full (or require, verify-ca, disable)',
    );
  const timeoutText = q.get('connect_timeout') ?? env.PGCONNECT_TIMEOUT ?? '10';
  const timeout = Number(timeoutText);
  if (!Number.isFinite(timeout) || timeout < 0)
    throw badUrl(
      label,
      `connect_timeout=${timeoutText} is not a number of seconds`,
      'Give connect_timeout in seconds, e.g. connect_timeout=10',
    );
  let password = q.get('password') ?? (u.password ? decode(u.password) : undefined);
  if (password === undefined && env.PGPASSWORD) password = env.PGPASSWORD;
  if (password === undefined) {
    const file = env.PGPASSFILE || path.join(env.HOME || os.homedir(), '.pgpass');
    password = pgpassLookup(file, { host, port, database, user });
  }
  return {
    host,
    port,
    database,
    user,
    password,
    ssl: sslOptions(label, mode, host, q, env),
    connectTimeoutMs: Math.max(1, timeout) * 1000,
    label,
  };
}
