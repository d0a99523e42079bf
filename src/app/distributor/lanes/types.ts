/**
 * The distributor's path to the queue while it sends: claims and outcomes. Two lanes share one
 * interface. The inline lane (inline.ts) writes through the distributor's own connection. The thread
 * lane (thread.ts) hands the same writes, in order, to a worker thread (worker.ts) with its own
 * connection, so SQLite's work (row rewrites, index updates, WAL writes: about half of what a large run
 * costs besides SMTP itself) runs on another core while the main thread keeps the connections busy.
 * That thread also renders claimed SMTP messages to their bytes ahead; takeRendered hands them over.
 * Both need the SQLite file; on any other store (PostgreSQL) the port lane (port.ts) writes over the
 * store's async ports, and a render thread of its own (render-thread.ts) renders ahead.
 *
 * Writes are queued and applied in the order given; a claim or a renewal runs after every write queued
 * before it. A sent message's record may wait a few milliseconds to share a transaction with others;
 * until then the message is still `sending` under the run's lease, i.e. in flight. The thread lane
 * marks each sent message first (a small transaction, see the store's sent marks): a marked message is
 * never taken back for sending, so from its mark on a pause of the run cannot have it sent twice.
 * `unrecorded` counts the writes not yet recorded or marked: what such a pause could duplicate. Each lane counts the
 * writes the database accepted (takeCounts): a write for a lease that passed to another run changes
 * nothing and counts for nothing.
 */
import type { ProviderName } from '../../../core/providers.js';
import { isProviderName } from '../../../core/providers.js';
import type { RenderedMime } from '../../../providers/types.js';
import type { MessageRow } from '../../../store/messages.js';
import type { ClaimRequest, ClaimResult, QueueWrite, RunCounts } from '../../../store/queue.js';
import type { GovernorClaim } from '../../../store/ports.js';

export type LaneKind = 'inline' | 'thread' | 'port';

/** A claim in plain data, so it can cross to a worker thread. */
export interface ClaimSpec {
  owner: string;
  now: number;
  leaseMs: number;
  max: number;
  deadOwners?: readonly string[];
  /** Provider of messages queued without one. */
  batchProvider: ProviderName;
  /** Per-minute limit of each provider; missing or 0 = none. */
  limits: Partial<Record<ProviderName, number>>;
  /** The send governor's rule and defaults (absent: the per-provider window alone). */
  governor?: GovernorClaim;
  /** Render the claimed SMTP messages to their bytes ahead (the thread lane's worker; the port lane has its render thread). */
  render?: boolean;
}

export interface QueueLane {
  readonly kind: LaneKind;
  /** Queues a write; a failure of an earlier write is thrown here, or by the next claim or settle. */
  write(w: QueueWrite): void;
  claim(spec: ClaimSpec): Promise<ClaimResult>;
  /** Renews `owner`'s leases on `ids` (see QueueRepo.renew); resolves with the ids the database renewed. */
  renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]>;
  /**
   * The message's MIME bytes if they were rendered ahead (thread lane), taken out of the lane; else
   * undefined and the provider composes the message itself.
   */
  takeRendered(id: number): RenderedMime | undefined;
  /** Writes given but not yet known to be in the database (in full, or as a sent mark). */
  unrecorded(): number;
  /** Resolves when every write given so far is in the database, in full or as a sent mark. */
  record(): Promise<void>;
  /**
   * Resolves once fewer writes may be unrecorded: at the database's next answer where writes travel
   * one request at a time (the port lane), else as record(). The distributor waits on it at its at-risk
   * bound.
   */
  recordSome(): Promise<void>;
  /** Resolves when every queued write is in the database. */
  settle(): Promise<void>;
  /** The writes the database accepted since the last call, counted; complete once settle() resolved. */
  takeCounts(): RunCounts;
  close(): Promise<void>;
}

export function providerOf(m: Pick<MessageRow, 'provider'>, batchProvider: ProviderName): ProviderName {
  return isProviderName(m.provider) ? m.provider : batchProvider;
}

export function claimRequest(spec: ClaimSpec): ClaimRequest {
  return {
    owner: spec.owner,
    now: spec.now,
    leaseMs: spec.leaseMs,
    max: spec.max,
    deadOwners: spec.deadOwners,
    providerOf: (m) => providerOf(m, spec.batchProvider),
    limitOf: (p) => spec.limits[p] ?? 0,
    ...(spec.governor ? { governor: spec.governor } : {}),
  };
}
