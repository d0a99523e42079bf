/**
 * Storing and reading messages and their attempts. Status changes of a message being sent go through
 * ./transitions.ts only; claiming through ./claims.ts.
 */
import type { AttemptRow, MessageRow, NewMessage } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { BODY_APART_CHARS, fillBodies, toAttemptRow, toMessageRow, type AttemptDbRow, type MessageDbRow } from './rows.js';

/** The columns of one message row, in the order writeRow fills them. */
const INSERT_COLUMNS = `status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject,
        text_body, html_body, attachments, headers, message_id, user_id, template_id, org, size_bytes,
        created_at, due_at, updated_at, lease_owner, lease_expires_at, attempts, first_attempt_at, body_apart`;
const COLUMN_COUNT = 25;
const ROW_PLACEHOLDERS = `(${Array(COLUMN_COUNT).fill('?').join(', ')})`;
/**
 * Rows per statement of insertMany: binding fifty rows in one call costs a quarter less than fifty
 * calls (an import of 100,000 lines spends most of its time here). 50 × 25 parameters stay far below
 * SQLite's limit of 32,766.
 */
const ROWS_PER_INSERT = 50;

function isBodyApart(m: NewMessage): boolean {
  return (m.text?.length ?? 0) + (m.html?.length ?? 0) > BODY_APART_CHARS;
}

/** Writes the column values of `m` into `out` from `at` on (positional parameters, no object per row). */
function writeRow(out: unknown[], at: number, m: NewMessage, now: number, apart: boolean): void {
  // a message sent right away is claimed at insertion: that claim is its first attempt
  const sending = m.status === 'sending';
  out[at] = m.status;
  out[at + 1] = m.provider;
  out[at + 2] = m.from;
  out[at + 3] = JSON.stringify(m.to);
  out[at + 4] = JSON.stringify(m.cc);
  out[at + 5] = JSON.stringify(m.bcc);
  out[at + 6] = m.replyTo ?? null;
  out[at + 7] = m.subject;
  out[at + 8] = apart ? null : (m.text ?? null);
  out[at + 9] = apart ? null : (m.html ?? null);
  out[at + 10] = JSON.stringify(m.attachments);
  out[at + 11] = m.headers ? JSON.stringify(m.headers) : null;
  out[at + 12] = m.messageId ?? null;
  out[at + 13] = m.userId ?? null;
  out[at + 14] = m.templateId ?? null;
  out[at + 15] = m.org ?? null;
  out[at + 16] = m.sizeBytes ?? null;
  out[at + 17] = now;
  out[at + 18] = m.dueAt ?? now;
  out[at + 19] = now;
  out[at + 20] = m.leaseOwner ?? null;
  out[at + 21] = m.leaseExpiresAt ?? null;
  out[at + 22] = sending ? 1 : 0;
  out[at + 23] = sending ? now : null;
  out[at + 24] = apart ? 1 : 0;
}

export class SqliteMessages {
  private readonly insertStmt;
  private readonly insertBodyStmt;
  private insertBatchStmt?: ReturnType<SqliteDatabase['prepare']>;
  private batchParams?: unknown[];

  constructor(private readonly db: SqliteDatabase) {
    // positional parameters: binding 25 named ones from an object cost a quarter of an import
    this.insertStmt = db.prepare(`INSERT INTO messages (${INSERT_COLUMNS}) VALUES ${ROW_PLACEHOLDERS}`);
    this.insertBodyStmt = db.prepare('INSERT INTO message_bodies (message_id, text_body, html_body) VALUES (?, ?, ?)');
  }

  /** Inserts one message (and its body apart when it is long); call inside a transaction. */
  private insertOne(m: NewMessage, now: number): number {
    const apart = isBodyApart(m);
    const row = new Array<unknown>(COLUMN_COUNT);
    writeRow(row, 0, m, now, apart);
    const id = Number(this.insertStmt.run(row).lastInsertRowid);
    if (apart) this.insertBodyStmt.run(id, m.text ?? null, m.html ?? null);
    return id;
  }

  insert(m: NewMessage, now: number): number {
    return this.db.transaction(() => this.insertOne(m, now)).immediate();
  }

  /**
   * Stores many messages in one transaction: all or none. Their ids are in the order given. `messages`
   * may be a generator that checks each message as it goes: it is read inside the transaction, fifty at
   * a time, so that only those fifty are held; an error it throws rolls everything back.
   */
  insertMany(messages: Iterable<NewMessage>, now: number): number[] {
    const ids: number[] = [];
    this.db
      .transaction(() => {
        const batch: NewMessage[] = [];
        for (const m of messages) {
          batch.push(m);
          if (batch.length === ROWS_PER_INSERT) {
            this.insertBatch(batch, now, ids);
            batch.length = 0;
          }
        }
        for (const m of batch) ids.push(this.insertOne(m, now));
      })
      .immediate();
    return ids;
  }

  /** Inserts exactly ROWS_PER_INSERT messages with one statement; call inside a transaction. */
  private insertBatch(batch: readonly NewMessage[], now: number, ids: number[]): void {
    const stmt = (this.insertBatchStmt ??= this.db.prepare(
      `INSERT INTO messages (${INSERT_COLUMNS}) VALUES ${Array(ROWS_PER_INSERT).fill(ROW_PLACEHOLDERS).join(', ')}`,
    ));
    const params = (this.batchParams ??= new Array<unknown>(COLUMN_COUNT * ROWS_PER_INSERT));
    let anyApart = false;
    for (let j = 0; j < ROWS_PER_INSERT; j++) {
      const apart = isBodyApart(batch[j]);
      anyApart ||= apart;
      writeRow(params, j * COLUMN_COUNT, batch[j], now, apart);
    }
    const r = stmt.run(params);
    if (r.changes !== ROWS_PER_INSERT) throw new Error(`internal: a batch insert stored ${r.changes} of ${ROWS_PER_INSERT} rows`);
    // one statement under the write lock: its rows took consecutive ids, the last one reported
    const first = Number(r.lastInsertRowid) - ROWS_PER_INSERT + 1;
    for (let j = 0; j < ROWS_PER_INSERT; j++) ids.push(first + j);
    if (!anyApart) return;
    for (let j = 0; j < ROWS_PER_INSERT; j++) {
      const m = batch[j];
      if (isBodyApart(m)) this.insertBodyStmt.run(first + j, m.text ?? null, m.html ?? null);
    }
  }

  get(id: number): MessageRow | undefined {
    const r = this.db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as MessageDbRow | undefined;
    return r ? toMessageRow(fillBodies(this.db, [r])[0]) : undefined;
  }

  attempts(messageId: number): AttemptRow[] {
    return (this.db.prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY id').all(messageId) as AttemptDbRow[]).map(toAttemptRow);
  }
}
