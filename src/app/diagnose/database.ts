/**
 * The PostgreSQL database, step by step, before anything else: the host's name, a TCP connection,
 * TLS as the URL's sslmode asks, the sign-in, what this user may do, and the schema's version. Each
 * step a check with its cause and its fix, as the SMTP server's; a step that fails skips the rest.
 * Run before the store is opened, so a database that cannot be opened still gets its diagnosis.
 */
import dns from 'node:dns';
import net from 'node:net';
import { isSysemailError } from '../../core/errors.js';
import { defaultTimeout } from '../../core/timeouts.js';
import { fail, pass, skip, warn, type Check } from './types.js';

export const DATABASE_CHECK_IDS = [
  'database.dns',
  'database.tcp',
  'database.tls',
  'database.auth',
  'database.privileges',
  'database.schema',
] as const;

export interface DatabaseCheckOptions {
  url: string;
  env: NodeJS.ProcessEnv;
  timeouts?: { dnsMs?: number; tcpMs?: number };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('/') || /^127\./.test(host) || host === '::1';
}

function skipRest(from: number, why: string): Check[] {
  return DATABASE_CHECK_IDS.slice(from).map((id) => skip(id, why));
}

/** Where the password comes from, as libpq looks for it: never the password itself. */
function passwordSource(url: string, env: NodeJS.ProcessEnv, found: boolean): string {
  const u = (() => {
    try {
      return new URL(url);
    } catch {
      return undefined;
    }
  })();
  if (u?.password || u?.searchParams.get('password')) return 'the password in the URL';
  if (env.PGPASSWORD) return 'PGPASSWORD';
  return found
    ? `the password file (${env.PGPASSFILE ? 'PGPASSFILE' : '~/.pgpass'})`
    : 'no password (none in the URL, PGPASSWORD or ~/.pgpass)';
}

