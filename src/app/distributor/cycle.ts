/**
 * One cycle of the distributor: claim due messages, send each through its provider, write what
 * happened, give back what was not sent. The cycle's state is its fields; each step is one method.
 *
 * Sending cannot be undone, so every message passes a fence just before it is handed to the provider:
 * the run's lease on it must outlast the provider's deadline, or be renewed first; a message whose
 * lease the database no longer grants this run (it was paused past the lease and another run took the
 * message) is dropped unsent. Messages between their hand-over and their record in the database are
 * what a pause past the lease can make another run send again: the cycle keeps them few (atRiskCap).
 * With SMTP a message counts from its final dot, not from its first command: until the dot the server
 * has nothing it could deliver, so the bound is awaited there (beforeDot), with the envelope and the
 * body already on their way, and the fence is asked once more.
 */
import type { Clock } from '../../core/clock.js';
import { EXPIRED_FAILURE, EXPIRED_REASON } from '../../core/delivery.js';
import type { SysemailError } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import { fenceDecision, leaseNeededMs, type FenceDecision, type HeldLease } from '../../core/lease.js';
import type { BackoffPolicy } from '../../core/backoff.js';
import type { ProviderName } from '../../core/providers.js';
import type { OutgoingAttachment, OutgoingMessage, Provider } from '../../providers/types.js';
import type { GovernorClaim, MessagesRepo } from '../../store/ports.js';
import type { GovernorGate } from './governor.js';
import { addCounts, zeroCounts, type ClaimedMessage, type QueueRepo } from '../../store/queue.js';
import { failureOf, type FailureClass } from './failure.js';
import type { QueueLane } from './lanes/types.js';
import { decideOutcome, type SendResult } from './outcome.js';
import { toOutgoing } from './outgoing.js';
import type { CycleResult, Progress } from './types.js';

/** What a cycle takes from its run: settings read once, and the state that outlives one cycle. */
export interface CycleContext {
  /** The SQLite lanes' synchronous repository (absent on other stores: the port lane). */
  queue?: QueueRepo;
  /** The queue's port: the run's own reads and its last give-back. */
  messages: MessagesRepo;
  dbId: string;
  owner: string;
  clock: Clock;
  /** Lease bookkeeping's clock (see elapsedClock). */
  elapsed: () => number;
  leaseMs: number;
  concurrency: number;
  /** Messages asked for per claim. */
  claimBatch: number;
  max?: number;
  batchProvider: ProviderName;
  limits: Partial<Record<ProviderName, number>>;
  backoff: BackoffPolicy;
  /** queue.outcomeUnknown. */
  outcomeUnknown?: 'hold' | 'retry';
  random: () => number;
  /** suppression.softExpiryDays, in ms. */
  softSuppressionMs?: number;
  provider(name: ProviderName): Promise<Provider>;
  classify(failure: FailureInfo, err: unknown): FailureClass;
  diagnose?: (failure: FailureInfo) => string | null;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** The send governor: what claims take into account, and the slots and pauses of the sends. */
  governor?: GovernorClaim;
  gate?: GovernorGate;
  /** Shared by every cycle of the run. */
  run: RunState;
}

export interface RunState {
  /** The account-wide error that stops the run. */
  stopping?: SysemailError;
  /** Sends that ran past their deadline in a row, over the whole run. */
  deadlineStreak: number;
  /** Messages sent as the worker thread rendered them. */
  renderedAhead: number;
  /** Sends that waited at the at-risk bound, and their waits summed (ms). */
  boundWaits: number;
  boundWaitMs: number;
}

/** How long a message may wait at its dot for the at-risk bound before it is given back untried. */
const AT_DOT_WAIT_MS = 30_000;

/** `p`, or `ms` passed first (no timer for an infinite wait); without `p`, a sleep of `ms`. */
async function waitAtMost(p: Promise<void> | undefined, ms: number): Promise<void> {
  if (p && !Number.isFinite(ms)) return p;
  let timer: NodeJS.Timeout | undefined;
  const pause = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await (p ? Promise.race([p, pause]) : pause);
  } finally {
    clearTimeout(timer);
  }
}

/** A send whose end the cycle withheld (see handOver): nothing to record. */
const WITHHELD = Symbol('withheld');

