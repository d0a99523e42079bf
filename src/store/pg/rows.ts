/**
 * How PostgreSQL rows become the ports' types. bigint columns arrive as numbers (the pool's type
 * parser: epoch milliseconds and ids stay far below 2^53) and jsonb columns already parsed.
 */
import type { FailureInfo, ProviderName } from '../../core/failure.js';
import type { MessageStatus } from '../../core/status.js';
import type { AttemptRow, MessageRow, NewAttempt, StoredAttachment } from '../ports.js';

export interface PgMessageRow {
  id: number;
  status: MessageStatus;
  provider: string | null;
  sent_provider: string | null;
  from_addr: string;
  to_addrs: string[];
  cc_addrs: string[];
  bcc_addrs: string[];
  reply_to: string | null;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  attachments: StoredAttachment[];
  headers: Record<string, string> | null;
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
  forced: boolean;
  deferral_reason: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: FailureInfo | null;
  diagnosis: string | null;
}

export function toMessageRow(r: PgMessageRow): MessageRow {
  return {
    id: r.id,
    status: r.status,
    provider: r.provider as ProviderName | null,
    sentProvider: r.sent_provider as ProviderName | null,
    from: r.from_addr,
    to: r.to_addrs,
    cc: r.cc_addrs,
    bcc: r.bcc_addrs,
    replyTo: r.reply_to,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    attachments: r.attachments,
    headers: r.headers,
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
    forced: r.forced,
    deferralReason: r.deferral_reason,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    lastError: r.last_error,
    diagnosis: r.diagnosis,
  };
}

export interface PgAttemptRow {
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
  failure: FailureInfo | null;
  diagnosis: string | null;
  lease_owner: string | null;
}

export function toAttemptRow(r: PgAttemptRow): AttemptRow {
  return {
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
    failure: r.failure,
    diagnosis: r.diagnosis,
    leaseOwner: r.lease_owner,
  };
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
  const f = a.failure;
  return [
    a.messageId,
    a.startedAt,
    a.endedAt ?? null,
    a.provider,
    a.outcome,
    a.response ?? f?.response ?? null,
    f?.code ?? f?.graphCode ?? null,
    f?.responseCode ?? f?.httpStatus ?? null,
    f?.enhancedCode ?? null,
    f ? JSON.stringify(f) : null,
    a.diagnosis ?? null,
    a.leaseOwner ?? null,
  ];
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
