/**
 * The thread lane: the queue's writes, in order, on a worker thread with its own connection (worker.ts),
 * which also renders claimed SMTP messages ahead of their sending. See types.ts.
 *
 * A sent message's record travels to the worker with many others and lands a few milliseconds later;
 * so that a pause of the run in between (past its lease) cannot have the message sent again by another
 * run, the message is first marked sent on this thread, in the database's sent marks (a file of their
 * own: the store's sent-marks.ts), before anything else happens here. Its mark is deleted once the
 * record is in.
 */
import type { DkimSigningKey } from '../../../core/dkim.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { RenderedMime } from '../../../providers/types.js';
import { addCounts, zeroCounts, type ClaimResult, type QueueWrite, type RunCounts } from '../../../store/queue.js';
import { SentMarks, type SentWrite } from '../../../store/sqlite/sent-marks.js';
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
  /**
   * Requests not yet answered (posted without waiting, or awaited), by sequence number: how many of
   * their writes a pause could duplicate (atRiskOf), and the sent messages marked.
   */
  private readonly posted = new Map<number, { atRisk: number; marked: SentWrite[] }>();
  private postedAtRisk = 0;
  private outboxAtRisk = 0;
  /** Callers of record(), each waiting for the answer to request `upTo`. */
  private recorders: { upTo: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  private constructor(
    private readonly worker: Worker,
    private readonly marks: SentMarks,
  ) {
    worker.on('message', (m: LaneReply) => {
      if ('rendered' in m) {
        for (const [id, r] of m.rendered) this.renderings.set(id, r);
        return;
      }
      if (!('seq' in m)) return;
      if (m.counts) addCounts(this.counts, m.counts);
      const err = m.error ? laneError(m.error) : undefined;
      // a failed request's transaction was rolled back: its marks (and every later one's) must stay
      if (err) this.failed ??= err;
      // the worker applies requests in order: an answer means every earlier one is in the database
      for (const [seq, p] of this.posted) {
        if (seq > m.seq) break;
        this.posted.delete(seq);
        this.postedAtRisk -= p.atRisk;
        if (seq < m.seq || !err) this.forgetMarks(p.marked);
      }
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (err) w?.reject(err);
      else if (this.failed)
        w?.reject(this.failed); // an earlier write, posted without waiting, failed
      else w?.resolve(m);
      this.answerRecorders(m.seq);
    });
    const lost = (why: string) => {
      this.exited = true;
      const err = laneError({ message: why });
      this.failed ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
      this.answerRecorders(Number.POSITIVE_INFINITY);
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', (code) => lost(`it exited (code ${code})`));
  }

  /** The marks of sent messages whose records are in the database now. */
  private forgetMarks(marked: readonly SentWrite[]): void {
    if (marked.length === 0) return;
    try {
      this.marks.forget(
        marked[0].owner,
        marked.map((w) => w.id),
      );
    } catch {
      // a mark left behind matches nothing once its message is recorded
    }
  }

  private answerRecorders(seq: number): void {
    if (this.recorders.length === 0) return;
    const left: typeof this.recorders = [];
    for (const r of this.recorders) {
      if (r.upTo > seq) left.push(r);
      else if (this.failed) r.reject(this.failed);
      else r.resolve();
    }
    this.recorders = left;
  }

  /** The worker script next to this module: compiled code only (absent when running from sources). */
  static defaultScript(): URL | undefined {
    const url = new URL('./worker.js', import.meta.url);
    return existsSync(fileURLToPath(url)) ? url : undefined;
  }

  /** Starts the worker on `file`; resolves once its connection is open. */
  static async open(file: string, script: URL, dkim: readonly DkimSigningKey[] = []): Promise<ThreadLane> {
    const marks = SentMarks.open(file, true)!;
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
      marks.close();
      throw err;
    });
    return new ThreadLane(worker, marks);
  }

  private take(): QueueWrite[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const writes = this.outbox;
    this.outbox = [];
    this.outboxAtRisk = 0;
    return writes;
  }

  /** Sends the waiting writes with `ask` (a claim, a renewal, or only an answer), and waits for the answer. */
  private request(ask: Pick<LaneRequest, 'claim' | 'renew'> = {}): Promise<Extract<LaneReply, { seq: number }>> {
    if (this.failed) return Promise.reject(this.failed);
    const seq = this.send(ask);
    return new Promise((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
  }

  /** Hands the waiting writes (and `ask`) to the worker; until its answer they count as unrecorded. */
  private send(ask: Pick<LaneRequest, 'claim' | 'renew'> = {}): number {
    const seq = ++this.seq;
    const atRisk = this.outboxAtRisk;
    const writes = this.take();
    this.posted.set(seq, { atRisk, marked: writes.filter((w): w is SentWrite => w.op === 'sent') });
    this.postedAtRisk += atRisk;
    this.worker.postMessage({ seq, writes, ...ask } satisfies LaneRequest);
    return seq;
  }

  /** Sends the waiting writes without waiting: a failure is kept for the next call. */
  private post(): void {
    if (this.outbox.length === 0 || this.failed || this.exited) return;
    this.send();
  }

  write(w: QueueWrite): void {
    // marked at once, even after a failure (the run's give-back records marked messages sent): from
    // here on no other run sends it, whatever happens to this one
    let marked = false;
    if (w.op === 'sent') {
      try {
        this.marks.mark(w);
        marked = true;
      } catch {
        // unmarked: at risk until its record is in
      }
    }
    if (this.failed) throw this.failed;
    if ((w.op === 'sent' && !marked) || atRiskOf(w)) this.outboxAtRisk++;
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
    return this.outboxAtRisk + this.postedAtRisk;
  }

  /** The worker answers requests in order: waiting for some is waiting for all. */
  recordSome(): Promise<void> {
    return this.record();
  }

  /** Posts what waits, then waits for the answer to the last request: the worker applies them in order. */
  async record(): Promise<void> {
    if (this.failed) throw this.failed;
    this.post();
    const upTo = this.seq;
    if (this.posted.size === 0) return;
    await new Promise<void>((resolve, reject) => this.recorders.push({ upTo, resolve, reject }));
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
      this.marks.close();
    }
  }
}

/**
 * Writes whose loss in a pause could have the message sent again: a held one (its outcome unknown) is
 * taken back for sending if the pause outlasts the lease. A sent one is marked instead; the others
 * were not delivered.
 */
function atRiskOf(w: QueueWrite): boolean {
  return w.op === 'held';
}
