/**
 * The distributor batch: takes due messages from the queue under a lease and sends them, honouring
 * the throttle window, retrying temporary refusals with backoff and giving up on permanent ones.
 * A failure of the whole account (sign-in refused, Send As denied, secret or configuration missing)
 * stops the run and gives every claimed message back untouched: a wrong password must not burn the
 * queue.
 *
 * Sending cannot be undone, so every message passes a fence just before it is handed to the provider:
 * the run's lease on it must outlast the provider's deadline, or be renewed first; a message whose
 * lease the database no longer grants this run (it was paused past the lease and another run took the
 * message) is dropped unsent. The counts it reports are the writes the database accepted.
 */
import { messageIdDomain } from '../core/address.js';
import { retryDecision, type BackoffPolicy } from '../core/backoff.js';
import { DEADLINE_GRAPH, DEADLINE_SMTP, classifyFailure } from '../core/classify.js';
import { SysemailError, isSysemailError, type ErrorKind } from '../core/errors.js';
import type { FailureInfo, ProviderName } from '../core/failure.js';
import type { Settings } from '../core/precedence.js';
import { fenceDecision, leaseNeededMs, type FenceDecision, type HeldLease } from '../core/lease.js';
import { perMinuteLimit } from '../core/throttle.js';
import type { OutgoingMessage, Provider } from '../providers/types.js';
import type { Store } from '../store/index.js';
import type { MessageRow } from '../store/messages.js';
import { addCounts, zeroCounts, type ClaimedMessage, type RunCounts } from '../store/queue.js';
import { InlineLane, ThreadLane, type QueueLane } from './queue-lane.js';
import { applyRetention } from './history.js';

