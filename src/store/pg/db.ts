/**
 * One PostgreSQL database: a small connection pool, transactions, and the schema brought up to date
 * under an advisory lock, so several hosts starting at once migrate it exactly once.
 */
import type pg from 'pg';
import { crypto } from '../../core/builtins.js';
import { SysemailError } from '../../core/errors.js';
import { pgFailure } from './errors.js';
import { PG_MIGRATIONS } from './schema.js';

/**
 * The database's clock in epoch milliseconds: leases and heartbeats are set and compared on it, so
 * hosts whose clocks disagree still agree on who holds a lease. clock_timestamp(), not now(): a long
 * transaction must not hand out leases that started when it began.
 */
export const DB_NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** Advisory lock keys (pg_advisory_xact_lock's two-int form: sysemail's class, then the key). */
export const LOCK_CLASS = 0x5e5e;
export const MIGRATION_LOCK = 1;

/**
 * A statement each connection keeps prepared under its name: parsed and planned once per connection,
 * not on every call (the queue's statements, run for every batch of records and every claim).
 */
export interface Prepared {
  name: string;
  text: string;
}

/** What a query can run on: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** A client's error event, once its query has already failed with the same error. */
export function ignoreClientError(): void {}

export class PgDatabase {
  constructor(
    readonly pool: pg.Pool,
    readonly label: string,
  ) {}

  async query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string | Prepared, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(typeof sql === 'string' ? { text: sql, values } : { ...sql, values })).rows;
    } catch (err) {
      throw pgFailure(err, this.label);
    }
  }

  /** Runs `fn` in one transaction on one connection; rolled back when it throws. */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw pgFailure(err, this.label);
    }
    // a connection the server ends while it is checked out (pg_terminate_backend, a restart) says so
    // by an 'error' event between queries: without a listener that would end the process
    let lost: unknown;
    const onLost = (err: unknown) => (lost ??= err);
    client.on('error', onLost);
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      if (lost === undefined) await client.query('ROLLBACK').catch(() => {});
      throw pgFailure(lost ?? err, this.label);
    } finally {
      client.removeListener('error', onLost);
      // a broken connection is dropped, not handed to the next transaction
      client.release(lost === undefined ? undefined : true);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** The schema's version: 0 for a database sysemail never wrote. */
async function schemaVersion(q: Queryable): Promise<number> {
  // a scan of the catalog, not to_regclass(): a name lookup may answer from this connection's cache,
  // which a transaction that only waited on an advisory lock has not refreshed since another host's
  // migration committed
  const exists = (
    await q.query<{ t: boolean }>(
      "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_version') AS t",
    )
  ).rows[0].t;
  if (!exists) return 0;
  const r = (await q.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version')).rows[0];
  return r.v ?? 0;
}

function tooNew(label: string, version: number): SysemailError {
  return new SysemailError(
    'config',
    'DB_TOO_NEW',
    `database ${label} was written by a newer sysemail (schema ${version}, this one knows ${PG_MIGRATIONS.length})`,
    {
      fix: 'Upgrade sysemail on this host to the version the other hosts run; the database was left unchanged',
    },
  );
}

/**
 * Brings the schema up to date and returns the database's id. The check of an up-to-date schema is
 * one query; migrating happens under a transaction-scoped advisory lock, the version read again once
 * the lock is held (another host may have migrated meanwhile).
 */
export async function migrate(db: PgDatabase): Promise<{ id: string; created: boolean }> {
  const version = await schemaVersion(db.pool).catch((err) => {
    throw pgFailure(err, db.label);
  });
  if (version > PG_MIGRATIONS.length) throw tooNew(db.label, version);
  let created = false;
  if (version < PG_MIGRATIONS.length) {
    created = await db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, MIGRATION_LOCK]);
      const current = await schemaVersion(c);
      if (current > PG_MIGRATIONS.length) throw tooNew(db.label, current);
      if (current === PG_MIGRATIONS.length) return false;
      if (current === 0) {
        const foreign = (
          await c.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('messages', 'params', 'meta')",
          )
        ).rows[0].n;
        if (foreign > 0) {
          throw new SysemailError(
            'config',
            'DB_FOREIGN',
            `database ${db.label} already has tables named like sysemail's but is not a sysemail database (nothing was changed)`,
            {
              fix: 'Create an empty database for sysemail (createdb sysemail) and point --db at it',
            },
          );
        }
        await c.query('CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      }
      for (let i = current; i < PG_MIGRATIONS.length; i++) {
        await c.query(PG_MIGRATIONS[i]);
        await c.query('INSERT INTO schema_version (version) VALUES ($1)', [i + 1]);
      }
      if (current === 0) {
        await c.query("INSERT INTO meta (key, value) VALUES ('db_id', $1), ('created_at', $2)", [
          crypto().randomBytes(16).toString('hex'),
          String(Date.now()),
        ]);
      }
      return current === 0;
    });
  }
  const row = (await db.query<{ value: string }>("SELECT value FROM meta WHERE key = 'db_id'"))[0];
  if (!row)
    throw new SysemailError('ioerr', 'DB_CORRUPT', `database ${db.label} has no id`, {
      fix: 'The database is damaged; restore it from a backup',
    });
  return { id: row.value, created };
}
