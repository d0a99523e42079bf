import type { ParamValue } from '../../core/params.js';
import type { ParamsRepo } from '../ports.js';
import type { SqliteDatabase } from '../db.js';

/** The administrator layer: stored parameter values. */
export class SqliteParamsRepo implements ParamsRepo {
  constructor(private readonly db: SqliteDatabase) {}

  async all(): Promise<Map<string, ParamValue>> {
    const rows = this.db.prepare('SELECT key, value FROM params').all() as { key: string; value: string }[];
    return new Map(rows.map((r) => [r.key, JSON.parse(r.value) as ParamValue]));
  }

  /** Sets and unsets several keys in one write transaction: all or nothing. */
  async apply(set: readonly { key: string; value: ParamValue }[], unset: readonly string[] = []): Promise<void> {
    const now = Date.now();
    const upsert = this.db.prepare(
      'INSERT INTO params (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    );
    const del = this.db.prepare('DELETE FROM params WHERE key = ?');
    this.db
      .transaction(() => {
        for (const k of unset) del.run(k);
        for (const { key, value } of set) upsert.run(key, JSON.stringify(value), now);
      })
      .immediate();
  }
}
