/**
 * What happened to messages: newest first, filterable, with the server's words of the last failure;
 * and retention, deleting old sent/failed messages in small transactions so that a distributor or a
 * `send` waiting for the write lock is never held up for long.
 */
import type { FailureInfo } from '../../core/failure.js';
import type { HistoryQuery, HistoryRepo, HistoryRow } from '../ports.js';
import { PURGE_BATCH } from '../rules.js';
import type { SqliteDatabase } from '../db.js';
import { HAS_RECIPIENT_SQL, attachmentPathsOf, type MessageDbRow } from './rows.js';

type HistoryDbRow = Pick<
  MessageDbRow,
  | 'id'
  | 'status'
  | 'provider'
  | 'sent_provider'
  | 'from_addr'
  | 'to_addrs'
  | 'subject'
  | 'attempts'
  | 'created_at'
  | 'sent_at'
  | 'due_at'
  | 'last_error'
  | 'diagnosis'
  | 'deferral_reason'
>;

const COLUMNS =
  'id, status, provider, sent_provider, from_addr, to_addrs, subject, attempts, created_at, sent_at, due_at, last_error, diagnosis, deferral_reason';

export class SqliteHistoryRepo implements HistoryRepo {
  private readonly purgeStmt;

  constructor(private readonly db: SqliteDatabase) {
    this.purgeStmt = db.prepare(`
      DELETE FROM messages WHERE id IN (
        SELECT id FROM messages WHERE status = 'sent' AND created_at < @cutoff
        UNION ALL
        SELECT id FROM messages WHERE status = 'failed' AND created_at < @cutoff
        LIMIT @batch)
      RETURNING id, attachments`);
  }

  async list(q: HistoryQuery): Promise<HistoryRow[]> {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: q.limit };
    const status = q.failed ? 'failed' : q.status;
    if (status) {
      where.push('status = @status');
      args.status = status;
    }
    if (q.since !== undefined) {
      where.push('created_at >= @since');
      args.since = q.since;
    }
    if (q.to) {
      where.push(HAS_RECIPIENT_SQL);
      args.to = q.to.toLowerCase();
    }
    // (status, created_at, rowid) index order serves "newest first" without sorting
    const sql = `SELECT ${COLUMNS} FROM messages ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY created_at DESC, id DESC ${q.limit > 0 ? 'LIMIT @limit' : ''}`;
    if (q.limit <= 0) delete args.limit;
    return (this.db.prepare(sql).all(args) as HistoryDbRow[]).map((r) => ({
      id: r.id,
      status: r.status,
      provider: r.sent_provider ?? r.provider,
      from: r.from_addr,
      to: JSON.parse(r.to_addrs) as string[],
      subject: r.subject,
      attempts: r.attempts,
      createdAt: r.created_at,
      sentAt: r.sent_at,
      dueAt: r.due_at,
      lastError: r.last_error ? (JSON.parse(r.last_error) as FailureInfo) : null,
      diagnosis: r.diagnosis,
      deferralReason: r.deferral_reason,
    }));
  }

  /** Ids of the sent/failed messages created before `cutoff`: what a purge would delete. */
  async purgeable(cutoff: number): Promise<number[]> {
    return this.db
      .prepare(
        `SELECT id FROM messages WHERE status = 'sent' AND created_at < @cutoff
         UNION ALL SELECT id FROM messages WHERE status = 'failed' AND created_at < @cutoff
         ORDER BY id`,
      )
      .pluck()
      .all({ cutoff }) as number[];
  }

  /**
   * Deletes up to `batch` sent/failed messages created before `cutoff` in one short transaction.
   * Returns how many went and their attachments' paths (their spooled copies go too).
   */
  async purgeBatch(cutoff: number, batch = PURGE_BATCH): Promise<{ deleted: number; attachmentPaths: string[] }> {
    const rows = this.db.transaction(() => this.purgeStmt.all({ cutoff, batch }) as { id: number; attachments: string }[]).immediate();
    return {
      deleted: rows.length,
      attachmentPaths: rows.filter((r) => r.attachments !== '[]').flatMap((r) => attachmentPathsOf(r.attachments)),
    };
  }
}
