/**
 * How the SQLite tables' rows become the ports' types, and the SQL fragments several repositories
 * share: the database's clock, the attempt insert, the recipient condition.
 */
import {
  attemptFields,
  attemptFromColumns,
  messageFromColumns,
  type AttemptColumns,
  type ColumnDecoding,
  type MessageColumns,
} from '../columns.js';
import type { AttemptRow, MessageRow } from '../ports.js';
import type { SqliteDatabase } from '../db.js';

/**
 * The database's clock, in epoch milliseconds: leases are set and compared on it, in SQL. Distributors
 * on several hosts disagree about the time (a clock 15 minutes ahead would take every valid lease);
 * the database is the one party they all share. A server database uses its own now() here
 * (PostgreSQL: `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`). Due times (backoff,
 * scheduling) stay on the caller's clock: a few seconds early or late there costs nothing. SQLite has
 * no server: its now is the clock of the host running the statement, which is why one SQLite file
 * serves distributors of one host only (locking over a network file system is not safe either).
 */
export const DB_NOW_MS = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/** Raw column names as stored, for the repositories that build their own queries (JSON columns as text). */
export type MessageDbRow = MessageColumns<string, number> & { body_apart: number };
export type AttemptDbRow = AttemptColumns<string>;

/** JSON columns are text, the forced flag 0 or 1. */
const SQLITE_COLUMNS: ColumnDecoding<string, number> = { json: (v) => JSON.parse(v) as unknown, flag: (v) => v === 1 };

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
  for (const b of stmt.all(JSON.stringify([...byId.keys()])) as {
    message_id: number;
    text_body: string | null;
    html_body: string | null;
  }[]) {
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
  return messageFromColumns(r, SQLITE_COLUMNS);
}

export function toAttemptRow(r: AttemptDbRow): AttemptRow {
  return attemptFromColumns(r, SQLITE_COLUMNS);
}

/** One attempt row: written only with the status transition it belongs to (./transitions.ts). */
export const INSERT_ATTEMPT_SQL = `
  INSERT INTO attempts (message_id, started_at, ended_at, provider, outcome, response, error_code,
    response_code, enhanced_code, failure, diagnosis, lease_owner)
  VALUES (@messageId, @startedAt, @endedAt, @provider, @outcome, @response, @errorCode, @responseCode,
    @enhancedCode, @failure, @diagnosis, @leaseOwner)`;

/** The statement parameters of an attempt: the failure's codes are spread into their own columns. */
export const attemptParams = attemptFields;

/**
 * SQL condition: the bare address @to (lower case) is among the row's To, Cc or Bcc, stored bare or
 * with a display name (`Ann Lee <ann@example.com>`).
 */
export const HAS_RECIPIENT_SQL = `EXISTS (
  SELECT 1 FROM (SELECT value FROM json_each(to_addrs) UNION ALL SELECT value FROM json_each(cc_addrs) UNION ALL SELECT value FROM json_each(bcc_addrs)) AS r
  WHERE lower(r.value) = @to OR substr(lower(r.value), -(length(@to) + 2)) = '<' || @to || '>')`;

/** Keeps SQLite's bound-parameter count small for long id lists. */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
