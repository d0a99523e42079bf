/**
 * The thread lane: the queue's writes, in order, on a worker thread with its own connection (worker.ts),
 * which also renders claimed SMTP messages ahead of their sending. See types.ts.
 */
import type { DkimSigningKey } from '../../../core/dkim.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { RenderedMime } from '../../../providers/types.js';
import { addCounts, zeroCounts, type ClaimResult, type QueueWrite, type RunCounts } from '../../../store/queue.js';
import { laneError, type LaneReply, type LaneRequest } from './protocol.js';
import type { ClaimSpec, QueueLane } from './types.js';

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
  /** Requests not yet answered (posted without waiting, or awaited), by sequence number, with how many writes each carried. */
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
      } else if (this.failed)
        w?.reject(this.failed); // an earlier write, posted without waiting, failed
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
    const url = new URL('./worker.js', import.meta.url);
    return existsSync(fileURLToPath(url)) ? url : undefined;
  }

  /** Starts the worker on `file`; resolves once its connection is open. */
  static async open(file: string, script: URL, dkim: readonly DkimSigningKey[] = []): Promise<ThreadLane> {
    const { Worker } = await import('node:worker_threads');
    // the keys the SMTP provider signs with, so what the worker renders ahead is signed the same way
    const worker = new Worker(script, { workerData: { file, dkim } });
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
    // until the answer comes, these writes are as unrecorded as those posted without waiting
    this.posted.set(seq, writes.length);
    this.postedWrites += writes.length;
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
