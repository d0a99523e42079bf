/** The distributor's options and results. */
import type { DkimSigningKey } from '../../core/dkim.js';
import type { Clock } from '../../core/clock.js';
import type { FailureInfo } from '../../core/failure.js';
import type { Settings } from '../../core/precedence.js';
import type { ProviderName } from '../../core/providers.js';
import type { Provider } from '../../providers/types.js';
import type { Store } from '../../store/ports.js';
import type { QueueRepo, RunCounts } from '../../store/queue.js';
import type { FailureClass } from './failure.js';
import type { LaneKind } from './lanes/types.js';

export type ProviderFactory = (name: ProviderName) => Promise<Provider>;

export interface CycleResult extends RunCounts {
  remaining: number;
  /** Where the cycle's writes ran. */
  lane?: LaneKind;
}

export interface Progress {
  done: number;
  total: number;
}

/**
 * Where the queue's writes go: `auto` a worker thread once a cycle has at least `minDue` messages,
 * `on` always a worker thread, `off` always this thread. A thread that cannot start leaves the writes
 * on this thread (onLaneFallback is told).
 */
export type WriteThreadMode = 'auto' | 'on' | 'off';
export const WRITE_THREAD_MODES: readonly WriteThreadMode[] = ['auto', 'on', 'off'];

/**
 * The store the distributor runs on: any store's ports; an SQLite store also gives its file and its
 * synchronous queue, which its inline and thread lanes write through.
 */
export type DistributorStore = Store & { readonly file?: string; readonly queue?: QueueRepo };

export interface RunQueueOptions {
  store: DistributorStore;
  settings: Settings;
  providerFactory: ProviderFactory;
  clock?: Clock;
  /** Unique lease owner of this distributor: see newOwner(). */
  owner: string;
  host: string;
  pid: number;
  /** At most this many messages tried per cycle (undefined = all due). */
  max?: number;
  /** Messages sent in parallel (pooled connections). */
  concurrency: number;
  /** Loop until the signal fires instead of one pass. */
  watch?: boolean;
  intervalSec?: number;
  /** How long a claim is valid without renewal. */
  leaseSec?: number;
  /** Lease bookkeeping's clock (see elapsedClock); the injected `clock` serves due times only. */
  elapsed?: () => number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  onCycle?: (c: CycleResult) => void;
  /** Maps a failed attempt to how it affects the queue; defaults to classifyAttempt. */
  classify?: (failure: FailureInfo, err: unknown) => FailureClass;
  /** Catalogue id of the best-matching known cause, or null. */
  diagnose?: (failure: FailureInfo) => string | null;
  /** Is this process (on this host) alive? Used to take back the leases of dead local distributors at once. */
  isPidAlive?: (pid: number) => boolean;
  /**
   * Writes of a cycle with at least `minDue` messages go through a worker thread with its own
   * connection (`script`: the compiled lanes/worker.js; found next to the lane by default).
   * false: always on this thread. `mode` (default auto) as `queue run --write-thread`.
   */
  /** `script`: the thread lane's worker; `renderScript`: the port lane's render worker (both default to the compiled ones). */
  thread?: { minDue?: number; script?: URL; renderScript?: URL; mode?: WriteThreadMode } | false;
  /** Told when the worker thread could not start and the run goes on without it. */
  onLaneFallback?: (err: unknown) => void;
  /**
   * The DKIM keys the providers sign with (given to providerFactory too): the worker thread signs the
   * SMTP messages it renders ahead with them.
   */
  dkim?: readonly DkimSigningKey[];
  /** Where queued attachments are copied; their folders go when retention deletes a message. */
  spoolDir?: string;
  random?: () => number;
}

export interface RunQueueResult {
  runId: number;
  cycles: number;
  totals: RunCounts;
  remaining: number;
  /** Where the queue's writes ran: this thread, a worker thread (long queues), or the store's ports (PostgreSQL). */
  lane: LaneKind;
  /** Messages sent as the worker thread rendered them (the rest were composed at sending). */
  renderedAhead: number;
  /**
   * Sends that waited before their final dot (or their start) because `concurrency` messages were
   * already past theirs and not yet recorded, and those waits summed over the sends (ms): the time
   * the database's recording cost the sending.
   */
  boundWaits: number;
  boundWaitMs: number;
}

export const DEFAULT_LEASE_SEC = 600;
export const DEFAULT_INTERVAL_SEC = 10;
/** Queues at least this long are drained through a worker thread (RunQueueOptions.thread). */
export const DEFAULT_THREAD_MIN_DUE = 200;
