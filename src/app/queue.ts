/**
 * The operator's view of the queue: counts, the distributor's last run, the list, and hold / release /
 * retry / delete, by id or by filter. Every listed id is checked first; one that does not exist or is
 * in the wrong state changes nothing.
 */
import { parseDuration } from '../core/duration.js';
import { priorityOfRank, type Priority } from '../core/delivery.js';
import { SysemailError } from '../core/errors.js';
import { deathSign, runState, type Observer, type RunState } from '../core/lease.js';
import { parseMailbox } from '../core/message.js';
import type { Store } from '../store/ports.js';
import { MESSAGE_STATUSES, type MessageStatus } from '../core/status.js';
import type { BackendInfo, BulkResult, OperatorAction, OperatorSelection, RunRow, StatusCounts } from '../store/ports.js';
import { OPERATOR_RULES } from '../store/rules.js';
import { lastErrorOf, removeSpoolFolders, type HistoryEntry } from './history.js';
import type { HostView } from './hosts.js';
import { LINE_BREAK_OR_NUL, quoted } from '../core/text.js';

export interface RunView {
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
  /** running, finished, stopped (by the error above) or died (killed, out of memory, power lost: it never ended its run). */
  state: RunState;
  /** Why it is taken for dead: its process on this host is gone, or it gave no sign of life for longer than its lease. */
  diedBecause: 'process gone' | 'silent' | null;
  /** Its last claim, renewal or write. */
  lastSeenAt: string | null;
  /** Messages still in sending under its leases. */
  leasedMessages: number;
  /** When the last of those leases runs out: the next `queue run` after that takes them back (on the same host it does so at once once the process is gone). */
  leasesExpireAt: string | null;
}

export interface QueueStatus {
  /** Which database holds the queue: backend, engine version, file or masked URL. */
  database: BackendInfo;
  counts: StatusCounts;
  oldestDueAgeSec: number | null;
  lastRun: RunView | null;
  /** Per host sharing the database: its last run and the leases it holds now. */
  hosts: HostView[];
}

/** Who looks at a run: this host, and whether a process of it is alive. */
export type RunObserver = Omit<Observer, 'dbNow'>;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A run as `queue status` and `diagnose` show it: its counts, and whether it is alive, done or dead. */
export async function runView(store: Store, r: RunRow | null, who: RunObserver): Promise<RunView | null> {
  if (!r) return null;
  // a live run is heard from at every claim and renewal (a third of its lease); in --watch it also
  // sleeps up to its interval between cycles
  const live = { ...r, silenceLimitMs: r.leaseMs === null ? null : r.leaseMs + (r.intervalMs ?? 0) };
  const observer = { ...who, dbNow: await store.messages.dbNow() };
  const held = await store.messages.heldBy(r.owner);
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
    state: runState(live, observer),
    diedBecause: deathSign(live, observer),
    lastSeenAt: iso(r.heartbeatAt),
    leasedMessages: held.count,
    leasesExpireAt: iso(held.lastExpiresAt),
  };
}

