/**
 * The distributor's path to the queue while it sends: claims and outcomes. Two lanes share one
 * interface. The inline lane writes through the distributor's own connection. The thread lane hands
 * the same writes, in order, to a worker thread with its own connection, so SQLite's work (row
 * rewrites, index updates, WAL writes: about half of what a large run costs besides SMTP itself) runs
 * on another core while the main thread keeps the connections busy. That thread also renders claimed
 * SMTP messages to their bytes ahead (see queue-worker.ts); takeRendered hands them over.
 *
 * Writes are queued and applied in the order given; a claim or a renewal runs after every write queued
 * before it. A sent message's record may wait a few milliseconds to share a transaction with others;
 * until then the message is still `sending` under the run's lease, i.e. in flight. Each lane counts the
 * writes the database accepted (takeCounts): a write for a lease that passed to another run changes
 * nothing and counts for nothing.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { SysemailError } from '../core/errors.js';
import { isErrorCode } from '../core/error-codes.js';
import type { ProviderName } from '../core/failure.js';
import type { MessageRow } from '../store/messages.js';
import type { RenderedMime } from '../providers/types.js';
import { addCounts, tallyOf, zeroCounts, type ClaimRequest, type ClaimResult, type QueueRepo, type QueueWrite, type RunCounts } from '../store/queue.js';

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
  /** Render the claimed SMTP messages to their bytes ahead (the thread lane only). */
  render?: boolean;
}

export interface QueueLane {
  readonly kind: 'inline' | 'thread';
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
  /** Writes given but not yet known to be in the database. */
  unrecorded(): number;
  /** Resolves when every write given so far is in the database (settle() without dropping renderings). */
  record(): Promise<void>;
  /** Resolves when every queued write is in the database. */
  settle(): Promise<void>;
  /** The writes the database accepted since the last call, counted; complete once settle() resolved. */
  takeCounts(): RunCounts;
  close(): Promise<void>;
}

export function providerOf(m: Pick<MessageRow, 'provider'>, batchProvider: ProviderName): ProviderName {
  return m.provider === 'smtp' || m.provider === 'exchange' || m.provider === 'eml' ? m.provider : batchProvider;
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
  };
}

/** Longest wait before a sent message's record is written. */
export const FLUSH_MS = 5;

/**
 * Writes through the caller's connection. Sent records are grouped (one commit per message was the
 * distributor's main cost); everything else is written at once.
 */
export class InlineLane implements QueueLane {
  readonly kind = 'inline';
  private readonly sent: QueueWrite[] = [];
  private timer?: NodeJS.Timeout;
  private counts = zeroCounts();

  /** `groupOf`: sent records written together at most. */
  constructor(
    private readonly queue: QueueRepo,
    private readonly groupOf: number,
  ) {}

  private apply(writes: QueueWrite[]): void {
    tallyOf(writes, this.queue.applyWrites(writes), this.counts);
  }

  write(w: QueueWrite): void {
    if (w.op !== 'sent') {
      this.apply([w]);
      return;
    }
    this.sent.push(w);
    if (this.sent.length >= this.groupOf) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private takeSent(): QueueWrite[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.sent.splice(0);
  }

  private flush(): void {
    this.apply(this.takeSent());
  }

  async claim(spec: ClaimSpec): Promise<ClaimResult> {
    const before = this.takeSent();
    const r = this.queue.claim(claimRequest(spec), before);
    tallyOf(before, r.beforeAccepted, this.counts);
    return r;
  }

  async renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]> {
    const before = this.takeSent();
    const r = this.queue.renew(owner, ids, leaseMs, before);
    tallyOf(before, r.beforeAccepted, this.counts);
    return r.renewed;
  }

  takeCounts(): RunCounts {
    const c = this.counts;
    this.counts = zeroCounts();
    return c;
  }

  takeRendered(): undefined {
    return undefined;
  }

  unrecorded(): number {
    return this.sent.length;
  }

  async record(): Promise<void> {
    this.flush();
  }

  async settle(): Promise<void> {
    this.flush();
  }

  async close(): Promise<void> {
    this.flush();
  }
}

// ---- the thread lane ---------------------------------------------------------------------------

/** Main thread → worker. */
export interface LaneRequest {
  seq: number;
  writes: QueueWrite[];
  claim?: ClaimSpec;
  renew?: { owner: string; ids: readonly number[]; leaseMs: number };
  /** Answer even when there is no claim (and no error): the caller waits for these writes. */
  ack?: boolean;
}

export interface LaneErrorData {
  message: string;
  /** SQLite's code (SQLITE_BUSY, ...) or a SysemailError's. */
  code?: string;
  kind?: SysemailError['kind'];
  fix?: string;
}

/**
 * Worker → main thread. `counts`: the writes accepted since the worker's previous answer (writes posted
 * without waiting are counted in the next answer, so settle()'s carries the last of them).
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
    return new SysemailError('tempfail', 'DB_BUSY', `the database is locked by another process (${d.message})`, { fix: 'Try again in a moment' });
  }
  if (d.code?.startsWith('SQLITE_')) {
    return new SysemailError('ioerr', 'DB_WRITE_FAILED', `cannot write the queue to the database (${d.code}: ${d.message})`, {
      fix: 'Check the free disk space and the permissions of the database file and its folder',
    });
  }
  return new SysemailError('internal', 'QUEUE_THREAD_FAILED', `the queue's database thread failed: ${d.message}`, { fix: 'Run again with --verbose and report it' });
}

/**
 * Writes waiting this many or more are sent to the worker at once; otherwise they go with the next
 * claim or after THREAD_FLUSH_MS. Every message to the other thread wakes it up, which costs the
 * sending thread more than the copy does, so writes travel in bunches.
 */
