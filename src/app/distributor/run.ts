/**
 * The distributor batch: takes due messages from the queue under a lease and sends them, honouring
 * the throttle window, retrying temporary refusals with backoff and giving up on permanent ones (one
 * cycle: cycle.ts; what each result means: outcome.ts). A failure of the whole account (sign-in
 * refused, Send As denied, secret or configuration missing) stops the run and gives every claimed
 * message back untouched: a wrong password must not burn the queue. The counts it reports are the
 * writes the database accepted.
 */
import { systemClock } from '../../core/clock.js';
import { isSysemailError } from '../../core/errors.js';
import type { Settings } from '../../core/precedence.js';
import { PROVIDER_NAMES, batchProvider, type ProviderName } from '../../core/providers.js';
import { perMinuteLimit } from '../../core/throttle.js';
import type { Provider } from '../../providers/types.js';
import type { QueueWakeups } from '../../store/ports.js';
import { addCounts, zeroCounts } from '../../store/queue.js';
import { applyRetention } from '../history.js';
import { Cycle, type CycleContext } from './cycle.js';
import { classifyAttempt } from './failure.js';
import { GovernorGate, governorClaim } from './governor.js';
import { openLane, PortQueueLane, renderAheadFor, type QueueLane } from './lanes/index.js';
import { deadLocalOwners, elapsedClock } from './owners.js';
import { DEFAULT_INTERVAL_SEC, DEFAULT_LEASE_SEC, type CycleResult, type RunQueueOptions, type RunQueueResult } from './types.js';

/** Retention runs after every one-pass run, and at most this often in --watch. */
const WATCH_RETENTION_EVERY_MS = 10 * 60_000;

/** Settings read once per run, and the state shared by its cycles. */
function cycleContext(o: RunQueueOptions, provider: (name: ProviderName) => Promise<Provider>): CycleContext {
  const { settings } = o;
  const concurrency = Math.max(1, o.concurrency);
  const limits: Partial<Record<ProviderName, number>> = {};
  for (const p of PROVIDER_NAMES) limits[p] = perMinuteLimit(settings, p);
  return {
    queue: o.store.queue,
    messages: o.store.messages,
    dbId: o.store.id,
    owner: o.owner,
    clock: o.clock ?? systemClock,
    elapsed: o.elapsed ?? elapsedClock(),
    leaseMs: (o.leaseSec ?? DEFAULT_LEASE_SEC) * 1000,
    concurrency,
    // a few messages per connection per claim: fewer write transactions, and a short buffer to give back on stop
    claimBatch: Math.min(concurrency * 8, 256),
    max: o.max,
    batchProvider: batchProvider(settings),
    limits,
    backoff: backoffPolicy(settings),
    outcomeUnknown: settings.string('queue.outcomeUnknown') === 'retry' ? 'retry' : 'hold',
    random: o.random ?? Math.random,
    softSuppressionMs: settings.number('suppression.softExpiryDays') * 86_400_000,
    provider,
    classify: o.classify ?? classifyAttempt,
    diagnose: o.diagnose,
    signal: o.signal,
    onProgress: o.onProgress,
    governor: governorClaim(settings),
    gate: new GovernorGate(o.store.governor, o.owner, o.clock ?? systemClock),
    run: { deadlineStreak: 0, renderedAhead: 0, boundWaits: 0, boundWaitMs: 0 },
  };
}

function backoffPolicy(settings: Settings) {
  return {
    minBackoffSec: settings.number('queue.minBackoffSec'),
    maxBackoffSec: settings.number('queue.maxBackoffSec'),
    maxLifetimeHours: settings.number('queue.maxLifetimeHours'),
  };
}

/** A run: its providers (opened on first use), its worker thread or port lane (once opened), its cycles. */
class Run {
  readonly ctx: CycleContext;
  private readonly providers = new Map<ProviderName, Promise<Provider>>();
  lane?: QueueLane;
  /** --watch on a store that can tell of new messages (PostgreSQL): waits end when one is queued. */
  wakeups?: QueueWakeups;
  cycles = 0;
  readonly totals = zeroCounts();

  constructor(readonly o: RunQueueOptions) {
    this.ctx = cycleContext(o, (name) => this.provider(name));
  }

  provider(name: ProviderName): Promise<Provider> {
    let p = this.providers.get(name);
    if (!p) {
      p = this.o.providerFactory(name);
      this.providers.set(name, p);
    }
    return p;
  }

