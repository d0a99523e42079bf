/** What the main thread and the thread lane's worker say to each other, as plain data. */
import { SysemailError } from '../../../core/errors.js';
import { isErrorCode } from '../../../core/error-codes.js';
import type { RenderedMime } from '../../../providers/types.js';
import type { ClaimResult, QueueWrite, RunCounts } from '../../../store/queue.js';
import type { ClaimSpec } from './types.js';

/** Main thread → worker. */
export interface LaneRequest {
  seq: number;
  writes: QueueWrite[];
  claim?: ClaimSpec;
  renew?: { owner: string; ids: readonly number[]; leaseMs: number };
}

export interface LaneErrorData {
  message: string;
  /** SQLite's code (SQLITE_BUSY, ...) or a SysemailError's. */
  code?: string;
  kind?: SysemailError['kind'];
  fix?: string;
}

/**
 * Worker → main thread. `counts`: the writes accepted since the worker's previous answer. Every request is
 * answered, in order, once its writes are in the database.
 */
export type LaneReply =
  | { seq: number; result?: ClaimResult; renewed?: number[]; counts?: RunCounts; error?: LaneErrorData }
  | { rendered: [number, RenderedMime][] }
  | { ready: true }
  | { ready: false; error: LaneErrorData };

export function errorData(err: unknown): LaneErrorData {
  if (err instanceof SysemailError) return { message: err.message, code: err.code, kind: err.kind, fix: err.fix };
  const e = err as { message?: unknown; code?: unknown };
  return { message: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}

/** The error a failed write or claim in the worker stands for on this side. */
export function laneError(d: LaneErrorData): SysemailError {
  if (d.kind) return new SysemailError(d.kind, isErrorCode(d.code) ? d.code : 'INTERNAL', d.message, { fix: d.fix });
  if (d.code === 'SQLITE_BUSY' || d.code === 'SQLITE_LOCKED') {
    return new SysemailError('tempfail', 'DB_BUSY', `the database is locked by another process (${d.message})`, {
      fix: 'Try again in a moment',
    });
  }
  if (d.code?.startsWith('SQLITE_')) {
    return new SysemailError('ioerr', 'DB_WRITE_FAILED', `cannot write the queue to the database (${d.code}: ${d.message})`, {
      fix: 'Check the free disk space and the permissions of the database file and its folder',
    });
  }
  return new SysemailError('internal', 'QUEUE_THREAD_FAILED', `the queue's database thread failed: ${d.message}`, {
    fix: 'Run again with --verbose and report it',
  });
}
