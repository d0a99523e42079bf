/**
 * The port lane: the queue's writes over the async store ports (any MessagesRepo; the lane of a
 * PostgreSQL database, where every write is a round trip to the server). See types.ts; the lane itself
 * is the store's PortLane, which takes a ClaimRequest: the claim spec is turned into one here.
 */
import type { MessagesRepo } from '../../../store/ports.js';
import { PortLane } from '../../../store/pg/lane.js';
import type { ClaimResult, QueueWrite, RunCounts } from '../../../store/queue.js';
import { claimRequest, type ClaimSpec, type QueueLane } from './types.js';

export class PortQueueLane implements QueueLane {
  readonly kind = 'port';
  private readonly lane: PortLane;

  /** `groupOf`: sent records written together at most. */
  constructor(messages: MessagesRepo, groupOf: number) {
    this.lane = new PortLane(messages, groupOf);
  }

  write(w: QueueWrite): void {
    this.lane.write(w);
  }

  claim(spec: ClaimSpec): Promise<ClaimResult> {
    return this.lane.claim(claimRequest(spec));
  }

  renew(owner: string, ids: readonly number[], leaseMs: number): Promise<number[]> {
    return this.lane.renew(owner, ids, leaseMs);
  }

  takeRendered(): undefined {
    return undefined;
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

  settle(): Promise<void> {
    return this.lane.settle();
  }

  takeCounts(): RunCounts {
    return this.lane.takeCounts();
  }

  close(): Promise<void> {
    return this.lane.close();
  }
}