export async function queueStatus(store: Store, now: number, who: RunObserver): Promise<QueueStatus> {
  return {
    database: await store.describe(),
    counts: await store.messages.counts(),
    oldestDueAgeSec: await store.messages.oldestDueAgeSec(now),
    lastRun: await runView(store, await store.runs.lastRun(), who),
    hosts: await (await import('./hosts.js')).hostViews(store, who),
  };
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
  /** Failed as expired when still unsent then; null = never. */
  expiresAt: string | null;
  priority: Priority;
  idempotencyKey: string | null;
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
  return (await store.messages.list(opts)).map((m) => ({
    id: m.id,
    status: m.status,
    from: m.from,
    to: m.to,
    subject: m.subject,
    attempts: m.attempts,
    deferrals: m.deferrals,
    createdAt: new Date(m.createdAt).toISOString(),
    dueAt: new Date(m.dueAt).toISOString(),
    expiresAt: m.expiresAt === null ? null : new Date(m.expiresAt).toISOString(),
    priority: priorityOfRank(m.priority),
    idempotencyKey: m.idempotencyKey,
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

export type QueueAction = OperatorAction;

const ALLOWED: Record<QueueAction, string> = {
  hold: 'only pending or deferred messages can be held',
  release: 'only held messages can be released',
  retry: 'only failed or deferred messages can be retried',
  delete: 'a message being sent cannot be deleted; stop the distributor or wait for it',
};

const BEING_SENT = 'being sent by a distributor; it is left as it is';

/** What the operator selected: listed ids, or filters that must all match. */
export type MessageSelection = { ids: number[] } | { filter: { status?: MessageStatus; olderThanMs?: number; to?: string } };

/** The selection flags as given on the command line. */
export interface SelectionFlags {
  status?: string;
  olderThan?: string;
  to?: string;
  all?: boolean;
  /** `queue retry --failed`: the same as --status failed. */
  failed?: boolean;
}

/**
 * Works out what the operator selected, refusing before anything is opened or changed: ids mixed with
 * filters, neither given, a status the action never changes, a malformed duration or address.
 */
export function parseSelection(action: QueueAction, words: readonly string[], flags: SelectionFlags): MessageSelection {
  const given = [
    flags.status !== undefined && '--status',
    flags.olderThan !== undefined && '--older-than',
    flags.to !== undefined && '--to',
    flags.all && '--all',
    flags.failed && '--failed',
  ].filter((f): f is string => typeof f === 'string');
  const example =
    action === 'retry'
      ? 'sysemail queue retry 12 13, or sysemail queue retry --failed'
      : `sysemail queue ${action} 12 13, or sysemail queue ${action} --status deferred --older-than 2d`;
  if (words.length > 0 && given.length > 0) {
    throw new SysemailError('usage', 'SELECTION_MIXED', `give either message ids or filters (${given.join(', ')}), not both`, {
      fix: `Example: ${example}`,
    });
  }
  if (words.length > 0) return { ids: parseIds(words) };
  if (given.length === 0) {
    throw new SysemailError(
      'usage',
      'SELECTION_MISSING',
      `queue ${action} needs message ids or a filter: --status S, --older-than DURATION, --to ADDR, or --all for every message it applies to`,
      {
        fix: `Example: ${example}`,
      },
    );
  }
  if (flags.failed && flags.status !== undefined && flags.status.toLowerCase() !== 'failed') {
    throw new SysemailError(
      'usage',
      'SELECTION_MIXED',
      `--failed means --status failed; it cannot be given with --status ${flags.status}`,
      { fix: 'Give one of them' },
    );
  }
  const status = flags.failed ? 'failed' : parseStatus(flags.status);
  const { targets } = OPERATOR_RULES[action];
  if (status !== undefined && status !== 'sending' && !targets.includes(status)) {
    throw new SysemailError(
      'usage',
      'STATUS_NOT_APPLICABLE',
      `queue ${action} does not change ${status} messages: it applies to ${targets.join(', ')} ones`,
      {
        fix: `Use --status ${targets.join(' or --status ')}, or leave --status out`,
      },
    );
  }
  const olderThanMs = flags.olderThan === undefined ? undefined : parseDuration(flags.olderThan, '--older-than');
  let to: string | undefined;
  if (flags.to !== undefined) {
    const m = parseMailbox(flags.to);
    if (!m || LINE_BREAK_OR_NUL.test(flags.to)) {
      throw new SysemailError('data', 'ADDRESS_INVALID', `--to ${quoted(flags.to)} is not an email address`, {
        fix: 'Give the recipient as user@example.com',
      });
    }
    to = m.address;
  }
  return { filter: { ...(status ? { status } : {}), ...(olderThanMs !== undefined ? { olderThanMs } : {}), ...(to ? { to } : {}) } };
}

export interface RefusedMessage {
  id: number;
  status: MessageStatus;
  reason: string;
}

export interface ChangeResult {
  action: QueueAction;
  changed: number[];
  refused: RefusedMessage[];
  dryRun: boolean;
}

function check(action: QueueAction, r: BulkResult): void {
  if (r.missing.length > 0) {
    throw new SysemailError('data', 'MESSAGE_NOT_FOUND', `no message with id ${r.missing.join(', ')}`, {
      fix: 'Nothing was changed; list the ids with `sysemail queue list` or `sysemail history`',
      data: { missing: r.missing },
    });
  }
  if (r.refused.length > 0) {
    throw new SysemailError(
      'data',
      'MESSAGE_WRONG_STATUS',
      `cannot ${action} ${r.refused.map((x) => `${x.id} (${x.status})`).join(', ')}: ${ALLOWED[action]}`,
      {
        fix: 'Nothing was changed; leave those ids out',
        data: { refused: r.refused },
      },
    );
  }
}

/**
 * Applies an operator action. Listed ids change all together or not at all (65 naming the missing or
 * refused ones). A filter changes what it matches, except messages being sent, which are reported as
 * refused. A dry run reports the same and changes nothing.
 */
export async function changeMessages(
  store: Store,
  action: QueueAction,
  selection: MessageSelection,
  o: { now: number; dryRun?: boolean; spoolDir?: string },
): Promise<ChangeResult> {
  const dryRun = !!o.dryRun;
  const storeSelection: OperatorSelection =
    'ids' in selection
      ? { ids: selection.ids }
      : {
          filter: {
            status: selection.filter.status,
            createdBefore: selection.filter.olderThanMs === undefined ? undefined : o.now - selection.filter.olderThanMs,
            recipient: selection.filter.to,
          },
        };
  const r = await store.operator.change(action, storeSelection, { now: o.now, dryRun });
  if ('ids' in selection) check(action, r);
  if (!dryRun) removeSpoolFolders(o.spoolDir, r.attachmentPaths);
  return {
    action,
    changed: r.changed,
    refused: r.refused.map((x) => ({ ...x, reason: x.status === 'sending' ? BEING_SENT : ALLOWED[action] })),
    dryRun,
  };
}
