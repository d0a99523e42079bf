import type { DkimKeyFields, DkimKeyRow, DkimKeysRepo } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { toDkimKeyRow, type DkimKeyDbRow } from '../dkim-rows.js';

export class SqliteDkimKeysRepo implements DkimKeysRepo {
  constructor(private readonly db: SqliteDatabase) {}

  async list(domain?: string): Promise<DkimKeyRow[]> {
    const rows =
      domain === undefined
        ? this.db.prepare('SELECT * FROM dkim_keys ORDER BY domain, selector').all()
        : this.db.prepare('SELECT * FROM dkim_keys WHERE domain = ? ORDER BY selector').all(domain);
    return (rows as DkimKeyDbRow[]).map(toDkimKeyRow);
  }

  async put(f: DkimKeyFields, now: number): Promise<DkimKeyRow> {
    const r = this.db
      .prepare(
        `INSERT INTO dkim_keys (domain, selector, algorithm, source, location, public_key, created_at, updated_at)
         VALUES (@domain, @selector, @algorithm, @source, @location, @publicKey, @now, @now)
         ON CONFLICT (domain, selector) DO UPDATE SET algorithm = excluded.algorithm, source = excluded.source,
           location = excluded.location, public_key = excluded.public_key, updated_at = excluded.updated_at
         RETURNING *`,
      )
      .get({ ...f, now }) as DkimKeyDbRow;
    return toDkimKeyRow(r);
  }

  async remove(domain: string, selector?: string): Promise<DkimKeyRow[]> {
    const rows =
      selector === undefined
        ? this.db.prepare('DELETE FROM dkim_keys WHERE domain = ? RETURNING *').all(domain)
        : this.db.prepare('DELETE FROM dkim_keys WHERE domain = ? AND selector = ? RETURNING *').all(domain, selector);
    return (rows as DkimKeyDbRow[]).map(toDkimKeyRow).sort((a, b) => (a.selector < b.selector ? -1 : a.selector > b.selector ? 1 : 0));
  }
}
