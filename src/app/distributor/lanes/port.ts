/**
 * The port lane: the queue's writes over the async store ports (any MessagesRepo; the lane of a
 * PostgreSQL database, where every write is a round trip to the server). See types.ts; the lane itself
 * is the store's PortLane, which takes a ClaimRequest: the claim spec is turned into one here.
 */
import type { RenderedMime } from '../../../providers/types.js';
import type { MessagesRepo } from '../../../store/ports.js';
import { PortLane } from '../../../store/pg/lane.js';
import type { ClaimResult, QueueWrite, RunCounts } from '../../../store/queue.js';
import type { RenderThread } from './render-thread.js';
import { claimRequest, type ClaimSpec, type QueueLane } from './types.js';

export class PortQueueLane implements QueueLane {
  readonly kind = 'port';
  private readonly lane: PortLane;
  private renderer?: RenderThread;

  /** `groupOf`: sent records written together at most. */
  constructor(messages: MessagesRepo, groupOf: number) {
    this.lane = new PortLane(messages, groupOf);
  }

  write(w: QueueWrite): void {
    this.lane.write(w);
  }

  /** From the next claim on, its SMTP messages are rendered ahead on `thread`. */
  renderOn(thread: RenderThread): void {
    this.renderer = thread;
  }

  get rendersAhead(): boolean {
    return this.renderer !== undefined;
  }

  /** A render thread failed to start: the run goes on without one, and does not try again. */
  renderUnavailable = false;

  async claim(spec: ClaimSpec): Promise<ClaimResult> {
    const r = await this.lane.claim(claimRequest(spec));
    this.renderer?.offer(r.claimed);
    return r;
  }

  renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]> {
    return this.lane.renew(owner, ids, leaseMs);
  }

  takeRendered(id: number): RenderedMime | undefined {
    return this.renderer?.take(id);
  }

  unrecorded(): number {
    return this.lane.unrecorded();
  }

  record(): Promise<void> {
    return this.lane.record();
  }

  recordSome(): Promise<void> {
    return this.lane.recordSome();
  }

  async settle(): Promise<void> {
    await this.lane.settle();
    this.renderer?.clear();
  }

  takeCounts(): RunCounts {
    return this.lane.takeCounts();
  }

  async close(): Promise<void> {
    try {
      await this.lane.close();
    } finally {
      await this.renderer?.close();
    }
  }
}
