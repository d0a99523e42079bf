/**
 * The messages and attempts tables' columns, the same on every backend, and how a row of them becomes
 * the ports' types. The drivers differ only in how a JSON column and the forced flag arrive (SQLite:
 * text and 0/1; PostgreSQL: parsed jsonb and boolean), which each adapter says with a ColumnDecoding.
 */
import type { FailureInfo, ProviderName } from '../core/failure.js';
import type { MessageStatus } from '../core/status.js';
import { suppressionKey, type SuppressionEntry } from '../core/suppression.js';
import type { AttemptRow, MessageRow, NewAttempt, RunRow, StoredAttachment, SuppressionRow, TemplateRow } from './ports.js';

/** A messages row as the driver returns it: `J` where a column holds JSON, `B` for the forced flag. */
export interface MessageColumns<J, B> {
  id: number;
  status: MessageStatus;
  provider: string | null;
  sent_provider: string | null;
  from_addr: string;
  to_addrs: J;
  cc_addrs: J;
  bcc_addrs: J;
  reply_to: string | null;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  attachments: J;
  headers: J | null;
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
  forced: B;
  deferral_reason: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: J | null;
  diagnosis: string | null;
}

/** An attempts row as the driver returns it. */
export interface AttemptColumns<J> {
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
  failure: J | null;
  diagnosis: string | null;
  lease_owner: string | null;
}

/** How a driver hands over a JSON column and the forced flag. */
export interface ColumnDecoding<J, B> {
  json(value: J): unknown;
  flag(value: B): boolean;
}

export function messageFromColumns<J, B>(r: MessageColumns<J, B>, d: ColumnDecoding<J, B>): MessageRow {
  return {
    id: r.id,
    status: r.status,
    provider: r.provider as ProviderName | null,
    sentProvider: r.sent_provider as ProviderName | null,
    from: r.from_addr,
    to: d.json(r.to_addrs) as string[],
    cc: d.json(r.cc_addrs) as string[],
    bcc: d.json(r.bcc_addrs) as string[],
    replyTo: r.reply_to,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    attachments: d.json(r.attachments) as StoredAttachment[],
    headers: r.headers === null ? null : (d.json(r.headers) as Record<string, string>),
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
    forced: d.flag(r.forced),
    deferralReason: r.deferral_reason,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    lastError: r.last_error === null ? null : (d.json(r.last_error) as FailureInfo),
    diagnosis: r.diagnosis,
  };
}

export function attemptFromColumns<J>(r: AttemptColumns<J>, d: Pick<ColumnDecoding<J, never>, 'json'>): AttemptRow {
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
    failure: r.failure === null ? null : (d.json(r.failure) as FailureInfo),
    diagnosis: r.diagnosis,
    leaseOwner: r.lease_owner,
  };
}

/** An attempt's values, named, in the order of the attempts table's insert columns: the failure's codes spread into their own. */
export function attemptFields(a: NewAttempt) {
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

/** A distributor_runs row, the same on both drivers. */
export interface RunColumns {
  id: number;
  owner: string;
  host: string;
  pid: number;
  started_at: number;
  ended_at: number | null;
  sent: number;
  deferred: number;
  failed: number;
  forced: number;
  error_code: string | null;
  error_message: string | null;
  heartbeat_at: number | null;
  lease_ms: number | null;
  interval_ms: number | null;
}

export function runFromColumns(r: RunColumns): RunRow {
  return {
    id: r.id,
    owner: r.owner,
    host: r.host,
    pid: r.pid,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    sent: r.sent,
    deferred: r.deferred,
    failed: r.failed,
    forced: r.forced,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    heartbeatAt: r.heartbeat_at ?? null,
    leaseMs: r.lease_ms ?? null,
    intervalMs: r.interval_ms ?? null,
  };
}

/** A templates row, the same on both drivers. */
export interface TemplateColumns {
  id: string;
  org: string;
  subject: string;
  html_body: string | null;
  text_body: string | null;
  sender: string | null;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export function templateFromColumns(r: TemplateColumns): TemplateRow {
  return {
    id: r.id,
    org: r.org,
    subject: r.subject,
    html: r.html_body,
    text: r.text_body,
    sender: r.sender,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface SuppressionColumns {
  address: string;
  reason: string;
  source: string;
  message_id: number | null;
  created_at: number;
  expires_at: number | null;
}

export function suppressionFromColumns(r: SuppressionColumns): SuppressionRow {
  return {
    address: r.address,
    reason: r.reason,
    source: r.source as SuppressionRow['source'],
    messageId: r.message_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

/** The columns of an entry to write, in the order of SUPPRESSION_INSERT_COLUMNS. */
export function suppressionFields(e: SuppressionEntry, now: number) {
  return {
    address: suppressionKey(e.address),
    reason: e.reason,
    source: e.source,
    messageId: e.messageId ?? null,
    createdAt: now,
    expiresAt: e.expiresAt ?? null,
  };
}

/**
 * On conflict the new entry wins, except that a lasting entry still in effect is never shortened by
 * one that expires. Shared by both stores' upsert.
 */
export const SUPPRESSION_UPSERT_TAIL = `ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, source = excluded.source,
  message_id = excluded.message_id, created_at = excluded.created_at, expires_at = excluded.expires_at
  WHERE suppressions.expires_at IS NOT NULL OR excluded.expires_at IS NULL`;
