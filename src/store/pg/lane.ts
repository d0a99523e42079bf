/**
 * The distributor's path to the queue over the async ports (any MessagesRepo; written for
 * PostgreSQL, where every write is a round trip to the server). It has the shape of the distributor's
 * lanes (write / claim / renew / record / settle / takeCounts) but takes a ClaimRequest, so it depends
 * on the ports only; the distributor turns its claim spec into one as it does for its own lanes.
 *
 * Writes are applied in the order given, one write request to the database at a time. A write goes at
 * once when none is on its way; sent records given meanwhile wait for its answer and then go together
 * (one statement, see transitions.ts). So a record reaches the database as soon as a write can go, and records share a round
 * trip exactly when the database is slower than the sends. A claim or renewal runs once the write
 * requests given before it are answered (it sends the waiting ones first and carries none), and
 * writes given while it is on its way go at once over another connection: a claim (a transaction of
 * several statements) never holds the records up. A failed write is thrown by the next call that
 * waits (claim, renew, record, settle, close).
 */
import type { ClaimRequest, ClaimResult, MessagesRepo, QueueWrite, RunCounts } from '../ports.js';
import { tallyOf, zeroCounts } from '../rules.js';

export class PortLane {
  readonly kind = 'port';
  /** Writes given and not yet handed to the database. */
  private waiting: QueueWrite[] = [];
  /** Writes handed to the database whose answer has not come. */
  private inFlight = 0;
  /** Write requests, one at a time, in the order given. */
  private writes: Promise<void> = Promise.resolve();
  private writing = 0;
  /** Claims and renewals, one at a time, each after the writes given before it. */
  private asks: Promise<void> = Promise.resolve();
  private failure: unknown;
  private counts = zeroCounts();
  /** Writes given, and writes whose request was answered (applied or failed), since the lane opened. */
  private given = 0;
  private answered = 0;

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

  private keep(run: Promise<unknown>): Promise<void> {
    return run.then(
      () => undefined,
      (err) => {
        this.failure ??= err;
      },
    );
  }

  /** Hands the waiting writes to the database after the write request on its way; when it is answered, those given meanwhile go. */
  private flush(): void {
    const batch = this.take();
    if (batch.length === 0) return;
    this.inFlight += batch.length;
    this.writing++;
    const run = this.writes.then(async () => {
      try {
        tallyOf(batch, await this.messages.applyWrites(batch), this.counts);
      } finally {
        this.inFlight -= batch.length;
        this.answered += batch.length;
        if (--this.writing === 0) this.flush();
      }
    });
    this.writes = this.keep(run);
  }

  /**
   * Runs `step` (a claim or a renewal) once every write request given before it is answered: a claim
   * never overtakes a record. Writes given while it is on its way do not wait for it.
   */
  private async ask<T>(step: () => Promise<T>): Promise<T> {
    const run = Promise.all([this.writes, this.asks]).then(step);
    this.asks = this.keep(run);
    try {
      return await run;
    } finally {
      this.throwFailure();
    }
  }

  /** Queues `w` even after a failure (a sent record must still reach the database), then throws the failure. */
  write(w: QueueWrite): void {
    this.given++;
    this.waiting.push(w);
    if (w.op !== 'sent' || this.writing === 0 || this.waiting.length >= this.groupOf) this.flush();
    this.throwFailure();
  }

  /**
   * The writes waiting go first, as a request of their own, and the claim after them: it carries
   * none, because a claim's transaction (several statements) would hold the run's row, which every
   * sent record counts in, until it ends, and the records given meanwhile would wait for it.
   */
  async claim(req: ClaimRequest): Promise<ClaimResult> {
    this.flush();
    return this.ask(() => this.messages.claim(req));
  }

  /**
   * Like a claim, a renewal carries no writes: its transaction would lock the run's row (the records'
   * counts) before the messages' rows, and a record on its way locks them the other way round.
   */
  async renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]> {
    this.flush();
    return (await this.ask(() => this.messages.renew(owner, ids, leaseMs))).renewed;
  }

  unrecorded(): number {
    return this.waiting.length + this.inFlight;
  }

  /**
   * Resolves when every write given so far is answered. The writes waiting while a request is on its
   * way are not sent one by one behind it: they go together once it is answered (flush()), so waiting
   * at the distributor's at-risk bound does not make each sent record a round trip of its own.
   */
  async record(): Promise<void> {
    const upTo = this.given;
    while (this.answered < upTo && (await this.nextAnswer()));
    this.throwFailure();
  }

  /**
   * Resolves at the database's next answer (to the write requests on their way, or to the writes
   * waiting when none is), or at once when every write given is answered.
   */
  async recordSome(): Promise<void> {
    await this.nextAnswer();
    this.throwFailure();
  }

  /** Waits for the write requests on their way (sending the waiting writes if none is); false when there is nothing to wait for. */
  private async nextAnswer(): Promise<boolean> {
    if (this.answered === this.given) return false;
    if (this.writing === 0) this.flush();
    if (this.writing === 0) return false;
    await this.writes;
    return true;
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