export interface Clock {
  now(): number;
  /** Waits, returning early when the signal fires. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * Milliseconds since it was made, for lease bookkeeping: the larger of a monotonic clock (blind to the
 * wall clock being set) and the wall clock (the monotonic one stops while the machine is suspended), so
 * a frozen process and a suspended machine both count the time as gone. Never goes back.
 */
export function elapsedClock(monotonic: () => number = () => performance.now(), wall: () => number = () => Date.now()): () => number {
  const m0 = monotonic();
  const w0 = wall();
  let last = 0;
  return () => {
    last = Math.max(last, monotonic() - m0, wall() - w0);
    return last;
  };
}

/** How a failure affects the queue: retry this message, fail it, or stop the whole run. */
export interface FailureClass {
  kind: ErrorKind;
  scope: 'message' | 'account';
}

export type ProviderFactory = (name: ProviderName) => Promise<Provider>;

export interface CycleResult extends RunCounts {
  remaining: number;
}

export interface Progress {
  done: number;
  total: number;
}

export interface RunQueueOptions {
  store: Store;
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
   * connection (`script`: the compiled queue-worker.js; found next to this module by default).
   * false: always on this thread.
   */
  thread?: { minDue?: number; script?: URL } | false;
  /** Told when the worker thread could not start and the run goes on without it. */
  onLaneFallback?: (err: unknown) => void;
  /** Where queued attachments are copied; their folders go when retention deletes a message. */
  spoolDir?: string;
  random?: () => number;
}

export interface RunQueueResult {
  runId: number;
  cycles: number;
  totals: RunCounts;
  remaining: number;
  /** Where the queue's writes ran: this thread, or a worker thread (long queues). */
  lane: 'inline' | 'thread';
  /** Messages sent as the worker thread rendered them (the rest were composed at sending). */
  renderedAhead: number;
}

export const DEFAULT_LEASE_SEC = 600;
export const DEFAULT_INTERVAL_SEC = 10;
/** Queues at least this long are drained through a worker thread (RunQueueOptions.thread). */
export const DEFAULT_THREAD_MIN_DUE = 200;
/** Retention runs after every one-pass run, and at most this often in --watch. */
const WATCH_RETENTION_EVERY_MS = 10 * 60_000;

/** host:pid:random — unique per process, and tells a later run on the same host whether it died. */
export function newOwner(host: string, pid: number, random: string): string {
  return `${host}:${pid}:${random}`;
}

/** Lease owners that are distributors of this host whose process is gone. */
export function deadLocalOwners(owners: readonly string[], host: string, isPidAlive: (pid: number) => boolean): string[] {
  return owners.filter((o) => {
    const m = /^(.*):(\d+):[^:]+$/.exec(o);
    return !!m && m[1] === host && !isPidAlive(Number(m[2]));
  });
}

/**
 * The provider already classified its own errors (kind, and scope in data); anything else goes through
 * the shared classifier.
 */
export function classifyAttempt(failure: FailureInfo, err: unknown): FailureClass {
  if (isSysemailError(err)) {
    const scope = (err.data as { scope?: unknown } | undefined)?.scope;
    if (scope === 'account' || scope === 'message') return { kind: err.kind, scope };
  }
  const c = classifyFailure(failure);
  return { kind: c.kind, scope: c.scope };
}

export function failureOf(err: unknown, provider: ProviderName): FailureInfo {
  if (isSysemailError(err) && err.data && typeof err.data === 'object') {
    const { scope: _scope, ...info } = err.data as FailureInfo & { scope?: unknown };
    return { provider, ...info, response: info.response ?? err.message };
  }
  const e = err as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown };
  return {
    provider,
    code: typeof e?.code === 'string' ? e.code : undefined,
    responseCode: typeof e?.responseCode === 'number' ? e.responseCode : undefined,
    response: typeof e?.response === 'string' ? e.response : typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** Deterministic, so that every retry of a message carries the same Message-ID. */
export function queuedMessageId(m: Pick<MessageRow, 'id' | 'createdAt' | 'from'>, dbId: string): string {
  return `<${m.createdAt.toString(36)}.${m.id}.${dbId.slice(0, 12)}@${messageIdDomain(m.from)}>`;
}

export function toOutgoing(m: MessageRow, dbId: string): OutgoingMessage {
  return {
    from: m.from,
    to: m.to,
    cc: m.cc,
    bcc: m.bcc,
    replyTo: m.replyTo ?? undefined,
    subject: m.subject,
    text: m.text ?? undefined,
    html: m.html ?? undefined,
    attachments: m.attachments.map((a) => ({ filename: a.filename, path: a.path, contentType: a.contentType, size: a.size })),
    messageId: m.messageId ?? queuedMessageId(m, dbId),
    headers: m.headers ?? undefined,
  };
}

function backoffPolicy(settings: Settings): BackoffPolicy {
  return {
    minBackoffSec: settings.number('queue.minBackoffSec'),
    maxBackoffSec: settings.number('queue.maxBackoffSec'),
    maxLifetimeHours: settings.number('queue.maxLifetimeHours'),
  };
}

/**
 * Runs the distributor: one pass (cron), or cycles until `signal` fires (--watch). Throws the
 * account-wide error that stopped it, after recording the run and giving the messages back.
 */
export async function runQueue(o: RunQueueOptions): Promise<RunQueueResult> {
  const clock = o.clock ?? systemClock;
  const { store, settings } = o;
  const queue = store.queue;
  const classify = o.classify ?? classifyAttempt;
  const random = o.random ?? Math.random;
  const leaseMs = (o.leaseSec ?? DEFAULT_LEASE_SEC) * 1000;
  const concurrency = Math.max(1, o.concurrency);
  // a few messages per connection per claim: fewer write transactions, and a short buffer to give back on stop
  const claimBatch = Math.min(concurrency * 8, 256);
  // the next claim is asked for while a whole claim's worth is still waiting, so that connections do
  // not wait for it even when the database is busy for a moment (a checkpoint)
  const lowWater = claimBatch;
  const batchProvider = (settings.string('batch.provider') ?? 'smtp') as ProviderName;
  const limits: Partial<Record<ProviderName, number>> = {};
  for (const p of ['smtp', 'exchange', 'eml'] as const) limits[p] = perMinuteLimit(settings, p);
  const policy = backoffPolicy(settings);
  const providers = new Map<ProviderName, Promise<Provider>>();
  const elapsed = o.elapsed ?? elapsedClock();
  const totals = zeroCounts();
  const intervalMs = (o.intervalSec ?? DEFAULT_INTERVAL_SEC) * 1000;
  const runId = queue.startRun({ owner: o.owner, host: o.host, pid: o.pid, now: clock.now(), leaseMs, intervalMs: o.watch ? intervalMs : null });
  let cycles = 0;
  let accountError: SysemailError | undefined;
  let lastRetention = 0;
  let lane: QueueLane | undefined;
  let renderedAhead = 0;
  /** Sends that ran past their deadline in a row, over the whole run. */
  let deadlineStreak = 0;

  const getProvider = (name: ProviderName): Promise<Provider> => {
    let p = providers.get(name);
    if (!p) {
      p = o.providerFactory(name);
      providers.set(name, p);
    }
    return p;
  };

  /** The lane for a cycle with `due` messages: a worker thread once the queue is long enough to repay starting one. */
  async function laneFor(due: number): Promise<QueueLane> {
    if (lane) return lane;
    const t = o.thread === undefined ? { minDue: DEFAULT_THREAD_MIN_DUE } : o.thread;
    const script = t && (t.script ?? ThreadLane.defaultScript());
    if (t && script && due >= (t.minDue ?? DEFAULT_THREAD_MIN_DUE)) {
      try {
        lane = await ThreadLane.open(store.file, script);
        return lane;
      } catch (err) {
        // the inline lane does the same work on this thread
        o.onLaneFallback?.(err);
      }
    }
    return new InlineLane(queue, concurrency);
  }

  async function cycle(): Promise<CycleResult> {
    const counts = zeroCounts();
    const owners = queue.leaseOwners().filter((x) => x !== o.owner);
    const dead = o.isPidAlive ? deadLocalOwners(owners, o.host, o.isPidAlive) : [];
    const startNow = clock.now();
    const due = queue.dueCount(startNow);
    const total = o.max === undefined ? due : Math.min(due, o.max);
    // the provider (for SMTP: loading nodemailer) gets ready while the worker thread starts
    if (total > 0) getProvider(batchProvider).catch(() => undefined);
    const writes = await laneFor(total);
    let budget = o.max ?? Number.POSITIVE_INFINITY;
    let done = 0;
    let exhausted = false;
    let deadToTake = dead;
    let cycleError: unknown;
    const buffer: ClaimedMessage[] = [];
    // every lease this cycle holds (buffered and in flight), with when it runs out on `elapsed`: taken
    // from the moment the claim was asked for, which is never later than the database's own start
    const leases = new Map<number, HeldLease>();
    /** Messages in a provider's hands right now. */
    let handedOver = 0;
    // Messages between their hand-over and their record in the database are what a pause past the lease
    // can make another run send again: at most `concurrency` of them, or twice that on the thread lane,
    // whose records travel in bunches (waiting for each one there cost a fifth of the throughput).
    const atRiskCap = writes.kind === 'thread' ? 2 * concurrency : concurrency;
    const stopped = () => !!accountError || !!o.signal?.aborted || cycleError !== undefined;

    // one claim at a time, asked for before the buffer runs dry
    let claiming: Promise<void> | undefined;
    const requestClaim = (): Promise<void> =>
      (claiming ??= (async () => {
        try {
          const askedAt = elapsed();
          const r = await writes.claim({
            owner: o.owner,
            now: clock.now(),
            leaseMs,
            max: Math.min(claimBatch, budget),
            deadOwners: deadToTake,
            batchProvider,
            limits,
          });
          deadToTake = [];
          budget -= r.claimed.length;
          for (const m of r.claimed) {
            // a lease of this run that ran out (the process was paused) and was taken back by this very
            // claim: the message is already buffered or being sent here, so it is held again, not twice
            const held = leases.has(m.id);
            leases.set(m.id, { expiresAt: askedAt + leaseMs });
            if (!held) buffer.push(m);
          }
          counts.deferred += r.throttled.length;
          done += r.throttled.length;
          if (r.claimed.length === 0 && r.throttled.length === 0) exhausted = true;
          if (r.throttled.length > 0) o.onProgress?.({ done, total });
        } catch (err) {
          cycleError ??= err;
        } finally {
          claiming = undefined;
        }
      })());
    const canClaim = () => !exhausted && !stopped() && budget > 0;

    // one renewal at a time, for every lease held; the database refuses those no longer this run's,
    // and their messages are dropped: whoever holds them now sends them
    let renewing: Promise<void> | undefined;
    const renewHeld = (): Promise<void> =>
      (renewing ??= (async () => {
        try {
          const ids = [...leases.keys()];
          if (ids.length === 0) return;
          const askedAt = elapsed();
          const kept = new Set(await writes.renew(o.owner, ids, leaseMs));
          for (const id of ids) {
            if (!leases.has(id)) continue; // finished meanwhile
            if (kept.has(id)) leases.set(id, { expiresAt: askedAt + leaseMs });
            else leases.delete(id);
          }
          for (let i = buffer.length - 1; i >= 0; i--) {
            if (leases.has(buffer[i].id)) continue;
            buffer.splice(i, 1);
            done++;
          }
        } catch (err) {
          cycleError ??= err;
        } finally {
          renewing = undefined;
        }
      })());
    const renewTimer = setInterval(() => void renewHeld(), Math.max(1000, leaseMs / 3));
    renewTimer.unref();

    /** The fence: may `m` go to a provider whose sends take up to `deadlineMs`? Renews first when needed. */
    const fence = async (m: ClaimedMessage, deadlineMs: number | undefined): Promise<FenceDecision> => {
      const needed = leaseNeededMs(deadlineMs, leaseMs);
      let d = fenceDecision(leases.get(m.id), elapsed(), needed, false);
      if (d === 'renew') {
        await renewHeld();
        d = fenceDecision(leases.get(m.id), elapsed(), needed, true);
      }
      if (d === 'giveBack') {
        leases.delete(m.id);
        writes.write({ op: 'giveBack', owner: o.owner, ids: [m.id], opts: { now: clock.now(), uncount: true, reason: 'the lease could not be renewed in time to send' } });
      }
      return d;
    };

    const sendOne = async (m: ClaimedMessage): Promise<void> => {
      const startedAt = clock.now();
      let failure: FailureInfo;
      let err: unknown;
      let sent: { messageId?: string; response?: string } | undefined;
      let provider: Provider | undefined;
      try {
        provider = await getProvider(m.via);
      } catch (e) {
        err = e;
      }
      // outside the try: a failed renewal or give-back is the run's error, not this message's
      if (provider) {
        while (handedOver + writes.unrecorded() >= atRiskCap) await writes.record();
        if ((await fence(m, provider.deadlineMs)) !== 'send') return;
      }
      if (provider) {
        handedOver++;
        try {
          const outgoing = toOutgoing(m, store.id);
          const rendered = writes.takeRendered(m.id);
          if (rendered) {
            outgoing.rendered = rendered;
            renderedAhead++;
          }
          const result = await provider.send(outgoing);
          sent = { messageId: result.messageId ?? outgoing.messageId, response: result.response };
        } catch (e) {
          err = e;
        } finally {
          handedOver--;
        }
      }
      if (sent) {
        deadlineStreak = 0;
        // outside the try: a failed write is the run's error, not this message's
        writes.write({ op: 'sent', id: m.id, owner: o.owner, forced: m.forcedSend, outcome: { now: clock.now(), startedAt, provider: m.via, ...sent } });
        return;
      }
      failure = failureOf(err, m.via);
      const now = clock.now();
      const cls = classify(failure, err);
      const diagnosis = o.diagnose?.(failure) ?? null;
      const outcome = { now, startedAt, provider: m.via, failure, diagnosis };
      // One send past its deadline is that message's; every connection in a row is a server that
      // stalls every session (it trickles, or never ends a reply), which would hold the run for a whole
      // deadline per message: the run stops as for any "try later" of the whole account.
      const pastDeadline = failure.code === DEADLINE_SMTP || failure.code === DEADLINE_GRAPH;
      deadlineStreak = pastDeadline ? deadlineStreak + 1 : 0;
      const stalling = pastDeadline && deadlineStreak >= concurrency;
      const accountWide = cls.scope === 'account' || stalling;
      if (stalling && !accountError) {
        accountError = new SysemailError('tempfail', 'SERVER_STALLING', `${deadlineStreak} sends in a row ran past their deadline: ${failure.response ?? 'no reply in time'}`, {
          fix: 'The server accepts connections but does not finish its replies: look at it with `sysemail test-email --to ADDR -v`; if it is only slow, raise the deadline',
          cause: err,
        });
      }
      if (accountWide && !accountError) {
        accountError = isSysemailError(err)
          ? err
          : new SysemailError(cls.kind, 'ACCOUNT_REFUSED', failure.response ?? 'the provider refused the account', { cause: err });
      }
      if (accountWide && cls.kind !== 'tempfail') {
        // not this message's fault: it goes back as it was, and the run stops
        writes.write({ op: 'giveBack', owner: o.owner, ids: [m.id], opts: { now, uncount: true, reason: `run stopped: ${accountError?.message}`, attempt: { id: m.id, ...outcome } } });
        return;
      }
      // A temporary refusal is retried later; when it concerns the whole account (421, network down,
      // rate limit) the run also stops, so the rest of the queue is not thrown at a server saying "later".
      if (cls.kind === 'tempfail' || cls.kind === 'internal' || cls.kind === 'ioerr') {
        const d = retryDecision(
          { attempts: m.attempts, firstAttemptAt: m.firstAttemptAt, createdAt: m.createdAt, now, retryAfterSec: failure.retryAfterSec },
          policy,
          random,
        );
        if (d.action === 'retry') {
          writes.write({ op: 'deferred', id: m.id, owner: o.owner, outcome: { ...outcome, dueAt: d.dueAt, reason: `temporary failure, retry in ${d.delaySec} s (attempt ${m.attempts})` } });
          return;
        }
        // past queue.maxLifetimeHours: the server's last words stay as they were
        writes.write({ op: 'failed', id: m.id, owner: o.owner, outcome });
        return;
      }
      writes.write({ op: 'failed', id: m.id, owner: o.owner, outcome });
    };

    const worker = async (): Promise<void> => {
      for (;;) {
        if (stopped()) return;
        if (buffer.length <= lowWater && canClaim()) {
          const next = requestClaim();
          if (buffer.length === 0) await next;
        }
        if (stopped()) return;
        const m = buffer.shift();
        if (!m) {
          if (!canClaim()) return;
          continue;
        }
        try {
          await sendOne(m);
        } catch (err) {
          cycleError ??= err;
        } finally {
          leases.delete(m.id);
          done++;
          o.onProgress?.({ done, total: Math.max(total, done) });
        }
      }
    };

    try {
      await Promise.all(Array.from({ length: concurrency }, () => worker()));
    } finally {
      clearInterval(renewTimer);
      // a claim still under way lands in the buffer first, so that it is given back with the rest
      await claiming;
      await renewing;
      // claims not sent (shutdown, account failure, or an unexpected error) go back uncounted
      const left = buffer.splice(0).map((m) => m.id);
      leases.clear();
      try {
        if (left.length > 0) {
          const reason = accountError ? `run stopped: ${accountError.message}` : 'distributor stopped before sending';
          writes.write({ op: 'giveBack', owner: o.owner, ids: left, opts: { now: clock.now(), uncount: true, reason } });
        }
        await writes.settle();
      } catch (err) {
        cycleError ??= err;
      }
      addCounts(counts, writes.takeCounts());
    }
    if (cycleError !== undefined) throw cycleError;
    return { ...counts, remaining: queue.remaining() };
  }

  let runError: unknown;
  try {
    for (;;) {
      const c = await cycle();
      cycles++;
      // the run's row already has these: they were added as the database accepted them
      addCounts(totals, c);
      o.onCycle?.(c);
      // --watch outlives a server that says "later" (421, network down): the next cycle tries again
      const pause = o.watch && accountError?.kind === 'tempfail';
      if (pause) accountError = undefined;
      if (accountError) break;
      const now = clock.now();
      if (!o.watch || now - lastRetention >= WATCH_RETENTION_EVERY_MS) {
        await applyRetention({ store, settings, now, spoolDir: o.spoolDir, signal: o.signal });
        lastRetention = now;
      }
      if (!o.watch || o.signal?.aborted) break;
      const next = queue.nextDueAt();
      const wait = next === null || pause ? intervalMs : Math.min(intervalMs, Math.max(0, next - clock.now()));
      if (wait > 0) await clock.sleep(wait, o.signal);
      if (o.signal?.aborted) break;
    }
  } catch (err) {
    runError = err;
  } finally {
    if (lane) {
      try {
        await lane.close();
      } catch (err) {
        runError ??= err;
      }
    }
    queue.giveBackAll(o.owner, clock.now(), 'distributor stopped');
    for (const p of providers.values()) {
      try {
        await (await p).close();
      } catch {
        // a provider that failed to open has nothing to close
      }
    }
  }
  const failure = accountError ?? runError;
  if (failure) {
    const e = isSysemailError(failure) ? failure : undefined;
    queue.finishRun(runId, clock.now(), { code: e?.code ?? 'INTERNAL', message: e?.message ?? String((failure as Error)?.message ?? failure) });
    throw failure;
  }
  queue.finishRun(runId, clock.now());
  return { runId, cycles, totals, remaining: queue.remaining(), lane: lane?.kind ?? 'inline', renderedAhead };
}
