import type { DkimKeyFields, DkimKeyRow, DkimKeysRepo } from '../ports.js';
import { toDkimKeyRow, type DkimKeyDbRow } from '../dkim-rows.js';
import type { PgDatabase } from './db.js';

export class PgDkimKeysRepo implements DkimKeysRepo {
  constructor(private readonly db: PgDatabase) {}

  async list(domain?: string): Promise<DkimKeyRow[]> {
    const rows =
      domain === undefined
        ? await this.db.query<DkimKeyDbRow>('SELECT * FROM dkim_keys ORDER BY domain COLLATE "C", selector COLLATE "C"')
        : await this.db.query<DkimKeyDbRow>('SELECT * FROM dkim_keys WHERE domain = $1 ORDER BY selector COLLATE "C"', [domain]);
    return rows.map(toDkimKeyRow);
  }

  async put(f: DkimKeyFields, now: number): Promise<DkimKeyRow> {
    const [r] = await this.db.query<DkimKeyDbRow>(
      `INSERT INTO dkim_keys (domain, selector, algorithm, source, location, public_key, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (domain, selector) DO UPDATE SET algorithm = excluded.algorithm, source = excluded.source,
         location = excluded.location, public_key = excluded.public_key, updated_at = excluded.updated_at
       RETURNING *`,
      [f.domain, f.selector, f.algorithm, f.source, f.location, f.publicKey, now],
    );
    return toDkimKeyRow(r);
  }

  async remove(domain: string, selector?: string): Promise<DkimKeyRow[]> {
    const rows =
      selector === undefined
        ? await this.db.query<DkimKeyDbRow>('DELETE FROM dkim_keys WHERE domain = $1 RETURNING *', [domain])
        : await this.db.query<DkimKeyDbRow>('DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2 RETURNING *', [domain, selector]);
    return rows.map(toDkimKeyRow).sort((a, b) => (a.selector < b.selector ? -1 : a.selector > b.selector ? 1 : 0));
  }
}
