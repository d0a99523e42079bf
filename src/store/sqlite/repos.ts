/**
 * The SQLite implementation of the messages, runs and operator ports: each an async face over the
 * synchronous queue (better-sqlite3 answers at once; a server database will await its round trips).
 */
import type { MessageStatus } from '../../core/status.js';
import type {
  ClaimRequest,
  MessagesRepo,
  NewMessage,
  NewRun,
  OperatorAction,
  OperatorRepo,
  OperatorSelection,
  QueueWrite,
  RunsRepo,
} from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { SqliteMessages } from './messages.js';
import { QueueRepo } from './queue.js';

export { QueueRepo };

export class SqliteMessagesRepo implements MessagesRepo {
  private readonly messages: SqliteMessages;

  /** `queueOf` builds the queue on first use: storing or reading one message prepares none of its statements. */
  constructor(
    db: SqliteDatabase,
    private readonly queueOf: () => QueueRepo,
  ) {
    this.messages = new SqliteMessages(db);
  }

  private get queue(): QueueRepo {
    return this.queueOf();
  }

  async insert(m: NewMessage, now: number) {
    return this.messages.insert(m, now);
  }
  async insertMany(messages: Iterable<NewMessage>, now: number) {
    return this.messages.insertMany(messages, now);
  }
  async insertOnce(m: NewMessage & { idempotencyKey: string; idempotencyDigest: string }, now: number, since: number) {
    return this.messages.insertOnce(m, now, since);
  }
  async insertManyOnce(
    messages: Iterable<NewMessage>,
    now: number,
    since: number,
    refuse: (m: NewMessage, firstId: number, at: number) => Error,
  ) {
    return this.messages.insertManyOnce(messages, now, since, refuse);
  }
  async get(id: number) {
    return this.messages.get(id);
  }
  async attempts(messageId: number) {
    return this.messages.attempts(messageId);
  }
  async list(opts: { status?: MessageStatus; limit: number }) {
    return this.queue.list(opts);
  }
  async claim(req: ClaimRequest, before: readonly QueueWrite[] = []) {
    return this.queue.claim(req, before);
  }
  async renew(owner: string, ids: readonly number[], leaseMs: number, before: readonly QueueWrite[] = []) {
    return this.queue.renew(owner, ids, leaseMs, before);
  }
  async applyWrites(writes: readonly QueueWrite[]) {
    return this.queue.applyWrites(writes);
  }
  async giveBackAll(owner: string, now: number, reason: string) {
    return this.queue.giveBackAll(owner, now, reason);
  }
  async leaseOwners() {
    return this.queue.leaseOwners();
  }
  async heldBy(owner: string) {
    return this.queue.heldBy(owner);
  }
  async dbNow() {
    return this.queue.dbNow();
  }
  async counts() {
    return this.queue.counts();
  }
  async remaining() {
    return this.queue.remaining();
  }
  async dueCount(now: number) {
    return this.queue.dueCount(now);
  }
  async oldestDueAgeSec(now: number) {
    return this.queue.oldestDueAgeSec(now);
  }
  async nextDueAt() {
    return this.queue.nextDueAt();
  }
}

export class SqliteRunsRepo implements RunsRepo {
  constructor(private readonly queue: QueueRepo) {}

  async startRun(r: NewRun) {
    return this.queue.startRun(r);
  }
  async finishRun(runId: number, now: number, error?: { code: string; message: string }) {
    this.queue.finishRun(runId, now, error);
  }
  async lastRun() {
    return this.queue.lastRun();
  }
  async lastRunPerHost(limit?: number) {
    return this.queue.lastRunPerHost(limit);
  }
}

export class SqliteOperatorRepo implements OperatorRepo {
  constructor(private readonly queue: QueueRepo) {}

  async change(action: OperatorAction, selection: OperatorSelection, o: { now: number; dryRun?: boolean }) {
    return this.queue.change(action, selection, o);
  }
}
