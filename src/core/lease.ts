/**
 * Leases as the distributor sees them: whether a claimed message may be handed to the provider now
 * (the fence before an email that cannot be taken back), and what the record of a run says about the
 * distributor behind it (still at work, finished, stopped by an error, or gone without a word).
 */

/** The longest one send may take when the provider names no deadline of its own. */
export const DEFAULT_SEND_DEADLINE_MS = 300_000;
/** Lease time kept beyond the send's deadline: the outcome still has to be written after it. */
export const FENCE_MARGIN_MS = 5_000;

/**
 * Lease time a message needs ahead of it before it is handed over. A lease too short to cover a whole
 * send cannot promise that; the run then asks for three fifths of it: the periodic renewal (every third
 * of the lease) keeps about two thirds ahead while the process runs, so a live run still sends without
 * renewing first, and one that was paused renews (or loses the message) before sending.
 */
export function leaseNeededMs(deadlineMs: number | undefined, leaseMs: number): number {
  return Math.min((deadlineMs ?? DEFAULT_SEND_DEADLINE_MS) + FENCE_MARGIN_MS, (leaseMs * 3) / 5);
}

/**
 * send: the lease outlasts the send; renew: renew first, then decide again; drop: the lease is no
 * longer this run's (the database refused its renewal), the message belongs to whoever holds it now;
 * giveBack: the lease is still this run's but could not be made long enough, so the message goes back
 * untried rather than waiting for the lease to run out.
 */
export type FenceDecision = 'send' | 'renew' | 'drop' | 'giveBack';

export interface HeldLease {
  /** When the lease runs out, on the run's elapsed clock (see RunQueueOptions.elapsed). */
  expiresAt: number;
}

/**
 * `lease`: the run's record of its lease on the message, undefined once a renewal was refused;
 * `renewed`: a renewal was already asked for this message's decision.
 */
export function fenceDecision(lease: HeldLease | undefined, now: number, neededMs: number, renewed: boolean): FenceDecision {
  if (!lease) return 'drop';
  if (lease.expiresAt - now >= neededMs) return 'send';
  return renewed ? 'giveBack' : 'renew';
}

// ---- the record of a run --------------------------------------------------------------------------

/** running: at work; finished: ended normally; stopped: ended by an error it recorded; died: gone without ending its run (kill -9, OOM, power). */
export type RunState = 'running' | 'finished' | 'stopped' | 'died';

export interface RunLiveness {
  host: string;
  pid: number;
  endedAt: number | null;
  errorCode: string | null;
  /** Last sign of life (claim, renewal, write), on the database's clock; null for runs recorded before it was kept. */
  heartbeatAt: number | null;
  /** Longest silence of a live run: its lease (and, in --watch, its interval on top). */
  silenceLimitMs: number | null;
}

export interface Observer {
  /** The database's clock now. */
  dbNow: number;
  host: string;
  isPidAlive(pid: number): boolean;
}

/** Why a run is taken for dead, or null when it is not. */
export function deathSign(r: RunLiveness, o: Observer): 'process gone' | 'silent' | null {
  if (r.endedAt !== null) return null;
  if (r.host === o.host) return o.isPidAlive(r.pid) ? null : 'process gone';
  if (r.heartbeatAt !== null && r.silenceLimitMs !== null && o.dbNow - r.heartbeatAt > r.silenceLimitMs) return 'silent';
  return null;
}

export function runState(r: RunLiveness, o: Observer): RunState {
  if (r.endedAt !== null) return r.errorCode ? 'stopped' : 'finished';
  return deathSign(r, o) ? 'died' : 'running';
}
