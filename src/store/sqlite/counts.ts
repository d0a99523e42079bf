/** The queue as numbers and as a list: counts per status, what is due, when the next one is. */
import { MESSAGE_STATUSES, type MessageStatus } from '../../core/status.js';
import type { MessageRow, StatusCounts } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { fillBodies, toMessageRow, type MessageDbRow } from './rows.js';

/**
 * The waiting messages by status and priority: each one a prefix of the messages_claim index
 * (status, priority, due_at), whose first entry is that group's earliest due.
 */
const WAITING = (['pending', 'deferred'] as const).flatMap((status) =>
  [1, 0, -1].map((rank) => `status = '${status}' AND priority = ${rank}`),
);

export class QueueCounts {
  constructor(private readonly db: SqliteDatabase) {}

  counts(): StatusCounts {
    const out = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;
    for (const r of this.db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as {
      status: MessageStatus;
      n: number;
    }[]) {
      out[r.status] = r.n;
    }
    return out;
  }

  /** Messages still to go: due or waiting or in flight (held ones wait for the operator). */
  remaining(): number {
    return this.db.prepare("SELECT count(*) FROM messages WHERE status IN ('pending','deferred','sending')").pluck().get() as number;
  }

  /** Due now (what a one-pass run would still find). */
  dueCount(now: number): number {
    return this.db
      .prepare("SELECT count(*) FROM messages WHERE status IN ('pending','deferred') AND due_at <= ?")
      .pluck()
      .get(now) as number;
  }

  /** Seconds the longest-waiting due message has been due; null when nothing is due. */
  oldestDueAgeSec(now: number): number | null {
    const oldest = this.db
      .prepare(
        `SELECT min(d) FROM (${WAITING.map((w) => `SELECT min(due_at) AS d FROM messages WHERE ${w} AND due_at <= @now`).join(' UNION ALL ')})`,
      )
      .pluck()
      .get({ now }) as number | null;
    return oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000));
  }

  /** When the next waiting message becomes due (for --watch to sleep just long enough). */
  nextDueAt(): number | null {
    return this.db
      .prepare(`SELECT min(d) FROM (${WAITING.map((w) => `SELECT min(due_at) AS d FROM messages WHERE ${w}`).join(' UNION ALL ')})`)
      .pluck()
      .get() as number | null;
  }

  list(opts: { status?: MessageStatus; limit: number }): MessageRow[] {
    const rows = opts.status
      ? this.db.prepare('SELECT * FROM messages WHERE status = ? ORDER BY due_at, id LIMIT ?').all(opts.status, opts.limit)
      : this.db
          .prepare("SELECT * FROM messages WHERE status IN ('pending','sending','deferred','held') ORDER BY due_at, id LIMIT ?")
          .all(opts.limit);
    return fillBodies(this.db, rows as MessageDbRow[]).map(toMessageRow);
  }
}