const POST_AT = 256;
const THREAD_FLUSH_MS = 20;

export class ThreadLane implements QueueLane {
  readonly kind = 'thread';
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: Extract<LaneReply, { seq: number }>) => void; reject: (e: Error) => void }>();
  private readonly renderings = new Map<number, RenderedMime>();
  private outbox: QueueWrite[] = [];
  private timer?: NodeJS.Timeout;
  private failed?: Error;
  private exited = false;
  private counts = zeroCounts();
  /** Requests posted without waiting, by sequence number, with how many writes each carried. */
  private readonly posted = new Map<number, number>();
  private postedWrites = 0;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: LaneReply) => {
      if ('rendered' in m) {
        for (const [id, r] of m.rendered) this.renderings.set(id, r);
        return;
      }
      if (!('seq' in m)) return;
      if (m.counts) addCounts(this.counts, m.counts);
      // the worker applies requests in order: an answer means every earlier one is in the database
      for (const [seq, n] of this.posted) {
        if (seq > m.seq) break;
        this.posted.delete(seq);
        this.postedWrites -= n;
      }
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (m.error) {
        const err = laneError(m.error);
        this.failed ??= err;
        w?.reject(err);
      } else if (this.failed) w?.reject(this.failed); // an earlier write, posted without waiting, failed
      else w?.resolve(m);
    });
    const lost = (why: string) => {
      this.exited = true;
      const err = laneError({ message: why });
      this.failed ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', (code) => lost(`it exited (code ${code})`));
  }

  /** The worker script next to this module: compiled code only (absent when running from sources). */
  static defaultScript(): URL | undefined {
    const url = new URL('./queue-worker.js', import.meta.url);
    return existsSync(fileURLToPath(url)) ? url : undefined;
  }

  /** Starts the worker on `file`; resolves once its connection is open. */
  static async open(file: string, script: URL): Promise<ThreadLane> {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(script, { workerData: { file } });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: LaneReply) => {
        if (!('ready' in m)) return;
        off();
        if (m.ready) resolve();
        else reject(laneError(m.error));
      };
      const onError = (e: Error) => {
        off();
        reject(laneError({ message: e.message }));
      };
      const onExit = (code: number) => {
        off();
        reject(laneError({ message: `it exited before opening the database (code ${code})` }));
      };
      const off = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    return new ThreadLane(worker);
  }

  private take(): QueueWrite[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const writes = this.outbox;
    this.outbox = [];
    return writes;
  }

  /** Sends the waiting writes with `ask` (a claim, a renewal, or only an answer), and waits for the answer. */
  private request(ask: Pick<LaneRequest, 'claim' | 'renew'> = {}): Promise<Extract<LaneReply, { seq: number }>> {
    if (this.failed) return Promise.reject(this.failed);
    const seq = ++this.seq;
    const writes = this.take();
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, writes, ...(ask.claim || ask.renew ? ask : { ack: true }) } satisfies LaneRequest);
    });
  }

  /** Sends the waiting writes without waiting: the worker answers only a failure, kept for the next call. */
  private post(): void {
    if (this.outbox.length === 0 || this.failed || this.exited) return;
    const seq = ++this.seq;
    const writes = this.take();
    this.posted.set(seq, writes.length);
    this.postedWrites += writes.length;
    this.worker.postMessage({ seq, writes } satisfies LaneRequest);
  }

  write(w: QueueWrite): void {
    if (this.failed) throw this.failed;
    this.outbox.push(w);
    if (this.outbox.length >= POST_AT) this.post();
    else this.timer ??= setTimeout(() => this.post(), THREAD_FLUSH_MS);
  }

  async claim(spec: ClaimSpec): Promise<ClaimResult> {
    return (await this.request({ claim: { ...spec, render: true } })).result!;
  }

  async renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]> {
    return (await this.request({ renew: { owner, ids, leaseMs } })).renewed ?? [];
  }

  takeCounts(): RunCounts {
    const c = this.counts;
    this.counts = zeroCounts();
    return c;
  }

  takeRendered(id: number): RenderedMime | undefined {
    const r = this.renderings.get(id);
    if (r) this.renderings.delete(id);
    return r;
  }

  unrecorded(): number {
    return this.outbox.length + this.postedWrites;
  }

  async record(): Promise<void> {
    await this.request();
  }

  /** Also drops the renderings not taken: the messages they belong to were sent or given back. */
  async settle(): Promise<void> {
    await this.request();
    this.renderings.clear();
  }

  async close(): Promise<void> {
    try {
      if (!this.exited) await this.settle();
    } finally {
      if (!this.exited) {
        const gone = new Promise((resolve) => this.worker.once('exit', resolve));
        this.worker.postMessage({ close: true });
        await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
        if (!this.exited) await this.worker.terminate();
      }
    }
  }
}
