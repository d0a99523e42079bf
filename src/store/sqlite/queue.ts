/**
 * The SQLite queue as one synchronous object: claims and leases, the status transitions, runs, counts
 * and operator actions, each in its own file. The distributor's lanes call it directly (a worker thread
 * holds its own connection); use cases reach the same code through the async ports (./repos.ts).
 */
import type { MessageStatus } from '../../core/status.js';
import type {
  ClaimRequest,
  ClaimResult,
  HeldLeases,
  MessageRow,
  NewRun,
  OperatorAction,
  OperatorChange,
  OperatorSelection,
  QueueWrite,
  RunRow,
  StatusCounts,
} from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { Claims } from './claims.js';
import { QueueCounts } from './counts.js';
import { Operator } from './operator.js';
import { Runs } from './runs.js';
import { Transitions } from './transitions.js';

export class QueueRepo {
  private readonly transitions: Transitions;
  private readonly claims: Claims;
  private readonly runsRepo: Runs;
  private readonly countsRepo: QueueCounts;
  private readonly operator: Operator;

  constructor(db: SqliteDatabase) {
    this.transitions = new Transitions(db);
    this.claims = new Claims(db, this.transitions);
    this.runsRepo = new Runs(db);
    this.countsRepo = new QueueCounts(db);
    this.operator = new Operator(db);
  }

  // claims and leases
  claim(req: ClaimRequest, before: readonly QueueWrite[] = []): ClaimResult {
    return this.claims.claim(req, before);
  }
  renew(
    owner: string,
    ids: readonly number[],
    leaseMs: number,
    before: readonly QueueWrite[] = [],
  ): { renewed: number[]; beforeAccepted: boolean[] } {
    return this.claims.renew(owner, ids, leaseMs, before);
  }
  giveBackAll(owner: string, now: number, reason: string): number {
    return this.claims.giveBackAll(owner, now, reason);
  }
  leaseOwners(): string[] {
    return this.claims.leaseOwners();
  }
  heldBy(owner: string): HeldLeases {
    return this.claims.heldBy(owner);
  }
  dbNow(): number {
    return this.claims.dbNow();
  }

  /** Closes what the queue opened besides the database (the sent marks it read). */
  close(): void {
    this.transitions.close();
  }

  // the one path for status transitions out of sending
  applyWrites(writes: readonly QueueWrite[]): boolean[] {
    return this.transitions.applyWrites(writes);
  }

  // runs
  startRun(r: NewRun): number {
    return this.runsRepo.startRun(r);
  }
  finishRun(runId: number, now: number, error?: { code: string; message: string }): void {
    this.runsRepo.finishRun(runId, now, error);
  }
  lastRun(): RunRow | null {
    return this.runsRepo.lastRun();
  }
  lastRunPerHost(limit?: number): RunRow[] {
    return this.runsRepo.lastRunPerHost(limit);
  }

  // counts and the list
  counts(): StatusCounts {
    return this.countsRepo.counts();
  }
  remaining(): number {
    return this.countsRepo.remaining();
  }
  dueCount(now: number): number {
    return this.countsRepo.dueCount(now);
  }
  oldestDueAgeSec(now: number): number | null {
    return this.countsRepo.oldestDueAgeSec(now);
  }
  nextDueAt(): number | null {
    return this.countsRepo.nextDueAt();
  }
  list(opts: { status?: MessageStatus; limit: number }): MessageRow[] {
    return this.countsRepo.list(opts);
  }

  // operator actions
  change(action: OperatorAction, selection: OperatorSelection, o: { now: number; dryRun?: boolean }): OperatorChange {
    return this.operator.change(action, selection, o);
  }
}
