/** Distributor runs: one row per `queue run`, with its host, pid, heartbeat and the counts it achieved. */
import type { NewRun, RunRow } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { DB_NOW_MS } from './rows.js';
import { runFromColumns, type RunColumns } from '../columns.js';

export class Runs {
  constructor(private readonly db: SqliteDatabase) {}

  /** Records a run. Its counts then grow with the writes the database accepts (applyWrites, claim). */
  startRun(r: NewRun): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO distributor_runs (owner, host, pid, started_at, heartbeat_at, lease_ms, interval_ms) VALUES (?, ?, ?, ?, ${DB_NOW_MS}, ?, ?)`,
        )
        .run(r.owner, r.host, r.pid, r.now, r.leaseMs ?? null, r.intervalMs ?? null).lastInsertRowid,
    );
  }

  finishRun(runId: number, now: number, error?: { code: string; message: string }): void {
    this.db
      .prepare('UPDATE distributor_runs SET ended_at = ?, error_code = ?, error_message = ? WHERE id = ?')
      .run(now, error?.code ?? null, error?.message ?? null, runId);
  }

  lastRunPerHost(limit = 50): RunRow[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY host ORDER BY started_at DESC, id DESC) AS per_host FROM distributor_runs)
         WHERE per_host = 1 ORDER BY started_at DESC, id DESC LIMIT ?`,
      )
      .all(limit) as RunColumns[];
    return rows.map(runFromColumns);
  }

  lastRun(): RunRow | null {
    const r = this.db.prepare('SELECT * FROM distributor_runs ORDER BY started_at DESC, id DESC LIMIT 1').get() as RunColumns | undefined;
    return r ? runFromColumns(r) : null;
  }
}
