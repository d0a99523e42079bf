/**
 * The suppression list and the bounce reports on SQLite. `SuppressionWrites` is the part the queue's
 * own transactions use (a claim fails the messages of suppressed recipients; a refusal adds entries);
 * `SqliteSuppressionsRepo` is the port.
 */
import { SUPPRESSED_REASON, recipientKeys, suppressionKey } from '../../core/suppression.js';
import { SUPPRESSION_UPSERT_TAIL, suppressionFields, suppressionFromColumns, type SuppressionColumns } from '../columns.js';
import type { BounceRecord, MessageRow, SuppressionEntry, SuppressionRow, SuppressionsRepo } from '../ports.js';
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from '../db.js';
import { INSERT_ATTEMPT_SQL, attemptParams } from './rows.js';

const IN_EFFECT = '(expires_at IS NULL OR expires_at > @now)';

/** What a claimed message meets on the list: the first suppressed recipient, with its entry. */
export interface Blocked {
  id: number;
  entry: SuppressionRow;
}

export class SuppressionWrites {
  private anyStmt?: Statement<[]>;
  private findStmt?: Statement<[{ keys: string; now: number }]>;
  private upsertStmt?: Statement<[ReturnType<typeof suppressionFields>]>;

  constructor(private readonly db: SqliteDatabase) {}

  /** Entries in effect for these keys. */
  find(keys: readonly string[], now: number): SuppressionRow[] {
    if (keys.length === 0) return [];
    this.findStmt ??= this.db.prepare(`SELECT * FROM suppressions WHERE address IN (SELECT value FROM json_each(@keys)) AND ${IN_EFFECT}`);
    return (this.findStmt.all({ keys: JSON.stringify(keys), now }) as SuppressionColumns[]).map(suppressionFromColumns);
  }

  /**
   * The messages among `rows` that have a suppressed recipient. An empty list (the common case) costs
   * one indexed probe per claim.
   */
  blocked(rows: readonly MessageRow[], now: number): Blocked[] {
    if (rows.length === 0) return [];
    this.anyStmt ??= this.db.prepare('SELECT EXISTS (SELECT 1 FROM suppressions)').pluck();
    if (this.anyStmt.get() !== 1) return [];
    const keys = new Set<string>();
    for (const m of rows) for (const k of recipientKeys(m)) keys.add(k);
    const found = new Map(this.find([...keys], now).map((e) => [e.address, e]));
    if (found.size === 0) return [];
    const out: Blocked[] = [];
    for (const m of rows) {
      const hit = recipientKeys(m).find((k) => found.has(k));
      if (hit) out.push({ id: m.id, entry: found.get(hit)! });
    }
    return out;
  }

  /** Gives failed messages the reason `suppressed` (queue list's reason column). */
  markSuppressed(ids: readonly number[]): void {
    const stmt = this.db.prepare("UPDATE messages SET deferral_reason = ? WHERE id = ? AND status = 'failed'");
    for (const id of ids) stmt.run(SUPPRESSED_REASON, id);
  }

  /** Adds entries inside the caller's transaction; returns how many rows were written. */
  addIn(entries: readonly SuppressionEntry[], now: number): number {
    this.upsertStmt ??= this.db.prepare(
      `INSERT INTO suppressions (address, reason, source, message_id, created_at, expires_at)
       VALUES (@address, @reason, @source, @messageId, @createdAt, @expiresAt) ${SUPPRESSION_UPSERT_TAIL}`,
    );
    let n = 0;
    for (const e of entries) n += this.upsertStmt.run(suppressionFields(e, now)).changes;
    return n;
  }
}

export class SqliteSuppressionsRepo implements SuppressionsRepo {
  private readonly writes: SuppressionWrites;

  constructor(private readonly db: SqliteDatabase) {
    this.writes = new SuppressionWrites(db);
  }

  async list(now: number): Promise<SuppressionRow[]> {
    return (this.db.prepare(`SELECT * FROM suppressions WHERE ${IN_EFFECT} ORDER BY address`).all({ now }) as SuppressionColumns[]).map(
      suppressionFromColumns,
    );
  }

  async find(addresses: readonly string[], now: number): Promise<SuppressionRow[]> {
    return this.writes.find(addresses.map(suppressionKey), now);
  }

  async add(entries: readonly SuppressionEntry[], now: number): Promise<number> {
    return this.db.transaction(() => this.writes.addIn(entries, now)).immediate();
  }

  async remove(address: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM suppressions WHERE address = ?').run(suppressionKey(address)).changes > 0;
  }

  async messageByMessageId(messageId: string): Promise<number | undefined> {
    return this.db.prepare('SELECT id FROM messages WHERE message_id = ? ORDER BY id DESC LIMIT 1').pluck().get(messageId) as
      number | undefined;
  }

  async recordBounce(b: BounceRecord, now: number): Promise<'recorded' | 'duplicate' | 'missing'> {
    return this.db
      .transaction((): 'recorded' | 'duplicate' | 'missing' => {
        const provider = this.db.prepare('SELECT coalesce(sent_provider, provider) AS p FROM messages WHERE id = ?').get(b.messageId) as
          { p: string | null } | undefined;
        if (!provider) return 'missing';
        const fresh = this.db
          .prepare(
            `INSERT INTO bounces (report_key, recipient, message_id, action, status, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING`,
          )
          .run(b.reportKey, suppressionKey(b.recipient), b.messageId, b.action, b.status, now).changes;
        if (fresh === 0) return 'duplicate';
        this.db.prepare(INSERT_ATTEMPT_SQL).run(
          attemptParams({
            messageId: b.messageId,
            startedAt: b.at,
            endedAt: b.at,
            provider: (provider.p as never) ?? null,
            outcome: 'bounced',
            response: b.failure.response,
            failure: b.failure,
            diagnosis: b.diagnosis,
          }),
        );
        if (b.final) {
          this.db
            .prepare(
              "UPDATE messages SET status = 'failed', last_error = ?, diagnosis = ?, deferral_reason = ?, updated_at = ? WHERE id = ? AND status = 'sent'",
            )
            .run(JSON.stringify(b.failure), b.diagnosis, `bounced: ${b.status}`, now, b.messageId);
        }
        if (b.suppress) this.writes.addIn([b.suppress], now);
        return 'recorded';
      })
      .immediate();
  }
}
