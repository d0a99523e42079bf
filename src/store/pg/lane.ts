/**
 * The distributor's path to the queue over the async ports (any MessagesRepo; written for
 * PostgreSQL, where every write is a round trip to the server). It has the shape of the distributor's
 * lanes (write / claim / renew / record / settle / takeCounts) but takes a ClaimRequest, so it depends
 * on the ports only; the distributor turns its claim spec into one as it does for its own lanes.
 *
 * Writes are applied in the order given. Sent records wait up to FLUSH_MS to share a transaction; a
 * claim or renewal carries every write still waiting as its `before`, in the same transaction. A failed
 * write is thrown by the next call that waits (claim, renew, record, settle, close).
 */
import type { ClaimRequest, ClaimResult, MessagesRepo, QueueWrite, RunCounts } from '../ports.js';
import { tallyOf, zeroCounts } from '../rules.js';

/** Longest wait before a sent message's record is written. */
const FLUSH_MS = 5;

export class PortLane {
  readonly kind = 'port';
  /** Writes given and not yet handed to the database. */
  private waiting: QueueWrite[] = [];
  /** Writes handed to the database whose answer has not come. */
  private inFlight = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private timer?: NodeJS.Timeout;
  private counts = zeroCounts();

  /** `groupOf`: sent records written together at most. */
  constructor(
    private readonly messages: MessagesRepo,
    private readonly groupOf = 64,
  ) {}

  private throwFailure(): void {
    if (this.failure === undefined) return;
    const err = this.failure;
    this.failure = undefined;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what was caught, as it was
    throw err;
  }

  private take(): QueueWrite[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.waiting.splice(0);
  }

  /** Runs `step` after everything queued before it; its failure is kept for the next waiting call. */
  private then<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    this.chain = run.then(
      () => undefined,
      (err) => {
        this.failure ??= err;
      },
    );
    return run;
  }

  flush(): void {
    const batch = this.take();
    if (batch.length === 0) return;
    this.inFlight += batch.length;
    void this.then(async () => {
      try {
        tallyOf(batch, await this.messages.applyWrites(batch), this.counts);
      } finally {
        this.inFlight -= batch.length;
      }
    }).catch(() => {});
  }

  /** Runs `step`, which carries `before` to the database: those writes are in flight until it answers. */
  private async handedOver<T>(before: readonly QueueWrite[], step: () => Promise<T>): Promise<T> {
    this.inFlight += before.length;
    try {
      return await this.then(step);
    } finally {
      this.inFlight -= before.length;
      this.throwFailure();
    }
  }

  write(w: QueueWrite): void {
    this.throwFailure();
    this.waiting.push(w);
    if (w.op !== 'sent' || this.waiting.length >= this.groupOf) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  async claim(req: ClaimRequest): Promise<ClaimResult> {
    const before = this.take();
    const r = await this.handedOver(before, () => this.messages.claim(req, before));
    tallyOf(before, r.beforeAccepted, this.counts);
    return r;
  }

  async renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]> {
    const before = this.take();
    const r = await this.handedOver(before, () => this.messages.renew(owner, ids, leaseMs, before));
    tallyOf(before, r.beforeAccepted, this.counts);
    return r.renewed;
  }

  /** Nothing is rendered ahead here: the provider composes each message itself. */
  takeRendered(): undefined {
    return undefined;
  }

  unrecorded(): number {
    return this.waiting.length + this.inFlight;
  }

  async record(): Promise<void> {
    this.flush();
    await this.chain;
    this.throwFailure();
  }

  async settle(): Promise<void> {
    await this.record();
  }

  takeCounts(): RunCounts {
    const c = this.counts;
    this.counts = zeroCounts();
    return c;
  }

  async close(): Promise<void> {
    await this.record();
  }
}
