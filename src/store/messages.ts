/**
 * Messages and their attempts: what was sent or queued, and every try with the server's words.
 * The distributor's claiming and leasing live in ./queue.ts; history queries in ./history.ts.
 */
import type { FailureInfo, ProviderName } from '../core/failure.js';
import type { SqliteDatabase } from './db.js';

export type MessageStatus = 'pending' | 'sending' | 'deferred' | 'held' | 'sent' | 'failed';

export interface StoredAttachment {
  filename: string;
  path?: string;
  contentType?: string;
  size: number;
}

export interface NewMessage {
  status: MessageStatus;
  /** Provider asked for; null = the batch provider at send time. */
  provider: ProviderName | null;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  attachments: StoredAttachment[];
  headers?: Record<string, string>;
  messageId?: string;
  userId?: string;
  templateId?: string;
  org?: string;
  sizeBytes?: number;
  /** When it may be sent; defaults to now. */
  dueAt?: number;
  /** For a message sent right away: the lease owner holding it while it is sent. */
  leaseOwner?: string;
  leaseExpiresAt?: number;
}

export interface MessageRow {
  id: number;
  status: MessageStatus;
  provider: ProviderName | null;
  sentProvider: ProviderName | null;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string | null;
  subject: string;
  text: string | null;
  html: string | null;
  attachments: StoredAttachment[];
  headers: Record<string, string> | null;
  messageId: string | null;
  userId: string | null;
  templateId: string | null;
  org: string | null;
  sizeBytes: number | null;
  createdAt: number;
  dueAt: number;
  sentAt: number | null;
  updatedAt: number;
  firstAttemptAt: number | null;
  attempts: number;
  deferrals: number;
  forced: boolean;
  deferralReason: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: FailureInfo | null;
  diagnosis: string | null;
}

export interface NewAttempt {
  messageId: number;
  startedAt: number;
  endedAt?: number;
  provider: ProviderName | null;
  outcome: 'sent' | 'deferred' | 'failed' | 'throttled' | 'released';
  response?: string;
  failure?: FailureInfo;
  diagnosis?: string | null;
  leaseOwner?: string;
}

export interface AttemptRow {
  id: number;
  messageId: number;
  startedAt: number;
  endedAt: number | null;
  provider: ProviderName | null;
  outcome: string | null;
  response: string | null;
  errorCode: string | null;
  responseCode: number | null;
  enhancedCode: string | null;
  failure: FailureInfo | null;
  diagnosis: string | null;
  leaseOwner: string | null;
}

/** Raw column names as stored, for the repositories that build their own queries. */
export interface MessageDbRow {
  id: number;
  status: MessageStatus;
  provider: string | null;
  sent_provider: string | null;
  from_addr: string;
  to_addrs: string;
  cc_addrs: string;
  bcc_addrs: string;
  reply_to: string | null;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  attachments: string;
  headers: string | null;
  message_id: string | null;
  user_id: string | null;
  template_id: string | null;
  org: string | null;
  size_bytes: number | null;
  created_at: number;
  due_at: number;
  sent_at: number | null;
  updated_at: number;
  first_attempt_at: number | null;
  attempts: number;
  deferrals: number;
  forced: number;
  deferral_reason: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  diagnosis: string | null;
  body_apart: number;
}

/**
 * Bodies longer than this (text and html together, in UTF-16 units) are stored apart from the message
 * row, so that the distributor's status changes rewrite a small row. Short notifications stay inline,
 * where inserting them costs one row.
 */
export const BODY_APART_CHARS = 1024;

const bodiesStmts = new WeakMap<SqliteDatabase, ReturnType<SqliteDatabase['prepare']>>();

/**
 * Fills in the bodies kept apart (body_apart = 1) of rows read from the messages table: one query for
 * the whole list. Call it inside the transaction that read the rows.
 */
export function fillBodies(db: SqliteDatabase, rows: MessageDbRow[]): MessageDbRow[] {
  const apart = rows.filter((r) => r.body_apart === 1);
  if (apart.length === 0) return rows;
  const byId = new Map(apart.map((r) => [r.id, r]));
  let stmt = bodiesStmts.get(db);
  if (!stmt) {
    // the ids travel as one JSON array: one statement, prepared once per connection, for any count
    stmt = db.prepare('SELECT message_id, text_body, html_body FROM message_bodies WHERE message_id IN (SELECT value FROM json_each(?))');
    bodiesStmts.set(db, stmt);
  }
  for (const b of stmt.all(JSON.stringify([...byId.keys()])) as { message_id: number; text_body: string | null; html_body: string | null }[]) {
    const r = byId.get(b.message_id)!;
    r.text_body = b.text_body;
    r.html_body = b.html_body;
  }
  return rows;
}

/** The file paths in a stored attachments column (JSON). */
export function attachmentPathsOf(json: string): string[] {
  return (JSON.parse(json) as { path?: unknown }[]).map((a) => a.path).filter((p): p is string => typeof p === 'string');
}

export function toMessageRow(r: MessageDbRow): MessageRow {
  return {
    id: r.id,
    status: r.status,
    provider: r.provider as ProviderName | null,
    sentProvider: r.sent_provider as ProviderName | null,
    from: r.from_addr,
    to: JSON.parse(r.to_addrs) as string[],
    cc: JSON.parse(r.cc_addrs) as string[],
    bcc: JSON.parse(r.bcc_addrs) as string[],
    replyTo: r.reply_to,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    attachments: JSON.parse(r.attachments) as StoredAttachment[],
    headers: r.headers ? (JSON.parse(r.headers) as Record<string, string>) : null,
    messageId: r.message_id,
    userId: r.user_id,
    templateId: r.template_id,
    org: r.org,
    sizeBytes: r.size_bytes,
    createdAt: r.created_at,
    dueAt: r.due_at,
    sentAt: r.sent_at,
    updatedAt: r.updated_at,
    firstAttemptAt: r.first_attempt_at,
    attempts: r.attempts,
    deferrals: r.deferrals,
    forced: r.forced === 1,
    deferralReason: r.deferral_reason,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    lastError: r.last_error ? (JSON.parse(r.last_error) as FailureInfo) : null,
    diagnosis: r.diagnosis,
  };
}

