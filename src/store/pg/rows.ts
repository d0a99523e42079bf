/**
 * How PostgreSQL rows become the ports' types. bigint columns arrive as numbers (the pool's type
 * parser: epoch milliseconds and ids stay far below 2^53) and jsonb columns already parsed.
 */
import {
  attemptFields,
  attemptFromColumns,
  messageFromColumns,
  type AttemptColumns,
  type ColumnDecoding,
  type MessageColumns,
} from '../columns.js';
import type { FailureInfo } from '../../core/failure.js';
import type { AttemptRow, MessageRow, NewAttempt, StoredAttachment } from '../ports.js';

/** jsonb columns arrive parsed, the forced flag as a boolean. */
const PG_COLUMNS: ColumnDecoding<unknown, boolean> = { json: (v) => v, flag: (v) => v };

export type PgMessageRow = MessageColumns<unknown, boolean> & {
  to_addrs: string[];
  cc_addrs: string[];
  bcc_addrs: string[];
  attachments: StoredAttachment[];
  headers: Record<string, string> | null;
  last_error: FailureInfo | null;
};
export type PgAttemptRow = AttemptColumns<unknown> & { failure: FailureInfo | null };

/** A message's columns, each once: what a MessageRow is read from. */
const MESSAGE_COLUMN_SET: Record<keyof PgMessageRow, true> = {
  id: true,
  status: true,
  provider: true,
  sent_provider: true,
  from_addr: true,
  to_addrs: true,
  cc_addrs: true,
  bcc_addrs: true,
  reply_to: true,
  subject: true,
  text_body: true,
  html_body: true,
  attachments: true,
  headers: true,
  message_id: true,
  user_id: true,
  template_id: true,
  org: true,
  size_bytes: true,
  created_at: true,
  due_at: true,
  sent_at: true,
  updated_at: true,
  first_attempt_at: true,
  attempts: true,
  deferrals: true,
  forced: true,
  deferral_reason: true,
  lease_owner: true,
  lease_expires_at: true,
  last_error: true,
  diagnosis: true,
  expires_at: true,
  priority: true,
  idempotency_key: true,
};

/**
 * The message columns by name, for a prepared statement's answer: `*` would change the kept plan's
 * result type when a later schema adds a column, and the server would refuse to run it.
 */
export const MESSAGE_COLUMN_LIST = Object.keys(MESSAGE_COLUMN_SET).join(', ');

export function toMessageRow(r: PgMessageRow): MessageRow {
  return messageFromColumns(r, PG_COLUMNS);
}

export function toAttemptRow(r: PgAttemptRow): AttemptRow {
  return attemptFromColumns(r, PG_COLUMNS);
}

/** The attempt columns in INSERT order, and their values: the failure's codes spread into their own columns. */
export const ATTEMPT_COLUMNS =
  'message_id, started_at, ended_at, provider, outcome, response, error_code, response_code, enhanced_code, failure, diagnosis, lease_owner';

const ATTEMPT_TYPES = ['bigint', 'bigint', 'bigint', 'text', 'text', 'text', 'text', 'integer', 'text', 'jsonb', 'text', 'text'];

/** The attempt's twelve values as typed parameters from `$from` on (typed: a SELECT list gives them no context). */
export function attemptParams(from: number): string {
  return ATTEMPT_TYPES.map((t, i) => `$${from + i}::${t}`).join(', ');
}

export function attemptValues(a: NewAttempt): unknown[] {
  // attemptFields is in ATTEMPT_COLUMNS order
  return Object.values(attemptFields(a));
}

/** `$n, $n+1, ...` for `count` values starting at `from`. */
export function placeholders(from: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `$${from + i}`).join(', ');
}

/**
 * SQL condition: the bare address in parameter `$p` (lower case) is among the row's To, Cc or Bcc,
 * stored bare or with a display name (`Ann Lee <ann@example.com>`).
 */
export function hasRecipient(p: string): string {
  return `EXISTS (SELECT 1 FROM jsonb_array_elements_text(to_addrs || cc_addrs || bcc_addrs) AS r(v)
    WHERE lower(r.v) = ${p} OR right(lower(r.v), length(${p}) + 2) = '<' || ${p} || '>')`;
}

/** File paths of a stored attachments list. */
export function attachmentPathsOf(list: StoredAttachment[] | null | undefined): string[] {
  return (list ?? []).map((a) => a.path).filter((p): p is string => typeof p === 'string');
}