export class Cycle {
  /** Claimed and not yet handed over, oldest first. */
  private readonly buffer: ClaimedMessage[] = [];
  /**
   * Every lease this cycle holds (buffered and in flight), with when it runs out on `elapsed`: taken
   * from the moment the claim was asked for, which is never later than the database's own start.
   */
  private readonly leases = new Map<number, HeldLease>();
  /** Messages in a provider's hands right now (with a provider holding the dot: past their beforeDot). */
  private handedOver = 0;
  /** Governor keys a server asked to slow down during this cycle. */
  private readonly paused = new Set<string>();
  /** Messages this cycle may still claim. */
  private budget: number;
  private readonly counts = zeroCounts();
  /** An unexpected error (a failed write, claim or renewal): the cycle ends and throws it. */
  private error: unknown;
  private done = 0;
  private exhausted = false;
  private deadToTake: readonly string[];
  private claiming?: Promise<void>;
  private renewing?: Promise<void>;
  /**
   * Handed over + unrecorded at most: `concurrency`. On the thread lane a sent message is marked sent at
   * once, so only what is on the wire is at risk; the inline lane writes its records at this bound.
   */
  private readonly atRiskCap: number;
  /**
   * The next claim is asked for while this many still wait, so that connections do not wait for it
   * even when the database is busy for a moment (a checkpoint). On the thread lane two claims' worth:
   * the worker renders the newest claim while the older one is sent, and finishes before the sending
   * reaches it, so the main thread composes next to nothing itself.
   */
  private readonly lowWater: number;

  constructor(
    private readonly ctx: CycleContext,
    private readonly lane: QueueLane,
    private readonly total: number,
    deadOwners: readonly string[],
  ) {
    this.budget = ctx.max ?? Number.POSITIVE_INFINITY;
    this.deadToTake = deadOwners;
    this.atRiskCap = ctx.concurrency;
    this.lowWater = lane.kind === 'thread' ? 2 * ctx.claimBatch : ctx.claimBatch;
  }

