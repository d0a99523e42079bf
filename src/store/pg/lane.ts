/**
 * The distributor's path to the queue over the async ports (any MessagesRepo; written for
 * PostgreSQL, where every write is a round trip to the server). It has the shape of the distributor's
 * lanes (write / claim / renew / record / settle / takeCounts) but takes a ClaimRequest, so it depends
 * on the ports only; the distributor turns its claim spec into one as it does for its own lanes.
 *
 * Writes are applied in the order given, with one exception: sent records (of distinct messages, each
 * fenced by its own lease and attempt, so the order among them changes nothing) may go in up to
 * SENT_BATCHES batches at once, each its own statement (see transitions.ts) on a connection of its own.
 * Everything else (a claim, a renewal, any other write) waits for all that was handed over before it,
 * and what is handed over after it waits for it: a claim never overtakes a record given before it.
 *
 * A sent record goes at once while fewer than SENT_BATCHES batches are on their way; those given
 * meanwhile go together when one is answered, or with the next claim or renewal as its `before`, in
 * its transaction. So a record reaches the database as soon as a connection is free, and records share
 * a round trip exactly when the database is slower than the sends. A failed write is thrown by the next
 * call that waits (claim, renew, record, settle, close).
 */
import type { ClaimRequest, ClaimResult, MessagesRepo, QueueWrite, RunCounts } from '../ports.js';
import { tallyOf, zeroCounts } from '../rules.js';

/** Batches of sent records on their way to the database at once at most. */
const SENT_BATCHES = 2;

export class PortLane {
  readonly kind = 'port';
  /** Writes given and not yet handed to the database. */
  private waiting: QueueWrite[] = [];
  /** Writes handed to the database whose answer has not come. */
  private inFlight = 0;
  /** Settles when everything handed over so far is answered. */
  private tail: Promise<void> = Promise.resolve();
  /** Settles when the last request that others wait for (and everything before it) is answered. */
  private gate: Promise<void> = Promise.resolve();
  /** Batches of sent records handed over and not yet answered. */
  private sentBatches = 0;
  private failure: unknown;
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
    return this.waiting.splice(0);
  }

  /**
   * Runs `step` once what it must follow is answered: everything handed over before it, or for a batch
   * of sent records the last request others wait for. Its failure is kept for the next waiting call.
   */
  private then<T>(step: () => Promise<T>, sentOnly = false): Promise<T> {
    const run = (sentOnly ? this.gate : this.tail).then(step);
    const settled = run.then(
      () => undefined,
      (err) => {
        this.failure ??= err;
      },
    );
    if (sentOnly) {
      const before = this.tail;
      this.tail = Promise.all([before, settled]).then(() => undefined);
    } else {
      this.tail = settled;
      this.gate = settled;
    }
    return run;
  }

  flush(): void {
    const batch = this.take();
    if (batch.length === 0) return;
    const sentOnly = batch.every((w) => w.op === 'sent');
    this.inFlight += batch.length;
    if (sentOnly) this.sentBatches++;
    void this.then(async () => {
      try {
        tallyOf(batch, await this.messages.applyWrites(batch), this.counts);
      } finally {
        this.inFlight -= batch.length;
        if (sentOnly) this.sentBatches--;
        // the records given meanwhile go now
        if (this.waiting.length > 0 && this.sentBatches < SENT_BATCHES) this.flush();
      }
    }, sentOnly).catch(() => {});
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
    if (w.op !== 'sent' || this.sentBatches < SENT_BATCHES || this.waiting.length >= this.groupOf) this.flush();
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
    // every write given so far is then handed over: the wait is for those, not for later ones
    this.flush();
    await this.tail;
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
