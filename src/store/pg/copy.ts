/**
 * The PostgreSQL database in `db copy`: as the source, one REPEATABLE READ snapshot read table by
 * table in key order; as the target, one transaction that locks every table against writers, refuses
 * unless all of them are empty, loads the batches as they come and moves the id sequences past the
 * copied ids. A failure anywhere (a refused row, the connection lost) rolls all of it back.
 */
import type pg from 'pg';
import { SysemailError } from '../../core/errors.js';
import {
  COPY_ORDER,
  COPY_TABLES,
  columnKinds,
  unknownTables,
  zeroCounts,
  type CopyBatch,
  type CopyCounts,
  type CopyTable,
  type CopyTableSpec,
  type PortableRow,
} from '../copy.js';
import type { CopySource, CopyTarget } from '../ports.js';
import { pgFailure } from './errors.js';
import { ignoreClientError, type PgDatabase } from './db.js';

/** What an empty database holds all the same: its own id and schema version. */
const OWN_TABLES = ['meta', 'schema_version'];

/** Attachments are read a few at a time: each may be tens of megabytes. */
const ATTACHMENT_PAGE = 8;

async function tablesOf(c: pg.PoolClient | pg.Pool): Promise<string[]> {
  return (await c.query<{ t: string }>('SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema()')).rows.map((r) => r.t);
}

export class PgCopySource implements CopySource {
  private constructor(
    private readonly client: pg.PoolClient,
    private readonly label: string,
  ) {}

  static async begin(db: PgDatabase): Promise<PgCopySource> {
    let client: pg.PoolClient;
    try {
      client = await db.pool.connect();
    } catch (err) {
      throw pgFailure(err, db.label);
    }
    client.on('error', ignoreClientError);
    try {
      const unknown = unknownTables(await tablesOf(client));
      if (unknown.length > 0) {
        throw new SysemailError(
          'internal',
          'DB_COPY_UNKNOWN_TABLE',
          `database ${db.label} has table(s) ${unknown.join(', ')} that this sysemail cannot copy (nothing was written)`,
          { fix: 'Copy with the sysemail version that wrote the database' },
        );
      }
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return new PgCopySource(client, db.label);
    } catch (err) {
      client.release();
      throw pgFailure(err, db.label);
    }
  }

