/**
 * The queries `diagnose` needs beyond the queue's own: leases nobody renewed, and failed attempts
 * grouped by their diagnosis.
 */
import type { FailureInfo } from '../../core/failure.js';
import type { DiagnosisReads, ExpiredLeases, FailureGroup } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { DB_NOW_MS } from './rows.js';

export class SqliteDiagnosisReads implements DiagnosisReads {
  constructor(private readonly db: SqliteDatabase) {}

  /** Leases in sending that ran out, on the database's clock (the one leases are set on). */
  async expiredLeases(): Promise<ExpiredLeases> {
    const row = this.db
      .prepare(
        `SELECT count(*) AS n, min(lease_expires_at) AS oldest FROM messages WHERE status = 'sending' AND lease_expires_at < ${DB_NOW_MS}`,
      )
      .get() as { n: number; oldest: number | null };
    const owners = this.db
      .prepare(
        `SELECT DISTINCT lease_owner FROM messages WHERE status = 'sending' AND lease_expires_at < ${DB_NOW_MS} AND lease_owner IS NOT NULL`,
      )
      .pluck()
      .all() as string[];
    return { count: row.n, oldestExpiredAt: row.oldest, owners };
  }

  /** Attempts that ended in a failure (final or temporary) since `since`, biggest group first. */
  async failuresSince(since: number): Promise<FailureGroup[]> {
    const rows = this.db
      .prepare(
        `SELECT diagnosis, count(*) AS n, count(DISTINCT message_id) AS messages, max(started_at) AS last_at,
           (SELECT a2.failure FROM attempts a2
              WHERE a2.diagnosis IS a.diagnosis AND a2.failure IS NOT NULL AND a2.started_at >= @since
                AND a2.outcome IN ('failed', 'deferred')
              ORDER BY a2.started_at DESC, a2.id DESC LIMIT 1) AS last_failure
         FROM attempts a
         WHERE started_at >= @since AND failure IS NOT NULL AND outcome IN ('failed', 'deferred')
         GROUP BY diagnosis
         ORDER BY n DESC, last_at DESC`,
      )
      .all({ since }) as { diagnosis: string | null; n: number; messages: number; last_at: number; last_failure: string | null }[];
    return rows.map((r) => ({
      diagnosis: r.diagnosis,
      count: r.n,
      messages: r.messages,
      lastAt: r.last_at,
      lastFailure: r.last_failure ? (JSON.parse(r.last_failure) as FailureInfo) : null,
    }));
  }
}
