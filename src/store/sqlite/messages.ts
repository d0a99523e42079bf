/**
 * Storing and reading messages and their attempts. Status changes of a message being sent go through
 * ./transitions.ts only; claiming through ./claims.ts.
 */
import type { AttemptRow, InsertOnceResult, MessageRow, NewMessage } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { BODY_APART_CHARS, fillBodies, toAttemptRow, toMessageRow, type AttemptDbRow, type MessageDbRow } from './rows.js';

/** The columns of one message row, in the order writeRow fills them. */
const INSERT_COLUMNS = `status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject,
        text_body, html_body, attachments, headers, message_id, user_id, template_id, org, size_bytes,
        created_at, due_at, updated_at, lease_owner, lease_expires_at, attempts, first_attempt_at, body_apart,
        expires_at, priority, idempotency_key, idempotency_digest`;
const COLUMN_COUNT = 29;
const ROW_PLACEHOLDERS = `(${Array(COLUMN_COUNT).fill('?').join(', ')})`;
/**
 * Rows per statement of insertMany: binding fifty rows in one call costs a quarter less than fifty
 * calls (an import of 100,000 lines spends most of its time here). 50 × 29 parameters stay far below
 * SQLite's limit of 32,766.
 */
const ROWS_PER_INSERT = 50;

/**
 * Messages of insertManyOnce read ahead and their keys looked up in one query: a look-up per key was
 * most of the statements of a keyed import. 500 keys make a JSON list of a few tens of KiB.
 */
export const KEYS_PER_LOOKUP = 500;

/** Page cache of an import with idempotency keys, in KiB as a negative cache_size (64 MiB). */
const IMPORT_CACHE_KIB = -65_536;

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
  out[at + 25] = m.expiresAt ?? null;
  out[at + 26] = m.priority ?? 0;
  out[at + 27] = m.idempotencyKey ?? null;
  out[at + 28] = m.idempotencyKey === undefined ? null : (m.idempotencyDigest ?? null);
}

/** The first message of an idempotency key, as insertOnce compares it. */
interface KeyHolder {
  id: number;
  created_at: number;
  idempotency_digest: string | null;
}

export class SqliteMessages {
  private readonly insertStmt;
  private readonly insertBodyStmt;
  private insertBatchStmt?: ReturnType<SqliteDatabase['prepare']>;
  private batchParams?: unknown[];
  private keyHolderStmt?: ReturnType<SqliteDatabase['prepare']>;
  private keyHoldersStmt?: ReturnType<SqliteDatabase['prepare']>;
  private releaseKeyStmt?: ReturnType<SqliteDatabase['prepare']>;

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

  /** The message holding `key` within the window, or undefined after taking the key from an older holder; call inside a transaction. */
  private keyHolder(key: string, since: number): KeyHolder | undefined {
    const holder = (this.keyHolderStmt ??= this.db.prepare(
      'SELECT id, created_at, idempotency_digest FROM messages WHERE idempotency_key = ?',
    )).get(key) as KeyHolder | undefined;
    if (!holder) return undefined;
    if (holder.created_at >= since) return holder;
    this.releaseKey(holder.id);
    return undefined;
  }

  /** keyHolder for many keys in one query (a JSON list of them, read with json_each): the holders found within the window, by key. */
  private keyHolders(keys: readonly string[], since: number): Map<string, KeyHolder> {
    const rows = (this.keyHoldersStmt ??= this.db.prepare(
      'SELECT idempotency_key AS key, id, created_at, idempotency_digest FROM messages WHERE idempotency_key IN (SELECT value FROM json_each(?))',
    )).all(JSON.stringify(keys)) as (KeyHolder & { key: string })[];
    const out = new Map<string, KeyHolder>();
    for (const r of rows) {
      if (r.created_at >= since) out.set(r.key, r);
      else this.releaseKey(r.id);
    }
    return out;
  }

  /** Past the retention window a key is free again: the old message keeps its history, not its key. */
  private releaseKey(id: number): void {
    (this.releaseKeyStmt ??= this.db.prepare('UPDATE messages SET idempotency_key = NULL WHERE id = ?')).run(id);
  }