  async cycle(): Promise<CycleResult> {
    const { o, ctx } = this;
    const owners = (await ctx.messages.leaseOwners()).filter((x) => x !== o.owner);
    const dead = o.isPidAlive ? deadLocalOwners(owners, o.host, o.isPidAlive) : [];
    const due = await ctx.messages.dueCount(ctx.clock.now());
    const total = o.max === undefined ? due : Math.min(due, o.max);
    // the provider (for SMTP: loading nodemailer) gets ready while the worker thread starts
    if (total > 0) this.provider(ctx.batchProvider).catch(() => undefined);
    const lane =
      this.lane ??
      (await openLane(
        {
          thread: o.thread,
          file: o.store.file,
          queue: ctx.queue,
          messages: ctx.messages,
          concurrency: ctx.concurrency,
          onLaneFallback: o.onLaneFallback,
          dkim: o.dkim,
          dbId: ctx.dbId,
        },
        total,
      ));
    // a run on a server database starts its render thread once a cycle repays it (--watch: not the first)
    if (lane instanceof PortQueueLane) await renderAheadFor(lane, { thread: o.thread, dkim: o.dkim, dbId: ctx.dbId }, total);
    // the worker thread, or the port lane (the only lane of a store without a file), serves every cycle
    if (lane.kind !== 'inline') this.lane = lane;
    const c = await new Cycle(ctx, lane, total, dead).run();
    this.cycles++;
    // the run's row already has these: they were added as the database accepted them
    addCounts(this.totals, c);
    return { ...c, lane: lane.kind };
  }

  /** One pass, or cycles until the signal fires (--watch), with retention in between. */
  async loop(): Promise<void> {
    const { o, ctx } = this;
    const intervalMs = (o.intervalSec ?? DEFAULT_INTERVAL_SEC) * 1000;
    let lastRetention = 0;
    // listening starts before the first cycle: a message queued during a cycle ends the wait after it
    if (o.watch && o.store.listen) this.wakeups = await o.store.listen();
    for (;;) {
      // not inside onCycle?.(…): without a listener the cycle would not run at all
      const c = await this.cycle();
      o.onCycle?.(c);
      // --watch outlives a server that says "later" (421, network down): the next cycle tries again
      const pause = o.watch && ctx.run.stopping?.kind === 'tempfail';
      if (pause) ctx.run.stopping = undefined;
      if (ctx.run.stopping) break;
      const now = ctx.clock.now();
      if (!o.watch || now - lastRetention >= WATCH_RETENTION_EVERY_MS) {
        await applyRetention({ store: o.store, settings: o.settings, now, spoolDir: o.spoolDir, signal: o.signal });
        lastRetention = now;
      }
      if (!o.watch || o.signal?.aborted) break;
      const next = await ctx.messages.nextDueAt();
      const wait = next === null || pause ? intervalMs : Math.min(intervalMs, Math.max(0, next - ctx.clock.now()));
      // a server "later" pause is not cut short by new messages
      if (wait > 0 && this.wakeups && !pause) await this.wakeups.wait(wait, o.signal);
      else if (wait > 0) await ctx.clock.sleep(wait, o.signal);
      if (o.signal?.aborted) break;
    }
  }

  /** Closes the worker thread and the providers, and gives back whatever is still held. */
  async close(): Promise<unknown> {
    let error: unknown;
    await this.wakeups?.close();
    if (this.lane) {
      try {
        await this.lane.close();
      } catch (err) {
        error = err;
      }
    }
    await this.ctx.messages.giveBackAll(this.o.owner, this.ctx.clock.now(), 'distributor stopped');
    for (const p of this.providers.values()) {
      try {
        await (await p).close();
      } catch {
        // a provider that failed to open has nothing to close
      }
    }
    return error;
  }
}

/**
 * Runs the distributor: one pass (cron), or cycles until `signal` fires (--watch). Throws the
 * account-wide error that stopped it, after recording the run and giving the messages back.
 */
export async function runQueue(o: RunQueueOptions): Promise<RunQueueResult> {
  const run = new Run(o);
  const { messages, clock, leaseMs } = run.ctx;
  const runs = o.store.runs;
  const intervalMs = (o.intervalSec ?? DEFAULT_INTERVAL_SEC) * 1000;
  const runId = await runs.startRun({
    owner: o.owner,
    host: o.host,
    pid: o.pid,
    now: clock.now(),
    leaseMs,
    intervalMs: o.watch ? intervalMs : null,
  });
  let runError: unknown;
  try {
    await run.loop();
  } catch (err) {
    runError = err;
  } finally {
    const closeError = await run.close();
    runError ??= closeError;
  }
  const failure = run.ctx.run.stopping ?? runError;
  if (failure) {
    const e = isSysemailError(failure) ? failure : undefined;
    await runs.finishRun(runId, clock.now(), {
      code: e?.code ?? 'INTERNAL',
      message: e?.message ?? String((failure as Error)?.message ?? failure),
    });
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what was caught, as it was
    throw failure;
  }
  await runs.finishRun(runId, clock.now());
  return {
    runId,
    cycles: run.cycles,
    totals: run.totals,
    remaining: await messages.remaining(),
    lane: run.lane?.kind ?? 'inline',
    renderedAhead: run.ctx.run.renderedAhead,
    boundWaits: run.ctx.run.boundWaits,
    boundWaitMs: run.ctx.run.boundWaitMs,
  };
}
