/**
 * The operator's view of the queue: counts, the distributor's last run, the list, and hold / release /
 * retry / delete. Every listed id is checked first; one that does not exist or is in the wrong state
 * changes nothing.
 */
import { SysemailError } from '../core/errors.js';
import type { Store } from '../store/index.js';
import type { MessageStatus } from '../store/messages.js';
import { MESSAGE_STATUSES, type BulkResult, type RunRow, type StatusCounts } from '../store/queue.js';
import { lastErrorOf, removeSpoolFolders, type HistoryEntry } from './history.js';
import { quoted } from '../core/text.js';

export interface QueueStatus {
  counts: StatusCounts;
  oldestDueAgeSec: number | null;
  lastRun: {
    id: number;
    startedAt: string;
    endedAt: string | null;
    host: string;
    pid: number;
    owner: string;
    sent: number;
    deferred: number;
    failed: number;
    forced: number;
    error: { code: string; message: string | null } | null;
  } | null;
}

function runView(r: RunRow | null): QueueStatus['lastRun'] {
  if (!r) return null;
  return {
    id: r.id,
    startedAt: new Date(r.startedAt).toISOString(),
    endedAt: r.endedAt === null ? null : new Date(r.endedAt).toISOString(),
    host: r.host,
    pid: r.pid,
    owner: r.owner,
    sent: r.sent,
    deferred: r.deferred,
    failed: r.failed,
    forced: r.forced,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage } : null,
  };
}

export async function queueStatus(store: Store, now: number): Promise<QueueStatus> {
  return { counts: store.queue.counts(), oldestDueAgeSec: store.queue.oldestDueAgeSec(now), lastRun: runView(store.queue.lastRun()) };
}

export interface QueueListEntry {
  id: number;
  status: MessageStatus;
  from: string;
  to: string[];
  subject: string;
  attempts: number;
  deferrals: number;
  createdAt: string;
  dueAt: string;
  reason: string | null;
  lastError: HistoryEntry['lastError'];
  diagnosis: string | null;
}

export function parseStatus(s: string | undefined): MessageStatus | undefined {
  if (s === undefined) return undefined;
  const v = s.toLowerCase() as MessageStatus;
  if (!MESSAGE_STATUSES.includes(v)) {
    throw new SysemailError('usage', 'STATUS_INVALID', `unknown status ${quoted(s)}`, { fix: `Use one of ${MESSAGE_STATUSES.join(', ')}` });
  }
  return v;
}

export async function listQueue(store: Store, opts: { status?: MessageStatus; limit: number }): Promise<QueueListEntry[]> {
  return store.queue.list(opts).map((m) => ({
    id: m.id,
    status: m.status,
    from: m.from,
    to: m.to,
    subject: m.subject,
    attempts: m.attempts,
    deferrals: m.deferrals,
    createdAt: new Date(m.createdAt).toISOString(),
    dueAt: new Date(m.dueAt).toISOString(),
    reason: m.deferralReason,
    lastError: lastErrorOf(m.lastError),
    diagnosis: m.diagnosis,
  }));
}

/** Message ids from the command line: whole positive numbers, no repeats. */
export function parseIds(words: readonly string[]): number[] {
  const bad = words.filter((w) => !/^[1-9]\d{0,15}$/.test(w));
  if (bad.length > 0) {
    throw new SysemailError('usage', 'ID_INVALID', `message ids are whole numbers (got ${bad.map((b) => quoted(b)).join(', ')})`, {
      fix: 'List the ids with `sysemail queue list`',
    });
  }
  return [...new Set(words.map(Number))];
}

export type QueueAction = 'hold' | 'release' | 'retry' | 'delete';

const ALLOWED: Record<QueueAction, string> = {
  hold: 'only pending or deferred messages can be held',
  release: 'only held messages can be released',
  retry: 'only failed or deferred messages can be retried',
  delete: 'a message being sent cannot be deleted; stop the distributor or wait for it',
};

function check(action: QueueAction, r: BulkResult): number[] {
  if (r.missing.length > 0) {
    throw new SysemailError('data', 'MESSAGE_NOT_FOUND', `no message with id ${r.missing.join(', ')}`, {
      fix: 'Nothing was changed; list the ids with `sysemail queue list` or `sysemail history`',
      data: { missing: r.missing },
    });
  }
  if (r.refused.length > 0) {
    throw new SysemailError('data', 'MESSAGE_WRONG_STATUS', `cannot ${action} ${r.refused.map((x) => `${x.id} (${x.status})`).join(', ')}: ${ALLOWED[action]}`, {
      fix: 'Nothing was changed; leave those ids out',
      data: { refused: r.refused },
    });
  }
  return r.changed;
}

export async function changeMessages(
  store: Store,
  action: QueueAction,
  ids: readonly number[] | 'failed',
  o: { now: number; spoolDir?: string },
): Promise<{ action: QueueAction; ids: number[] }> {
  const list = ids === 'failed' ? store.queue.failedIds() : ids;
  if (list.length === 0) return { action, ids: [] };
  switch (action) {
    case 'hold':
      return { action, ids: check(action, store.queue.hold(list, o.now)) };
    case 'release':
      return { action, ids: check(action, store.queue.release(list, o.now)) };
    case 'retry':
      return { action, ids: check(action, store.queue.retry(list, o.now)) };
    case 'delete': {
      const r = store.queue.delete(list);
      const changed = check(action, r);
      removeSpoolFolders(o.spoolDir, r.attachmentPaths);
      return { action, ids: changed };
    }
  }
}