  /**
   * Stores `m` unless its key is held by a message created since `since`. The write lock of BEGIN
   * IMMEDIATE makes the look-up and the insert one step for every process on the file; the unique
   * index is the last word.
   */
  insertOnce(m: NewMessage & { idempotencyKey: string }, now: number, since: number): InsertOnceResult {
    return this.db
      .transaction((): InsertOnceResult => {
        const holder = this.keyHolder(m.idempotencyKey, since);
        if (holder) return { id: holder.id, duplicate: true, sameMessage: holder.idempotency_digest === (m.idempotencyDigest ?? null) };
        return { id: this.insertOne(m, now), duplicate: false };
      })
      .immediate();
  }

  /**
   * insertMany with idempotency keys: a message whose key is held (by an earlier message, or one earlier
   * in `messages`) is answered with the holder's id instead of being stored. `messages` is read
   * KEYS_PER_LOOKUP ahead, their keys looked up in one query; they are then placed in order, fifty to a
   * statement as in insertMany.
   */
  insertManyOnce(
    messages: Iterable<NewMessage>,
    now: number,
    since: number,
    refuse: (m: NewMessage, firstId: number, at: number) => Error,
  ): InsertOnceResult[] {
    const out: InsertOnceResult[] = [];
    // the keys arrive in no order: their index takes random inserts, which thrash SQLite's default page
    // cache (2 MB) and write the same pages to the WAL again and again; a larger cache for this
    // transaction keeps them in memory until the commit
    const cache = this.db.pragma('cache_size', { simple: true }) as number;
    this.db.pragma(`cache_size = ${IMPORT_CACHE_KIB}`);
    try {
      this.insertManyOnceIn(messages, now, since, refuse, out);
    } finally {
      this.db.pragma(`cache_size = ${cache}`);
    }
    return out;
  }

  private insertManyOnceIn(
    messages: Iterable<NewMessage>,
    now: number,
    since: number,
    refuse: (m: NewMessage, firstId: number, at: number) => Error,
    out: InsertOnceResult[],
  ): void {
    this.db
      .transaction(() => {
        const batch: NewMessage[] = [];
        const slots: number[] = [];
        // keys of the batch not yet written: a repeat of one waits for its first to be stored
        const pendingKeys = new Set<string>();
        // the holders of the keys of the messages read ahead, and of the keys written since
        let holders = new Map<string, KeyHolder>();
        const flush = () => {
          const ids: number[] = [];
          if (batch.length === ROWS_PER_INSERT) this.insertBatch(batch, now, ids);
          else for (const m of batch) ids.push(this.insertOne(m, now));
          for (let j = 0; j < ids.length; j++) {
            out[slots[j]] = { id: ids[j], duplicate: false };
            const key = batch[j].idempotencyKey;
            if (key !== undefined)
              holders.set(key, { id: ids[j], created_at: now, idempotency_digest: batch[j].idempotencyDigest ?? null });
          }
          batch.length = 0;
          slots.length = 0;
          pendingKeys.clear();
        };
        const place = (m: NewMessage) => {
          const key = m.idempotencyKey;
          if (key !== undefined) {
            if (pendingKeys.has(key)) flush();
            const holder = holders.get(key);
            if (holder) {
              if (holder.idempotency_digest !== (m.idempotencyDigest ?? null)) throw refuse(m, holder.id, out.length);
              out.push({ id: holder.id, duplicate: true, sameMessage: true });
              return;
            }
            pendingKeys.add(key);
          }
          slots.push(out.length);
          out.push({ id: 0, duplicate: false });
          batch.push(m);
          if (batch.length === ROWS_PER_INSERT) flush();
        };
        // read KEYS_PER_LOOKUP messages ahead, look their keys up in one query, then place them in order
        const ahead: NewMessage[] = [];
        const placeAhead = () => {
          const keys: string[] = [];
          for (const m of ahead) if (m.idempotencyKey !== undefined && !pendingKeys.has(m.idempotencyKey)) keys.push(m.idempotencyKey);
          holders = keys.length > 0 ? this.keyHolders(keys, since) : new Map<string, KeyHolder>();
          for (const m of ahead) place(m);
          ahead.length = 0;
        };
        for (const m of messages) {
          ahead.push(m);
          if (ahead.length === KEYS_PER_LOOKUP) placeAhead();
        }
        placeAhead();
        flush();
      })
      .immediate();
  }

  get(id: number): MessageRow | undefined {
    const r = this.db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as MessageDbRow | undefined;
    return r ? toMessageRow(fillBodies(this.db, [r])[0]) : undefined;
  }

  attempts(messageId: number): AttemptRow[] {
    return (this.db.prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY id').all(messageId) as AttemptDbRow[]).map(toAttemptRow);
  }
}