  /** Sends until nothing is due (or the budget, a stop, an error); resolves with what the database accepted. */
  async run(): Promise<CycleResult> {
    const renewTimer = setInterval(() => void this.renewLeases(), Math.max(1000, this.ctx.leaseMs / 3));
    renewTimer.unref();
    try {
      await Promise.all(Array.from({ length: this.ctx.concurrency }, () => this.sendNext()));
    } finally {
      clearInterval(renewTimer);
      await this.finish();
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what was caught, as it was
    if (this.error !== undefined) throw this.error;
    return { ...this.counts, remaining: await this.ctx.messages.remaining() };
  }

  private stopped(): boolean {
    return !!this.ctx.run.stopping || !!this.ctx.signal?.aborted || this.error !== undefined;
  }

  private canClaim(): boolean {
    return !this.exhausted && !this.stopped() && this.budget > 0;
  }

  private progress(): void {
    this.ctx.onProgress?.({ done: this.done, total: Math.max(this.total, this.done) });
  }

  /** One claim at a time, asked for before the buffer runs dry. */
  claimMore(): Promise<void> {
    return (this.claiming ??= this.claim().finally(() => (this.claiming = undefined)));
  }

  private async claim(): Promise<void> {
    const { ctx } = this;
    try {
      const askedAt = ctx.elapsed();
      const r = await this.lane.claim({
        owner: ctx.owner,
        now: ctx.clock.now(),
        leaseMs: ctx.leaseMs,
        max: Math.min(ctx.claimBatch, this.budget),
        deadOwners: this.deadToTake,
        batchProvider: ctx.batchProvider,
        limits: ctx.limits,
        ...(ctx.governor ? { governor: ctx.governor } : {}),
      });
      this.deadToTake = [];
      this.budget -= r.claimed.length;
      for (const m of r.claimed) {
        // a lease of this run that ran out (the process was paused) and was taken back by this very
        // claim: the message is already buffered or being sent here, so it is held again, not twice
        const held = this.leases.has(m.id);
        this.leases.set(m.id, { expiresAt: askedAt + ctx.leaseMs });
        if (!held) this.buffer.push(m);
      }
      this.counts.deferred += r.throttled.length;
      this.counts.failed += (r.suppressed?.length ?? 0) + (r.expired?.length ?? 0);
      this.done += r.throttled.length + (r.suppressed?.length ?? 0);
      if (r.claimed.length === 0 && r.throttled.length === 0 && !r.suppressed?.length && !r.expired?.length) this.exhausted = true;
      if (r.throttled.length > 0) ctx.onProgress?.({ done: this.done, total: this.total });
    } catch (err) {
      this.error ??= err;
    }
  }

  /**
   * One renewal at a time, for every lease held; the database refuses those no longer this run's, and
   * their messages are dropped: whoever holds them now sends them.
   */
  renewLeases(): Promise<void> {
    return (this.renewing ??= this.renew().finally(() => (this.renewing = undefined)));
  }

  private async renew(): Promise<void> {
    try {
      const ids = [...this.leases.keys()];
      if (ids.length === 0) return;
      const askedAt = this.ctx.elapsed();
      const kept = new Set(await this.lane.renew(this.ctx.owner, ids, this.ctx.leaseMs));
      for (const id of ids) {
        if (!this.leases.has(id)) continue; // finished meanwhile
        if (kept.has(id)) this.leases.set(id, { expiresAt: askedAt + this.ctx.leaseMs });
        else this.leases.delete(id);
      }
      for (let i = this.buffer.length - 1; i >= 0; i--) {
        if (this.leases.has(this.buffer[i].id)) continue;
        this.buffer.splice(i, 1);
        this.done++;
      }
    } catch (err) {
      this.error ??= err;
    }
  }

  /** The fence: may `m` go to a provider whose sends take up to `deadlineMs`? Renews first when needed. */
  async fence(m: ClaimedMessage, deadlineMs: number | undefined): Promise<FenceDecision> {
    const { ctx } = this;
    const needed = leaseNeededMs(deadlineMs, ctx.leaseMs);
    let d = fenceDecision(this.leases.get(m.id), ctx.elapsed(), needed, false);
    if (d === 'renew') {
      await this.renewLeases();
      d = fenceDecision(this.leases.get(m.id), ctx.elapsed(), needed, true);
    }
    if (d === 'giveBack') this.giveBack(m, 'the lease could not be renewed in time to send');
    return d;
  }

  /** One connection's loop: the next buffered message, claiming more while a claim's worth still waits. */
  private async sendNext(): Promise<void> {
    for (;;) {
      if (this.stopped()) return;
      if (this.buffer.length <= this.lowWater && this.canClaim()) {
        const next = this.claimMore();
        if (this.buffer.length === 0) await next;
      }
      if (this.stopped()) return;
      const m = this.buffer.shift();
      if (!m) {
        if (!this.canClaim()) return;
        continue;
      }
      try {
        await this.sendOne(m);
      } catch (err) {
        this.error ??= err;
      } finally {
        this.leases.delete(m.id);
        this.done++;
        this.progress();
      }
    }
  }

  /** Sends `m` (unless the fence says otherwise) and writes what happened. */
  async sendOne(m: ClaimedMessage): Promise<void> {
    const startedAt = this.ctx.clock.now();
    let provider: Provider;
    try {
      provider = await this.ctx.provider(m.via);
    } catch (err) {
      return this.record(m, startedAt, this.failed(m, err));
    }
    // a provider holding the dot waits there instead, with the message's commands already under way
    if (!provider.holdsDot) await this.belowAtRiskCap();
    const outgoing = toOutgoing(m, this.ctx.dbId);
    if (outgoing.attachments.length > 0) outgoing.attachments = await this.storedAttachments(m, outgoing.attachments);
    const gate = this.ctx.gate;
    if (gate && !(await this.governed(m, gate, provider, outgoing))) return;
    try {
      if ((await this.fence(m, provider.deadlineMs)) !== 'send') return;
      // the last moment before the irreversible step: a message past its expiry is never sent late
      if (m.expiresAt !== null && this.ctx.clock.now() >= m.expiresAt) return this.expire(m, startedAt);
      const result = await this.handOver(m, outgoing, provider, startedAt);
      if (result === WITHHELD) return;
      if (gate && 'failure' in result) {
        const pauseSec = await gate.slowDown(m, result.failure);
        if (pauseSec !== null) {
          result.pauseSec = pauseSec;
          this.paused.add(m.governorKey!);
        }
      }
      this.record(m, startedAt, result);
    } finally {
      if (gate) await gate.leave(m);
    }
  }

  /**
   * The governor's turn before the fence: a message of a key paused during this cycle goes back (the
   * next claim defers it to the pause's end); one whose key limits concurrent sends waits for a slot
   * and goes over a connection of its own. False: it was given back.
   */
  private async governed(m: ClaimedMessage, gate: GovernorGate, provider: Provider, outgoing: OutgoingMessage): Promise<boolean> {
    const { ctx } = this;
    const giveBack = (reason: string) => {
      this.leases.delete(m.id);
      this.lane.write({
        op: 'giveBack',
        owner: ctx.owner,
        ids: [m.id],
        attempts: [m.attempts],
        opts: { now: ctx.clock.now(), uncount: true, reason },
      });
      return false;
    };
    if (m.governorKey && this.paused.has(m.governorKey)) return giveBack(`paused: ${m.governorKey} asked to slow down`);
    if (!m.slotLimit) return true;
    const slotLeaseMs = (provider.deadlineMs ?? ctx.leaseMs) + 30_000;
    if (!(await gate.enter(m, slotLeaseMs, () => this.stopped()))) return giveBack('distributor stopped before sending');
    if (m.via === 'smtp') outgoing.ownConnection = true;
    return true;
  }

  /**
   * The attachments with their bytes from the database when the store keeps them (PostgreSQL: the
   * message may have been queued on another host); on SQLite the provider reads each spooled path.
   */
  private async storedAttachments(m: ClaimedMessage, attachments: OutgoingAttachment[]): Promise<OutgoingAttachment[]> {
    const { messages } = this.ctx;
    if (attachments.length === 0 || !messages.attachmentContents) return attachments;
    const stored = new Map((await messages.attachmentContents(m.id)).map((a) => [a.position, a.content]));
    return attachments.map((a, i) => {
      const content = stored.get(i);
      if (!content) return a;
      const { path: _spooled, ...rest } = a;
      return { ...rest, content };
    });
  }

  /** As many messages handed over or unrecorded as the at-risk bound allows. */
  private atCap(): boolean {
    return this.handedOver + this.lane.unrecorded() >= this.atRiskCap;
  }

  /**
   * Until fewer than atRiskCap messages are handed over or unrecorded (a failed write is the run's
   * error, thrown here); false when `withinMs` passed first. A send that had to wait is counted in
   * the run's boundWaits, with its wait.
   */
  private async belowAtRiskCap(withinMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (!this.atCap()) return true;
    const started = Date.now();
    const until = started + withinMs;
    try {
      while (this.atCap()) {
        const left = until - Date.now();
        if (left <= 0) return false;
        // nothing to record: only sends in hand, whose ends free the way (a short sleep, never a busy wait)
        if (this.lane.unrecorded() === 0) await waitAtMost(undefined, Math.min(left, 5));
        else await waitAtMost(this.lane.recordSome(), left);
      }
      return true;
    } finally {
      this.ctx.run.boundWaits++;
      this.ctx.run.boundWaitMs += Date.now() - started;
    }
  }

  /** Gives `m` back untried (uncounted), its lease dropped. */
  private giveBack(m: ClaimedMessage, reason: string): void {
    this.leases.delete(m.id);
    this.lane.write({
      op: 'giveBack',
      owner: this.ctx.owner,
      ids: [m.id],
      attempts: [m.attempts],
      opts: { now: this.ctx.clock.now(), uncount: true, reason },
    });
  }

  /**
   * Hands `m` over. It counts as handed over from there, or, with a provider that holds the dot, from
   * its beforeDot: the at-risk bound is awaited there (AT_DOT_WAIT_MS at most: a database too slow to
   * record gives the message back untried instead of failing its SMTP session), then the fence and the
   * expiry are asked again (the wait may have outlasted the lease, in a pause), so a message whose
   * lease passed to another run, or that expired, is never completed. A failed write, the fence or
   * the expiry saying no withholds the dot, and the send is not recorded (WITHHELD): the message is
   * still this run's lease, given back, failed as expired, or already another run's.
   */
  private async handOver(
    m: ClaimedMessage,
    outgoing: OutgoingMessage,
    provider: Provider,
    startedAt: number,
  ): Promise<SendResult | typeof WITHHELD> {
    let counted = false;
    // the send has ended (failed before its dot, or the deadline): a late beforeDot counts nothing
    let settled = false;
    let withheld = false;
    const withhold = (err: unknown): never => {
      withheld = true;
      throw err;
    };
    if (provider.holdsDot) {
      outgoing.beforeDot = async () => {
        let below: boolean;
        try {
          below = await this.belowAtRiskCap(AT_DOT_WAIT_MS);
        } catch (err) {
          this.error ??= err;
          return withhold(err);
        }
        if (settled) return withhold(new Error('the send had already ended'));
        if (!below) {
          this.giveBack(m, 'the database took too long to record the messages before it');
          return withhold(new Error('the database took too long to record the messages before it'));
        }
        // counted at once: the other sends woken by the same answer see it
        this.handedOver++;
        counted = true;
        let d: FenceDecision;
        try {
          d = await this.fence(m, provider.deadlineMs);
        } catch (err) {
          this.error ??= err;
          return withhold(err);
        }
        if (d !== 'send') return withhold(new Error('the lease could not be kept until the end of the message'));
        if (m.expiresAt !== null && this.ctx.clock.now() >= m.expiresAt) {
          this.expire(m, startedAt);
          return withhold(new Error('the message expired before its end'));
        }
      };
    } else {
      this.handedOver++;
      counted = true;
    }
    try {
      const rendered = this.lane.takeRendered(m.id);
      if (rendered) {
        outgoing.rendered = rendered;
        this.ctx.run.renderedAhead++;
      }
      const r = await provider.send(outgoing);
      return { sent: { messageId: r.messageId ?? outgoing.messageId, response: r.response, refused: r.refused } };
    } catch (err) {
      if (withheld) return WITHHELD;
      return this.failed(m, err);
    } finally {
      settled = true;
      if (counted) this.handedOver--;
    }
  }

  private failed(m: ClaimedMessage, error: unknown): SendResult {
    const failure = failureOf(error, m.via);
    return { failure, classification: this.ctx.classify(failure, error), diagnosis: this.ctx.diagnose?.(failure) ?? null, error };
  }

  /** Fails `m` as expired, unsent. */
  private expire(m: ClaimedMessage, startedAt: number): void {
    const now = this.ctx.clock.now();
    this.lane.write({
      op: 'failed',
      id: m.id,
      owner: this.ctx.owner,
      attempt: m.attempts,
      outcome: { now, startedAt, provider: m.via, failure: { ...EXPIRED_FAILURE }, diagnosis: null, reason: EXPIRED_REASON },
    });
  }

  /** Writes the outcome (a failed write is the run's error, not this message's). */
  private record(m: ClaimedMessage, startedAt: number, result: SendResult): void {
    const { ctx } = this;
    const d = decideOutcome({
      message: m,
      owner: ctx.owner,
      startedAt,
      now: ctx.clock.now(),
      result,
      policy: {
        backoff: ctx.backoff,
        random: ctx.random,
        deadlineStreak: ctx.run.deadlineStreak,
        concurrency: ctx.concurrency,
        outcomeUnknown: ctx.outcomeUnknown,
        softSuppressionMs: ctx.softSuppressionMs,
      },
      stopping: ctx.run.stopping,
    });
    ctx.run.deadlineStreak = d.deadlineStreak;
    if (d.stop) ctx.run.stopping = d.stop;
    this.lane.write(d.write);
  }

  /** Gives back what was claimed and not sent (shutdown, account failure, or an unexpected error), uncounted. */
  private async finish(): Promise<void> {
    // a claim still under way lands in the buffer first, so that it is given back with the rest
    await this.claiming;
    await this.renewing;
    const held = this.buffer.splice(0);
    const left = held.map((m) => m.id);
    this.leases.clear();
    try {
      if (left.length > 0) {
        const stopping = this.ctx.run.stopping;
        const reason = stopping ? `run stopped: ${stopping.message}` : 'distributor stopped before sending';
        this.lane.write({
          op: 'giveBack',
          owner: this.ctx.owner,
          ids: left,
          attempts: held.map((m) => m.attempts),
          opts: { now: this.ctx.clock.now(), uncount: true, reason },
        });
      }
      await this.lane.settle();
    } catch (err) {
      this.error ??= err;
    }
    addCounts(this.counts, this.lane.takeCounts());
  }
}