  private async q<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.client.query<R>(sql, values)).rows;
    } catch (err) {
      throw pgFailure(err, this.label);
    }
  }

  async survey() {
    const counts = zeroCounts();
    for (const t of COPY_ORDER) counts[t] = (await this.q<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`))[0].n;
    const nextIds: Partial<Record<CopyTable, number>> = {};
    for (const t of COPY_ORDER) {
      if (!(COPY_TABLES[t] as CopyTableSpec).identity) continue;
      const [r] = await this.q<{ m: number | null; last: number | null }>(
        `SELECT (SELECT max(id) FROM ${t}) AS m, pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass) AS last`,
        [t],
      );
      nextIds[t] = Math.max(r.m ?? 0, r.last ?? 0) + 1;
    }
    return { counts, nextIds };
  }

  async *batches(size: number): AsyncIterable<CopyBatch> {
    for (const table of COPY_ORDER) {
      const key = (COPY_TABLES[table] as CopyTableSpec).key;
      const cols = key.join(', ');
      const limit = table === 'message_attachments' ? ATTACHMENT_PAGE : size;
      let rows = await this.q<PortableRow>(`SELECT * FROM ${table} ORDER BY ${cols} LIMIT $1`, [limit]);
      while (rows.length > 0) {
        yield { table, rows };
        if (rows.length < limit) break;
        const last = rows[rows.length - 1];
        const after = key.map((_, i) => `$${i + 1}`).join(', ');
        rows = await this.q<PortableRow>(`SELECT * FROM ${table} WHERE (${cols}) > (${after}) ORDER BY ${cols} LIMIT $${key.length + 1}`, [
          ...key.map((k) => last[k]),
          limit,
        ]);
      }
    }
  }

  async close(): Promise<void> {
    await this.client.query('COMMIT').catch(() => {});
    this.client.off('error', ignoreClientError);
    this.client.release();
  }
}

interface TargetColumn {
  name: string;
  type: string;
}

export class PgCopyTarget implements CopyTarget {
  constructor(private readonly db: PgDatabase) {}

  async load(
    source: { nextIds: Partial<Record<CopyTable, number>>; batches: AsyncIterable<CopyBatch> },
    onRows?: (table: CopyTable, rows: number) => void,
  ): Promise<CopyCounts> {
    return this.db.tx(async (c) => {
      // writers wait until the copy commits or rolls back; readers go on
      await c.query(`LOCK TABLE ${COPY_ORDER.join(', ')} IN EXCLUSIVE MODE`);
      await this.refuseUnlessEmpty(c);
      const columns = await this.columns(c);
      const loaded = zeroCounts();
      for await (const batch of source.batches) {
        if (batch.rows.length === 0) continue;
        await insertBatch(c, batch, columns.get(batch.table) ?? [], this.db.label);
        loaded[batch.table] += batch.rows.length;
        onRows?.(batch.table, loaded[batch.table]);
      }
      for (const t of COPY_ORDER) {
        if (!(COPY_TABLES[t] as CopyTableSpec).identity) continue;
        // the next id handed out here is past every id copied and every id the source ever gave
        await c.query(
          `SELECT setval(pg_get_serial_sequence($1, 'id'), greatest((SELECT max(id) FROM ${t}), $2::bigint - 1, 1),
             (SELECT max(id) FROM ${t}) IS NOT NULL OR $2::bigint > 1)`,
          [t, source.nextIds[t] ?? 1],
        );
      }
      return loaded;
    });
  }

  /** Every table but the database's own id and schema version must be empty, sysemail's or not. */
  private async refuseUnlessEmpty(c: pg.PoolClient): Promise<void> {
    const tables = (await tablesOf(c)).filter((t) => !OWN_TABLES.includes(t)).sort();
    const held: string[] = [];
    for (const t of tables) {
      const [r] = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteIdent(t)}`)).rows;
      if (r.n > 0) held.push(`${t}: ${r.n}`);
    }
    if (held.length > 0) {
      throw new SysemailError(
        'data',
        'DB_COPY_TARGET_NOT_EMPTY',
        `database ${this.db.label} is not empty (${held.join(', ')}): db copy only fills an empty database, and nothing was written`,
        { fix: 'Create an empty database for it (createdb NAME) and give its URL to --to' },
      );
    }
  }

  private async columns(c: pg.PoolClient): Promise<Map<string, TargetColumn[]>> {
    const rows = (
      await c.query<{ table_name: string; column_name: string; data_type: string }>(
        'SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1::text[])',
        [COPY_ORDER],
      )
    ).rows;
    const out = new Map<string, TargetColumn[]>();
    for (const r of rows) out.set(r.table_name, [...(out.get(r.table_name) ?? []), { name: r.column_name, type: r.data_type }]);
    return out;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The columns of a batch, each of which the target must have: a column it lacks would be lost. */
function batchColumns(batch: CopyBatch, target: TargetColumn[], label: string): TargetColumn[] {
  const byName = new Map(target.map((t) => [t.name, t]));
  const names = Object.keys(batch.rows[0]);
  const missing = names.filter((n) => !byName.has(n));
  if (missing.length > 0) {
    throw new SysemailError(
      'internal',
      'DB_COPY_UNKNOWN_TABLE',
      `database ${label} has no column ${missing.map((m) => `${batch.table}.${m}`).join(', ')} for the rows copied (nothing was written)`,
      { fix: 'Upgrade sysemail so that both databases have the same schema, then copy again' },
    );
  }
  return names.map((n) => byName.get(n)!);
}

/**
 * One batch in one statement: the rows travel as one JSON array that jsonb_populate_recordset turns
 * into the table's row type. Rows with bytes go one statement each, as binary parameters.
 */
async function insertBatch(c: pg.PoolClient, batch: CopyBatch, target: TargetColumn[], label: string): Promise<void> {
  const cols = batchColumns(batch, target, label);
  const list = cols.map((x) => x.name).join(', ');
  const kinds = columnKinds(batch.table);
  if (kinds.bytes.size > 0) {
    const sql = `INSERT INTO ${batch.table} (${list}) VALUES (${cols.map((x, i) => `$${i + 1}::${castOf(x)}`).join(', ')})`;
    for (const r of batch.rows)
      await c.query(
        sql,
        cols.map((x) => parameter(r[x.name], x)),
      );
    return;
  }
  await c.query(`INSERT INTO ${batch.table} (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::${batch.table}, $1::jsonb)`, [
    JSON.stringify(batch.rows),
  ]);
}

function castOf(col: TargetColumn): string {
  return col.type === 'USER-DEFINED' || col.type === 'ARRAY' ? 'text' : col.type;
}

function parameter(v: unknown, col: TargetColumn): unknown {
  if (v === null || v === undefined) return null;
  if (col.type === 'jsonb' || col.type === 'json') return JSON.stringify(v);
  return v;
}

export type { CopyCounts };