interface AttemptDbRow {
  id: number;
  message_id: number;
  started_at: number;
  ended_at: number | null;
  provider: string | null;
  outcome: string | null;
  response: string | null;
  error_code: string | null;
  response_code: number | null;
  enhanced_code: string | null;
  failure: string | null;
  diagnosis: string | null;
  lease_owner: string | null;
}

/** One attempt row; shared by the send path (here) and the distributor (./queue.ts). */
export const INSERT_ATTEMPT_SQL = `
  INSERT INTO attempts (message_id, started_at, ended_at, provider, outcome, response, error_code,
    response_code, enhanced_code, failure, diagnosis, lease_owner)
  VALUES (@messageId, @startedAt, @endedAt, @provider, @outcome, @response, @errorCode, @responseCode,
    @enhancedCode, @failure, @diagnosis, @leaseOwner)`;

/** The statement parameters of an attempt: the failure's codes are spread into their own columns. */
export function attemptParams(a: NewAttempt) {
  const f = a.failure;
  return {
    messageId: a.messageId,
    startedAt: a.startedAt,
    endedAt: a.endedAt ?? null,
    provider: a.provider,
    outcome: a.outcome,
    response: a.response ?? f?.response ?? null,
    errorCode: f?.code ?? f?.graphCode ?? null,
    responseCode: f?.responseCode ?? f?.httpStatus ?? null,
    enhancedCode: f?.enhancedCode ?? null,
    failure: f ? JSON.stringify(f) : null,
    diagnosis: a.diagnosis ?? null,
    leaseOwner: a.leaseOwner ?? null,
  };
}

/** The columns of one message row, in the order of INSERT_COLUMNS. */
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

export class MessagesRepo {
  private readonly insertStmt;
  private readonly insertBodyStmt;
  private readonly insertAttemptStmt;
  private insertBatchStmt?: ReturnType<SqliteDatabase['prepare']>;
  private batchParams?: unknown[];

  constructor(private readonly db: SqliteDatabase) {
    // positional parameters: binding 25 named ones from an object cost a quarter of an import
    this.insertStmt = db.prepare(`INSERT INTO messages (${INSERT_COLUMNS}) VALUES ${ROW_PLACEHOLDERS}`);
    this.insertBodyStmt = db.prepare('INSERT INTO message_bodies (message_id, text_body, html_body) VALUES (?, ?, ?)');
    this.insertAttemptStmt = db.prepare(INSERT_ATTEMPT_SQL);
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

  async insert(m: NewMessage, now: number): Promise<number> {
    return this.db.transaction(() => this.insertOne(m, now)).immediate();
  }

  /**
   * Stores many messages in one transaction: all or none. Their ids are in the order given. `messages`
   * may be a generator that checks each message as it goes: it is read inside the transaction, fifty at
   * a time, so that only those fifty are held; an error it throws rolls everything back.
   */
  async insertMany(messages: Iterable<NewMessage>, now: number): Promise<number[]> {
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
    const stmt = (this.insertBatchStmt ??= this.db.prepare(`INSERT INTO messages (${INSERT_COLUMNS}) VALUES ${Array(ROWS_PER_INSERT).fill(ROW_PLACEHOLDERS).join(', ')}`));
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

  async get(id: number): Promise<MessageRow | undefined> {
    const r = this.db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as MessageDbRow | undefined;
    return r ? toMessageRow(fillBodies(this.db, [r])[0]) : undefined;
  }

  async recordAttempt(a: NewAttempt): Promise<number> {
    return Number(this.insertAttemptStmt.run(attemptParams(a)).lastInsertRowid);
  }

  async attempts(messageId: number): Promise<AttemptRow[]> {
    const rows = this.db.prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY id').all(messageId) as AttemptDbRow[];
    return rows.map((r) => ({
      id: r.id,
      messageId: r.message_id,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      provider: r.provider as ProviderName | null,
      outcome: r.outcome,
      response: r.response,
      errorCode: r.error_code,
      responseCode: r.response_code,
      enhancedCode: r.enhanced_code,
      failure: r.failure ? (JSON.parse(r.failure) as FailureInfo) : null,
      diagnosis: r.diagnosis,
      leaseOwner: r.lease_owner,
    }));
  }

  /** Completes a message the caller holds the lease of (or that nobody holds). Returns false if the lease was lost. */
  async markSent(id: number, leaseOwner: string | null, at: number, provider: ProviderName, messageId?: string): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE messages SET status = 'sent', sent_at = @at, updated_at = @at, sent_provider = @provider,
           message_id = coalesce(@messageId, message_id), lease_owner = NULL, lease_expires_at = NULL
         WHERE id = @id AND (lease_owner IS @leaseOwner)`,
      )
      .run({ id, at, provider, messageId: messageId ?? null, leaseOwner });
    return r.changes === 1;
  }

  async markFailed(id: number, leaseOwner: string | null, at: number, failure: FailureInfo | null, diagnosis: string | null): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE messages SET status = 'failed', updated_at = @at, last_error = @failure, diagnosis = @diagnosis,
           lease_owner = NULL, lease_expires_at = NULL
         WHERE id = @id AND (lease_owner IS @leaseOwner)`,
      )
      .run({ id, at, failure: failure ? JSON.stringify(failure) : null, diagnosis, leaseOwner });
    return r.changes === 1;
  }
}