export async function databaseChecks(o: DatabaseCheckOptions): Promise<Check[]> {
  const [{ pgTarget }, { probeTls, probeSession }, { isTlsCertCode, tlsCertProblem }] = await Promise.all([
    import('../../store/pg/url.js'),
    import('../../store/pg/probe.js'),
    import('../../store/pg/errors.js'),
  ]);
  let target: ReturnType<typeof pgTarget>;
  try {
    target = pgTarget(o.url, o.env);
  } catch (err) {
    if (!isSysemailError(err)) throw err;
    if (err.code === 'PG_TLS_FILE_INVALID' || err.code === 'PG_TLS_FILE_UNREADABLE')
      return [
        skip('database.dns', 'not tried: a TLS file of the URL cannot be used'),
        skip('database.tcp', 'not tried: a TLS file of the URL cannot be used'),
        fail('database.tls', err.message, err.fix ?? 'Correct sslrootcert, sslcert and sslkey in the URL'),
        ...skipRest(3, 'not tried: no TLS'),
      ];
    return [
      fail('database.dns', err.message, err.fix ?? 'Correct the URL given to --db'),
      ...skipRest(1, 'not tried: the URL cannot be read'),
    ];
  }
  const at = `${target.host}:${target.port}`;
  const checks: Check[] = [];

  // 1. the host's name
  let address = target.host;
  if (target.host.startsWith('/')) {
    checks.push(pass('database.dns', `unix socket folder ${target.host}`));
  } else if (net.isIP(target.host)) {
    checks.push(pass('database.dns', `${target.host} is an IP address`));
  } else {
    const ms = o.timeouts?.dnsMs ?? defaultTimeout('dnsMs');
    const r = await Promise.race([
      dns.promises.lookup(target.host, { all: true }).then(
        (a) => ({ a }),
        (err: NodeJS.ErrnoException) => ({ err }),
      ),
      new Promise<{ err: NodeJS.ErrnoException }>((resolve) =>
        setTimeout(() => resolve({ err: Object.assign(new Error('no answer'), { code: 'ETIMEOUT' }) }), ms).unref(),
      ),
    ]);
    if ('err' in r || r.a.length === 0) {
      const code = ('err' in r && r.err.code) || 'ENOTFOUND';
      checks.push(
        fail(
          'database.dns',
          `the database host ${target.host} does not resolve (${code})`,
          code === 'ENOTFOUND'
            ? 'Correct the host name in --db (or SYSEMAIL_DB, the user config db)'
            : 'The DNS server of this machine did not answer: check /etc/resolv.conf and the network, then try again',
          'HOST_NOT_FOUND',
        ),
      );
      return [...checks, ...skipRest(1, 'not tried: the host does not resolve')];
    }
    address = r.a[0].address;
    checks.push(pass('database.dns', `${target.host} → ${r.a.map((x) => x.address).join(', ')}`));
  }

  // 2. a TCP connection (a unix socket is tried by the sign-in)
  if (target.host.startsWith('/')) checks.push(skip('database.tcp', 'a unix socket: no TCP'));
  else {
    const tcp = await tcpProbe(address, target.port, o.timeouts?.tcpMs ?? defaultTimeout('tcpMs'));
    if (!tcp.ok) {
      const refused = tcp.code === 'ECONNREFUSED';
      checks.push(
        fail(
          'database.tcp',
          refused
            ? `nothing accepts connections at ${address}:${target.port} (ECONNREFUSED)`
            : `no answer from ${address}:${target.port} (${tcp.code})`,
          refused
            ? `Start the PostgreSQL server, or correct the port in --db; a server only on localhost needs listen_addresses = '*' (or this host's address) in postgresql.conf`
            : `A firewall probably drops port ${target.port} between this host and the server: open it`,
          refused ? 'CONNECTION_REFUSED' : 'CONNECTION_TIMEOUT',
        ),
      );
      return [...checks, ...skipRest(2, 'not tried: no connection to the server')];
    }
    checks.push(pass('database.tcp', `${address}:${target.port} accepts connections (${tcp.ms} ms)`));
  }

  // 3. TLS as sslmode asks
  const mode = new URL(o.url).searchParams.get('sslmode') ?? o.env.PGSSLMODE ?? 'prefer';
  if (!target.ssl) {
    checks.push(
      isLoopback(target.host)
        ? pass('database.tls', `not used (sslmode=${mode}) on a local connection`)
        : warn(
            'database.tls',
            `not used (sslmode=${mode}): the password and every message travel unencrypted to ${at}`,
            'Add sslmode=verify-full (and sslrootcert=FILE for a private CA) to the URL',
          ),
    );
  } else if (target.host.startsWith('/')) {
    checks.push(skip('database.tls', 'a unix socket: no TLS'));
  } else {
    const t = await probeTls(address, target, target.connectTimeoutMs);
    if (!t.ok && t.refused) {
      checks.push(
        fail(
          'database.tls',
          `the server at ${at} does not accept TLS connections, and sslmode=${mode} requires it`,
          'Enable ssl on the server (ssl = on in postgresql.conf, with its certificate), or use sslmode=disable on a trusted network',
        ),
      );
      return [...checks, ...skipRest(3, 'not tried: no TLS')];
    }
    if (!t.ok) {
      if (isTlsCertCode(t.code)) {
        const problem = tlsCertProblem(t.error, t.code, at, target.label);
        checks.push(fail('database.tls', problem.message, problem.fix, 'TLS_CERT_UNTRUSTED'));
      } else {
        checks.push(
          fail(
            'database.tls',
            `the TLS handshake with ${at} failed (${t.code}: ${t.message})`,
            'Check the TLS settings of the server (ssl_min_protocol_version, its certificate and key) and sslmode in the URL',
          ),
        );
      }
      return [...checks, ...skipRest(3, 'not tried: no trusted TLS connection')];
    }
    checks.push(
      pass(
        'database.tls',
        `${t.protocol}; certificate ${t.subject} issued by ${t.issuer}${t.validTo ? `, valid until ${t.validTo}` : ''} (sslmode=${mode})`,
      ),
    );
  }

  // 4. signing in
  const who = `user ${target.user} on database ${target.database}`;
  const source = passwordSource(o.url, o.env, target.password !== undefined);
  const session = await probeSession(target);
  if (!session.ok) {
    const e = session.error;
    const auth = e.code === 'PG_AUTH_FAILED' || e.code === 'PG_NO_PASSWORD';
    checks.push(
      fail(
        'database.auth',
        auth ? `${e.message}; the password came from ${source}` : e.message,
        e.code === 'PG_AUTH_FAILED' && /password/i.test(e.message)
          ? 'Give the right password for this user: in ~/.pgpass (a line host:port:database:user:password, mode 0600), in PGPASSWORD, or in the URL'
          : (e.fix ?? ''),
      ),
    );
    return [...checks, ...skipRest(4, 'not tried: not signed in')];
  }
  const s = session.session;
  checks.push(pass('database.auth', `signed in as ${who} (PostgreSQL ${s.serverVersion}) with ${source}`));

  // 5. what this user may do
  const grant = `GRANT USAGE, CREATE ON SCHEMA ${s.schema ?? 'public'} TO ${target.user}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s.schema ?? 'public'} TO ${target.user}`;
  if (s.schema === null || !s.canUseSchema) {
    checks.push(
      fail(
        'database.privileges',
        `${target.user} may not use any schema of ${target.database} (search_path)`,
        `As the database owner: ${grant}`,
      ),
    );
  } else if (s.tablesDenied.length > 0) {
    checks.push(
      fail(
        'database.privileges',
        `${target.user} may not read and write sysemail's table(s) ${s.tablesDenied.join(', ')} in schema ${s.schema}`,
        `As the owner of the tables: ${grant}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${s.schema} TO ${target.user}`,
      ),
    );
  } else if (s.version < s.known && !s.canCreate) {
    checks.push(
      fail(
        'database.privileges',
        `${target.user} may not create tables in schema ${s.schema}, which ${s.version === 0 ? 'creating' : 'migrating'} the schema needs`,
        `As the database owner: ${grant} (or run the first sysemail command as the owner)`,
      ),
    );
  } else {
    checks.push(
      pass(
        'database.privileges',
        s.version === 0
          ? `${target.user} may create sysemail's tables in schema ${s.schema}`
          : `${target.user} may read and write sysemail's tables in schema ${s.schema}`,
      ),
    );
  }

  // 6. the schema's version
  if (s.version > s.known) {
    checks.push(
      fail(
        'database.schema',
        `the database was written by a newer sysemail (schema ${s.version}, this one knows ${s.known}): every command here exits 78`,
        'Upgrade sysemail on this host to the version the other hosts run; the database is left unchanged until then',
      ),
    );
  } else if (s.version === 0) {
    checks.push(pass('database.schema', 'an empty database: the first command creates the schema'));
  } else if (s.version < s.known) {
    checks.push(
      pass(
        'database.schema',
        `schema ${s.version} of ${s.known}: the next command migrates it (once, even if several hosts start together)`,
      ),
    );
  } else {
    checks.push(pass('database.schema', `schema ${s.version}, up to date`));
  }
  return checks;
}

function tcpProbe(address: string, port: number, ms: number): Promise<{ ok: true; ms: number } | { ok: false; code: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    socket.setTimeout(ms, () => {
      socket.destroy();
      resolve({ ok: false, code: 'ETIMEDOUT' });
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, ms: Date.now() - started });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, code: err.code ?? 'ECONNECTION' });
    });
  });
}
