/** The inline lane: the queue's writes through the distributor's own connection (see types.ts). */
import { tallyOf, zeroCounts, type ClaimResult, type QueueRepo, type QueueWrite, type RunCounts } from '../../../store/queue.js';
import { claimRequest, type ClaimSpec, type QueueLane } from './types.js';

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

  recordSome(): Promise<void> {
    return this.record();
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
