/**
 * Email history: what was sent and what failed, with the server's own words; and retention, which
 * keeps history.retentionDays of sent and failed messages (0 = the default, 30).
 */
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fs } from '../core/builtins.js';
import { SysemailError } from '../core/errors.js';
import type { FailureInfo } from '../core/failure.js';
import type { Settings } from '../core/precedence.js';
import type { Store } from '../store/ports.js';
import type { AttemptRow, HistoryRow, MessageRow } from '../store/ports.js';

export const DEFAULT_RETENTION_DAYS = 30;
export const DEFAULT_HISTORY_LIMIT = 50;
const DAY_MS = 86_400_000;

export interface HistoryEntry {
  id: number;
  status: HistoryRow['status'];
  provider: string | null;
  from: string;
  to: string[];
  subject: string;
  attempts: number;
  createdAt: string;
  sentAt: string | null;
  lastError: { code: string | null; responseCode: number | null; response: string | null } | null;
  diagnosis: string | null;
  /** For deferred messages: why, and when the next try is. */
  deferralReason: string | null;
  nextAttemptAt: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function lastErrorOf(f: FailureInfo | null): HistoryEntry['lastError'] {
  if (!f) return null;
  return { code: f.code ?? f.graphCode ?? null, responseCode: f.responseCode ?? f.httpStatus ?? null, response: f.response ?? null };
}

function entry(r: HistoryRow): HistoryEntry {
  return {
    id: r.id,
    status: r.status,
    provider: r.provider,
    from: r.from,
    to: r.to,
    subject: r.subject,
    attempts: r.attempts,
    createdAt: new Date(r.createdAt).toISOString(),
    sentAt: iso(r.sentAt),
    lastError: lastErrorOf(r.lastError),
    diagnosis: r.diagnosis,
    deferralReason: r.status === 'deferred' ? r.deferralReason : null,
    nextAttemptAt: r.status === 'deferred' ? iso(r.dueAt) : null,
  };
}

export interface HistoryListRequest {
  failed?: boolean;
  sinceMs?: number;
  to?: string;
  limit?: number;
  now: number;
}

export async function listHistory(store: Store, q: HistoryListRequest): Promise<HistoryEntry[]> {
  const rows = await store.history.list({
    failed: q.failed,
    since: q.sinceMs === undefined ? undefined : q.now - q.sinceMs,
    to: q.to,
    limit: q.limit ?? DEFAULT_HISTORY_LIMIT,
  });
  return rows.map(entry);
}

export interface AttemptEntry {
  at: string;
  endedAt: string | null;
  provider: string | null;
  outcome: string | null;
  response: string | null;
  code: string | null;
  responseCode: number | null;
  enhancedCode: string | null;
  diagnosis: string | null;
}

export interface HistoryDetail extends HistoryEntry {
  cc: string[];
  bcc: string[];
  messageId: string | null;
  deferrals: number;
  forced: boolean;
  userId: string | null;
  attachments: { filename: string; size: number }[];
  attemptLog: AttemptEntry[];
}

function attemptEntry(a: AttemptRow): AttemptEntry {
  return {
    at: new Date(a.startedAt).toISOString(),
    endedAt: iso(a.endedAt),
    provider: a.provider,
    outcome: a.outcome,
    response: a.response,
    code: a.errorCode,
    responseCode: a.responseCode,
    enhancedCode: a.enhancedCode,
    diagnosis: a.diagnosis,
  };
}

export function requireMessage(m: MessageRow | undefined, id: number): MessageRow {
  if (!m) {
    throw new SysemailError('data', 'MESSAGE_NOT_FOUND', `no message with id ${id}`, {
      fix: 'List the ids with `sysemail history` or `sysemail queue list`',
    });
  }
  return m;
}

export async function showHistory(store: Store, id: number): Promise<HistoryDetail> {
  const m = requireMessage(await store.messages.get(id), id);
  const attempts = await store.messages.attempts(id);
  return {
    ...entry({
      id: m.id,
      status: m.status,
      provider: m.sentProvider ?? m.provider,
      from: m.from,
      to: m.to,
      subject: m.subject,
      attempts: m.attempts,
      createdAt: m.createdAt,
      sentAt: m.sentAt,
      dueAt: m.dueAt,
      lastError: m.lastError,
      diagnosis: m.diagnosis,
      deferralReason: m.deferralReason,
    }),
    cc: m.cc,
    bcc: m.bcc,
    messageId: m.messageId,
    deferrals: m.deferrals,
    forced: m.forced,
    userId: m.userId,
    attachments: m.attachments.map((a) => ({ filename: a.filename, size: a.size })),
    attemptLog: attempts.map(attemptEntry),
  };
}

/**
 * Removes the spool folders holding the given attachment paths (deleted messages' copies). Only
 * folders directly inside the spool folder are touched: an attachment stored with its own path
 * outside it is the user's file and stays. A folder already gone is fine.
 */
/** A spooled message's own folder: `<spool>/<uuid>` (see spoolAttachments). */
const SPOOL_FOLDER = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Removes the folders the deleted messages' attachments were copied into. Only such folders: one
 * directly inside the spool folder, or a `spool/<uuid>` folder elsewhere (the copies of messages
 * queued before the spool moved beside the database); never the folder of a file the sender named.
 */
export function removeSpoolFolders(spoolDir: string | undefined, attachmentPaths: readonly string[]): void {
  if (!spoolDir) return;
  const root = path.resolve(spoolDir);
  for (const dir of new Set(attachmentPaths.map((p) => path.dirname(path.resolve(p))))) {
    const parent = path.dirname(dir);
    if (parent === root || (path.basename(parent) === 'spool' && SPOOL_FOLDER.test(path.basename(dir))))
      fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function retentionDays(settings: Settings): number {
  const v = settings.get('history.retentionDays');
  return typeof v === 'number' && v > 0 ? v : DEFAULT_RETENTION_DAYS;
}

/**
 * Deletes sent and failed messages created before `cutoff`, one small transaction at a time, letting
 * the event loop (and other processes waiting for the write lock) in between.
 */
export async function purgeHistory(o: {
  store: Store;
  cutoff: number;
  spoolDir?: string;
  signal?: AbortSignal;
}): Promise<{ deleted: number }> {
  let deleted = 0;
  for (;;) {
    const r = await o.store.history.purgeBatch(o.cutoff);
    deleted += r.deleted;
    removeSpoolFolders(o.spoolDir, r.attachmentPaths);
    if (r.deleted === 0 || o.signal?.aborted) break;
    await yieldToLoop();
  }
  return { deleted };
}

/** What a purge with this cutoff would delete, deleting nothing (spooled attachments stay too). */
export async function purgeDryRun(o: { store: Store; cutoff: number }): Promise<{ ids: number[] }> {
  return { ids: await o.store.history.purgeable(o.cutoff) };
}

export async function applyRetention(o: {
  store: Store;
  settings: Settings;
  now: number;
  spoolDir?: string;
  signal?: AbortSignal;
}): Promise<{ deleted: number }> {
  return purgeHistory({ store: o.store, cutoff: o.now - retentionDays(o.settings) * DAY_MS, spoolDir: o.spoolDir, signal: o.signal });
}
