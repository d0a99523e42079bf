/**
 * Step-by-step probes of a PostgreSQL server for `diagnose`: does it speak TLS when asked (the
 * protocol's SSLRequest), and once signed in, what may this user do and which schema does the
 * database hold. Nothing is created or changed.
 */
import net from 'node:net';
import tls from 'node:tls';
import { COPY_ORDER } from '../copy.js';
import { PG_MIGRATIONS } from './schema.js';
import { pgFailure, rememberSecret } from './errors.js';
import type { PgTarget } from './url.js';
import type { SysemailError } from '../../core/errors.js';

export type TlsProbe =
  | { ok: true; protocol: string; subject: string; issuer: string; validTo: string | undefined }
  | { ok: false; refused: true }
  | { ok: false; refused: false; code: string; message: string; error?: unknown };

/** Asks for TLS as libpq does (SSLRequest) and, when the server agrees, checks its certificate as a connection would. */
export function probeTls(address: string, target: PgTarget, timeoutMs: number): Promise<TlsProbe> {
  const options = target.ssl || {};
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port: target.port });
    let settled = false;
    const done = (r: TlsProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, refused: false, code: 'ETIMEDOUT', message: `no answer within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ ok: false, refused: false, code: err.code ?? 'ECONNECTION', message: err.message }),
    );
    socket.once('connect', () => {
      const req = Buffer.alloc(8);
      req.writeInt32BE(8, 0);
      req.writeInt32BE(80877103, 4);
      socket.write(req);
    });
    socket.once('data', (b: Buffer) => {
      if (b[0] !== 0x53) return done({ ok: false, refused: true });
      socket.removeAllListeners('error');
      // the name checked against the certificate is the one in the URL, not the address it resolved to
      const secure = tls.connect({ host: target.host, ...options, socket });
      secure.once('secureConnect', () => {
        const cert = secure.getPeerCertificate();
        const name = (x: tls.Certificate | undefined) => {
          const v = x?.CN ?? x?.O;
          return Array.isArray(v) ? v.join(', ') : (v ?? '?');
        };
        const r: TlsProbe = {
          ok: true,
          protocol: secure.getProtocol() ?? 'TLS',
          subject: name(cert?.subject),
          issuer: name(cert?.issuer),
          validTo: cert?.valid_to,
        };
        secure.destroy();
        done(r);
      });
      secure.once('error', (err: NodeJS.ErrnoException) => {
        secure.destroy();
        done({ ok: false, refused: false, code: err.code ?? 'TLS_FAILED', message: err.message, error: err });
      });
    });
  });
}

export interface SessionProbe {
  serverVersion: string;
  schema: string | null;
  /** CREATE on the database's schema: needed to create or migrate the tables. */
  canCreate: boolean;
  canUseSchema: boolean;
  /** The schema's version: 0 when sysemail never wrote this database. */
  version: number;
  known: number;
  /** sysemail's tables this user may not read and write (only once they exist). */
  tablesDenied: string[];
}

/** Signs in (the step that fails for a wrong password) and reads the user's privileges and the schema version. */
export async function probeSession(target: PgTarget): Promise<{ ok: true; session: SessionProbe } | { ok: false; error: SysemailError }> {
  rememberSecret(target.password);
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: target.ssl,
    connectionTimeoutMillis: target.connectTimeoutMs,
    application_name: 'sysemail diagnose',
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    return { ok: false, error: pgFailure(err, target.label) };
  }
  try {
    const [r] = (
      await client.query<{ v: string; s: string | null; c: boolean | null; u: boolean | null; t: boolean }>(
        `SELECT current_setting('server_version') AS v, current_schema() AS s,
           has_schema_privilege(current_schema(), 'CREATE') AS c, has_schema_privilege(current_schema(), 'USAGE') AS u,
           EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_version') AS t`,
      )
    ).rows;
    let version = 0;
    const tablesDenied: string[] = [];
    if (r.t && r.u) {
      const readable = (await client.query<{ ok: boolean }>("SELECT has_table_privilege('schema_version', 'SELECT') AS ok")).rows[0].ok;
      if (readable) version = (await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version')).rows[0].v ?? 0;
      else tablesDenied.push('schema_version');
      for (const t of ['meta', ...COPY_ORDER, 'throttle_sends']) {
        const [p] = (
          await client.query<{ ok: boolean | null }>(
            // one privilege per call: a list would be true when any one of them is held
            `SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE has_table_privilege($1, 'SELECT') AND has_table_privilege($1, 'INSERT')
               AND has_table_privilege($1, 'UPDATE') AND has_table_privilege($1, 'DELETE') END AS ok`,
            [t],
          )
        ).rows;
        if (p.ok === false) tablesDenied.push(t);
      }
    }
    return {
      ok: true,
      session: {
        serverVersion: r.v,
        schema: r.s,
        canCreate: !!r.c,
        canUseSchema: !!r.u,
        version,
        known: PG_MIGRATIONS.length,
        tablesDenied,
      },
    };
  } catch (err) {
    return { ok: false, error: pgFailure(err, target.label) };
  } finally {
    await client.end().catch(() => {});
  }
}
