/**
 * The distributor's side of the messages table: claiming due messages under a lease, completing or
 * rescheduling them (only the lease owner may), the shared throttle window, distributor runs, and the
 * operator's hold/release/retry/delete.
 *
 * Every write that decides who owns a message runs inside BEGIN IMMEDIATE, so two distributors (two
 * cron runs, two hosts on one file) serialise on SQLite's write lock instead of racing.
 */
import type { FailureInfo, ProviderName } from '../core/failure.js';
import { THROTTLE_WINDOW_MS, planThrottle } from '../core/throttle.js';
import type { SqliteDatabase } from './db.js';
import { HAS_RECIPIENT_SQL } from './history.js';
import { INSERT_ATTEMPT_SQL, attachmentPathsOf, attemptParams, fillBodies, toMessageRow, type MessageDbRow, type MessageRow, type MessageStatus } from './messages.js';

import { MESSAGE_STATUSES } from '../core/status.js';

export { MESSAGE_STATUSES } from '../core/status.js';

/**
 * The database's clock, in epoch milliseconds: leases are set and compared on it, in SQL. Distributors
 * on several hosts disagree about the time (a clock 15 minutes ahead would take every valid lease);
 * the database is the one party they all share. A server database uses its own now() here
 * (PostgreSQL: `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`). Due times (backoff,
 * scheduling) stay on the caller's clock: a few seconds early or late there costs nothing. SQLite has
 * no server: its now is the clock of the host running the statement, which is why one SQLite file
 * serves distributors of one host only (locking over a network file system is not safe either).
 */
export const DB_NOW_MS = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

export interface ClaimRequest {
  owner: string;
  /** The caller's clock, for due times; the lease runs on the database's (DB_NOW_MS). */
  now: number;
  leaseMs: number;
  /** How many messages to claim at most. */
  max: number;
  /** Lease owners known to be dead (a distributor on this host whose process is gone): their leases are taken now. */
  deadOwners?: readonly string[];
  /** The provider a message goes through. */
  providerOf(message: MessageRow): ProviderName;
  /** Per-minute limit of a provider; 0 = none. */
  limitOf(provider: ProviderName): number;
}

export interface ClaimedMessage extends MessageRow {
  via: ProviderName;
  /** Sent over the throttle limit after ten deferrals. */
  forcedSend: boolean;
}

export interface ClaimResult {
  claimed: ClaimedMessage[];
  throttled: { id: number; until: number; deferrals: number }[];
  /** Ids whose expired (or dead) lease was taken back before claiming. */
  reclaimed: number[];
  /** For each write applied before the claim: did the database accept it (the lease was the writer's)? */
  beforeAccepted: boolean[];
}

export interface Outcome {
  now: number;
  startedAt: number;
  provider: ProviderName;
  failure?: FailureInfo | null;
  diagnosis?: string | null;
}

export interface GiveBackOptions {
  now: number;
  /** Take back the attempt the claim counted. */
  uncount: boolean;
  reason: string;
  /** What happened to the one message that met the failure. */
  attempt?: { id: number } & Outcome;
}

/** The distributor's writes while it sends, as plain data: they may be applied by another thread. */
export type QueueWrite =
  | { op: 'sent'; id: number; owner: string; forced?: boolean; outcome: Outcome & { messageId?: string; response?: string } }
  | { op: 'deferred'; id: number; owner: string; outcome: Outcome & { dueAt: number; reason: string } }
  | { op: 'failed'; id: number; owner: string; outcome: Outcome }
  | { op: 'giveBack'; owner: string; ids: number[]; opts: GiveBackOptions };

export interface RunRow {
  id: number;
  owner: string;
  host: string;
  pid: number;
  startedAt: number;
  endedAt: number | null;
  sent: number;
  deferred: number;
  failed: number;
  forced: number;
  errorCode: string | null;
  errorMessage: string | null;
  /** Last claim, renewal or write, on the database's clock (null for runs recorded before it was kept). */
  heartbeatAt: number | null;
  leaseMs: number | null;
  /** --watch interval; null for one pass. */
  intervalMs: number | null;
}

/** What one owner's leases still hold: messages in sending, and when the last of those leases runs out. */
export interface HeldLeases {
  count: number;
  /** Database clock, epoch ms; null when none. */
  firstExpiresAt: number | null;
  lastExpiresAt: number | null;
}

export interface RunCounts {
  sent: number;
  deferred: number;
  failed: number;
  forced: number;
}

export type StatusCounts = Record<MessageStatus, number>;

/** Result of an operator action on listed ids: what changed, and the ids refused with the reason. */
export interface BulkResult {
  changed: number[];
  missing: number[];
  refused: { id: number; status: MessageStatus }[];
}

interface RunDbRow {
  id: number;
  owner: string;
  host: string;
  pid: number;
  started_at: number;
  ended_at: number | null;
  sent: number;
  deferred: number;
  failed: number;
  forced: number;
  error_code: string | null;
  error_message: string | null;
  heartbeat_at: number | null;
  lease_ms: number | null;
  interval_ms: number | null;
}

function toRunRow(r: RunDbRow): RunRow {
  return {
    id: r.id,
    owner: r.owner,
    host: r.host,
    pid: r.pid,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    sent: r.sent,
    deferred: r.deferred,
    failed: r.failed,
    forced: r.forced,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    heartbeatAt: r.heartbeat_at ?? null,
    leaseMs: r.lease_ms ?? null,
    intervalMs: r.interval_ms ?? null,
  };
}

export const zeroCounts = (): RunCounts => ({ sent: 0, deferred: 0, failed: 0, forced: 0 });

/** The counts of the writes the database accepted (`accepted[i]` for `writes[i]`). */
export function tallyOf(writes: readonly QueueWrite[], accepted: readonly boolean[], into: RunCounts = zeroCounts()): RunCounts {
  writes.forEach((w, i) => {
    if (!accepted[i]) return;
    if (w.op === 'sent') {
      into.sent++;
      if (w.forced) into.forced++;
    } else if (w.op === 'deferred') into.deferred++;
    else if (w.op === 'failed') into.failed++;
  });
  return into;
}

export function addCounts(into: RunCounts, c: RunCounts): RunCounts {
  into.sent += c.sent;
  into.deferred += c.deferred;
  into.failed += c.failed;
  into.forced += c.forced;
  return into;
}

/** Keeps SQLite's bound-parameter count small for long id lists. */
function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class QueueRepo {
  private readonly claimStmt;
  private readonly reclaimExpiredStmt;
  private readonly windowStmt;
  private readonly recordSendStmt;
  private readonly pruneWindowStmt;
  private readonly throttleDeferStmt;
  private readonly markForcedStmt;
  private readonly sentStmt;
  private readonly deferStmt;
  private readonly failStmt;
  private readonly giveBackStmt;
  private readonly attemptStmt;
  private readonly heartbeatStmt;
  private readonly runCountsStmt;

  constructor(private readonly db: SqliteDatabase) {
    // One statement decides ownership: the subquery picks the due messages, the UPDATE takes them and
    // counts the attempt. Each branch reads the (status, due_at, rowid) index in order and stops at
    // @max, so a claim costs the same with ten or a million messages waiting.
    this.claimStmt = db.prepare(`
      UPDATE messages SET status = 'sending', attempts = attempts + 1, lease_owner = @owner,
        lease_expires_at = ${DB_NOW_MS} + @leaseMs, first_attempt_at = coalesce(first_attempt_at, @now), updated_at = @now
      WHERE id IN (
        SELECT id FROM (
          SELECT * FROM (SELECT id, due_at FROM messages WHERE status = 'pending' AND due_at <= @now ORDER BY due_at, id LIMIT @max)
          UNION ALL
          SELECT * FROM (SELECT id, due_at FROM messages WHERE status = 'deferred' AND due_at <= @now ORDER BY due_at, id LIMIT @max)
        ) ORDER BY due_at, id LIMIT @max)
      RETURNING *`);
    this.reclaimExpiredStmt = db.prepare(`
      UPDATE messages SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = @now,
        deferral_reason = 'lease of ' || lease_owner || ' expired'
      WHERE status = 'sending' AND lease_expires_at <= ${DB_NOW_MS}
      RETURNING id, lease_owner`);
    this.windowStmt = db.prepare('SELECT sent_at FROM throttle_sends WHERE provider = ? AND sent_at > ?').pluck();
    this.recordSendStmt = db.prepare('INSERT INTO throttle_sends (provider, sent_at) VALUES (?, ?)');
    this.pruneWindowStmt = db.prepare('DELETE FROM throttle_sends WHERE sent_at <= ?');
    // A throttle deferral is not a delivery attempt: the claim's count is taken back.
    this.throttleDeferStmt = db.prepare(`
      UPDATE messages SET status = 'deferred', due_at = @until, deferrals = @deferrals, attempts = attempts - 1,
        first_attempt_at = CASE WHEN attempts - 1 = 0 THEN NULL ELSE first_attempt_at END,
        deferral_reason = @reason, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
      WHERE id = @id AND lease_owner = @owner`);
    this.markForcedStmt = db.prepare('UPDATE messages SET forced = 1 WHERE id = ? AND lease_owner = ?');
    this.sentStmt = db.prepare(`
      UPDATE messages SET status = 'sent', sent_at = @now, updated_at = @now, sent_provider = @provider,
        message_id = coalesce(@messageId, message_id), lease_owner = NULL, lease_expires_at = NULL,
        deferral_reason = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner`);
    this.deferStmt = db.prepare(`
      UPDATE messages SET status = 'deferred', due_at = @dueAt, updated_at = @now, last_error = @failure,
        diagnosis = @diagnosis, deferral_reason = @reason, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner`);
    this.failStmt = db.prepare(`
      UPDATE messages SET status = 'failed', updated_at = @now, last_error = @failure, diagnosis = @diagnosis,
        deferral_reason = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner`);
    this.giveBackStmt = db.prepare(`
      UPDATE messages SET status = 'pending', updated_at = @now, lease_owner = NULL, lease_expires_at = NULL,
        attempts = CASE WHEN @uncount = 1 THEN max(attempts - 1, 0) ELSE attempts END,
        first_attempt_at = CASE WHEN @uncount = 1 AND attempts - 1 <= 0 THEN NULL ELSE first_attempt_at END,
        deferral_reason = @reason
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner`);
    this.attemptStmt = db.prepare(INSERT_ATTEMPT_SQL);
    this.heartbeatStmt = db.prepare(`UPDATE distributor_runs SET heartbeat_at = ${DB_NOW_MS} WHERE owner = ?`);
    this.runCountsStmt = db.prepare(`
      UPDATE distributor_runs SET sent = sent + @sent, deferred = deferred + @deferred, failed = failed + @failed,
        forced = forced + @forced, heartbeat_at = ${DB_NOW_MS}
      WHERE owner = @owner`);
  }

  /** The run's counts grow in the transaction that makes them true: they are what the database accepted. */
  private recordRunCounts(writes: readonly QueueWrite[], accepted: readonly boolean[]): void {
    const byOwner = new Map<string, { writes: QueueWrite[]; accepted: boolean[] }>();
    writes.forEach((w, i) => {
      const g = byOwner.get(w.owner) ?? { writes: [], accepted: [] };
      g.writes.push(w);
      g.accepted.push(accepted[i]);
      byOwner.set(w.owner, g);
    });
    for (const [owner, g] of byOwner) {
      const c = tallyOf(g.writes, g.accepted);
      if (c.sent + c.deferred + c.failed > 0) this.runCountsStmt.run({ owner, ...c });
    }
  }

  private recordAttempt(
    messageId: number,
    owner: string,
    outcome: 'sent' | 'deferred' | 'failed' | 'released',
    o: Outcome,
    response?: string | null,
  ): void {
    this.attemptStmt.run(
      attemptParams({
        messageId,
        startedAt: o.startedAt,
        endedAt: o.now,
        provider: o.provider,
        outcome,
        response: response ?? undefined,
        failure: o.failure ?? undefined,
        diagnosis: o.diagnosis ?? null,
        leaseOwner: owner,
      }),
    );
  }

  /**
   * Takes back expired leases, claims up to `max` due messages and reserves their throttle slots, all
   * in one write transaction: parallel distributors see each other's sends in the shared window.
   * `before`: writes applied first, in the same transaction.
   */
  claim(req: ClaimRequest, before: readonly QueueWrite[] = []): ClaimResult {
    const run = this.db.transaction((): ClaimResult => {
      const beforeAccepted = before.map((w) => this.applyIn(w));
      this.recordRunCounts(before, beforeAccepted);
      this.heartbeatStmt.run(req.owner);
      const { now } = req;
      const reclaimed: number[] = [];
      for (const r of this.reclaimExpiredStmt.all({ now }) as { id: number }[]) reclaimed.push(r.id);
      if (req.deadOwners && req.deadOwners.length > 0) {
        for (const owners of chunks(req.deadOwners, 200)) {
          const marks = owners.map(() => '?').join(',');
          const rows = this.db
            .prepare(
              `UPDATE messages SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?,
                 deferral_reason = 'distributor ' || lease_owner || ' died'
               WHERE status = 'sending' AND lease_owner IN (${marks}) RETURNING id`,
            )
            .all(now, ...owners) as { id: number }[];
          for (const r of rows) reclaimed.push(r.id);
        }
      }
      if (req.max <= 0) return { claimed: [], throttled: [], reclaimed, beforeAccepted };
      const rows = fillBodies(this.db, this.claimStmt.all({ owner: req.owner, now, leaseMs: req.leaseMs, max: req.max }) as MessageDbRow[])
        .map(toMessageRow)
        .sort((a, b) => a.dueAt - b.dueAt || a.id - b.id);
      const byProvider = new Map<ProviderName, MessageRow[]>();
      for (const m of rows) {
        const p = req.providerOf(m);
        const list = byProvider.get(p) ?? [];
        list.push(m);
        byProvider.set(p, list);
      }
      const claimed: ClaimedMessage[] = [];
      const throttled: ClaimResult['throttled'] = [];
      let windowUsed = false;
      for (const [provider, messages] of byProvider) {
        const limit = req.limitOf(provider);
        if (limit <= 0) {
          for (const m of messages) claimed.push({ ...m, via: provider, forcedSend: false });
          continue;
        }
        windowUsed = true;
        const window = this.windowStmt.all(provider, now - THROTTLE_WINDOW_MS) as number[];
        const decisions = planThrottle(limit, window, now, messages);
        messages.forEach((m, i) => {
          const d = decisions[i];
          if (d.action === 'send') {
            this.recordSendStmt.run(provider, now);
            if (d.forced) this.markForcedStmt.run(m.id, req.owner);
            claimed.push({ ...m, via: provider, forcedSend: d.forced, forced: d.forced || m.forced });
          } else {
            const deferred = this.throttleDeferStmt.run({
              id: m.id,
              owner: req.owner,
              until: d.until,
              deferrals: d.deferrals,
              now,
              reason: `throttled: ${provider}.perMinuteLimit ${limit} reached (deferral ${d.deferrals})`,
            }).changes;
            if (deferred === 1) throttled.push({ id: m.id, until: d.until, deferrals: d.deferrals });
          }
        });
      }
      if (windowUsed) this.pruneWindowStmt.run(now - THROTTLE_WINDOW_MS);
      if (throttled.length > 0) this.runCountsStmt.run({ owner: req.owner, sent: 0, deferred: throttled.length, failed: 0, forced: 0 });
      return { claimed, throttled, reclaimed, beforeAccepted };
    });
    return run.immediate();
  }

  /** Owners holding leases right now (to spot dead local distributors). */
  leaseOwners(): string[] {
    return this.db.prepare("SELECT DISTINCT lease_owner FROM messages WHERE status = 'sending' AND lease_owner IS NOT NULL").pluck().all() as string[];
  }

  /**
   * Extends the leases `owner` still holds on `ids` to `leaseMs` from now on the database's clock, and
   * returns the ids it renewed. A lease that ran out or passed to another owner is refused: after a
   * pause longer than the lease the message may be someone else's, and renewing it would let two
   * distributors send it.
   */
  renew(owner: string, ids: readonly number[], leaseMs: number, before: readonly QueueWrite[] = []): { renewed: number[]; beforeAccepted: boolean[] } {
    return this.db
      .transaction(() => {
        const beforeAccepted = before.map((w) => this.applyIn(w));
        this.recordRunCounts(before, beforeAccepted);
        this.heartbeatStmt.run(owner);
        const renewed: number[] = [];
        for (const part of chunks(ids)) {
          const rows = this.db
            .prepare(
              `UPDATE messages SET lease_expires_at = ${DB_NOW_MS} + ?
               WHERE status = 'sending' AND lease_owner = ? AND lease_expires_at > ${DB_NOW_MS} AND id IN (${part.map(() => '?').join(',')})
               RETURNING id`,
            )
            .pluck()
            .all(leaseMs, owner, ...part) as number[];
          renewed.push(...rows);
        }
        return { renewed, beforeAccepted };
      })
      .immediate();
  }

  /** One write of the distributor, as plain data (see applyWrites): did the database accept it? */
  private applyIn(w: QueueWrite): boolean {
    switch (w.op) {
      case 'sent':
        return this.sentIn(w.id, w.owner, w.outcome);
      case 'deferred':
        return this.deferredIn(w.id, w.owner, w.outcome);
      case 'failed':
        return this.failedIn(w.id, w.owner, w.outcome);
      case 'giveBack':
        return this.giveBackIn(w.owner, w.ids, w.opts) > 0;
    }
  }

  /**
   * Applies the writes in order in one transaction, each keeping its own lease check, and adds what
   * was accepted to the writer's run. Returns, for each write, whether the database accepted it (a
   * write of a lease that is no longer the writer's changes nothing). No savepoint per write: SQLite
   * copies every page a savepoint touches, which cost more than the writes themselves.
   */
  applyWrites(writes: readonly QueueWrite[]): boolean[] {
    if (writes.length === 0) return [];
    return this.db
      .transaction(() => {
        const accepted = writes.map((w) => this.applyIn(w));
        this.recordRunCounts(writes, accepted);
        return accepted;
      })
      .immediate();
  }

  /** Completes a sent message. False when this owner no longer holds the lease (nothing is written then). */
  markSent(id: number, owner: string, o: Outcome & { messageId?: string; response?: string }): boolean {
    return this.db.transaction(() => this.sentIn(id, owner, o)).immediate();
  }

  private sentIn(id: number, owner: string, o: Outcome & { messageId?: string; response?: string }): boolean {
    const ok = this.sentStmt.run({ id, owner, now: o.now, provider: o.provider, messageId: o.messageId ?? null }).changes === 1;
    if (ok) this.recordAttempt(id, owner, 'sent', o, o.response);
    return ok;
  }

  /** Reschedules after a temporary failure. */
  private deferredIn(id: number, owner: string, o: Outcome & { dueAt: number; reason: string }): boolean {
    const ok =
      this.deferStmt.run({
        id,
        owner,
        now: o.now,
        dueAt: o.dueAt,
        reason: o.reason,
        failure: o.failure ? JSON.stringify(o.failure) : null,
        diagnosis: o.diagnosis ?? null,
      }).changes === 1;
    if (ok) this.recordAttempt(id, owner, 'deferred', o);
    return ok;
  }

  markFailed(id: number, owner: string, o: Outcome): boolean {
    return this.db.transaction(() => this.failedIn(id, owner, o)).immediate();
  }

  private failedIn(id: number, owner: string, o: Outcome): boolean {
    const ok =
      this.failStmt.run({ id, owner, now: o.now, failure: o.failure ? JSON.stringify(o.failure) : null, diagnosis: o.diagnosis ?? null }).changes ===
      1;
    if (ok) this.recordAttempt(id, owner, 'failed', o);
    return ok;
  }

  /**
   * Gives claimed messages back to the queue. `uncount` takes back the attempt the claim counted (the
   * message was never tried, or the run stopped for a reason that is not the message's fault).
   * `attempt` records what happened to the one message that met the failure.
   */
  giveBack(owner: string, ids: readonly number[], opts: GiveBackOptions): number {
    return this.db.transaction(() => this.giveBackIn(owner, ids, opts)).immediate();
  }

  private giveBackIn(owner: string, ids: readonly number[], opts: GiveBackOptions): number {
    let n = 0;
    for (const id of ids) {
      n += this.giveBackStmt.run({ id, owner, now: opts.now, uncount: opts.uncount ? 1 : 0, reason: opts.reason }).changes;
    }
    if (opts.attempt) this.recordAttempt(opts.attempt.id, owner, 'released', opts.attempt);
    return n;
  }

  /** Everything an owner still holds goes back, uncounted (shutdown, or a crash caught in time). */
  giveBackAll(owner: string, now: number, reason: string): number {
    const ids = this.db.prepare("SELECT id FROM messages WHERE status = 'sending' AND lease_owner = ?").pluck().all(owner) as number[];
    return ids.length === 0 ? 0 : this.giveBack(owner, ids, { now, uncount: true, reason });
  }

  // ---- distributor runs -------------------------------------------------------------------------

  /** Records a run. Its counts then grow with the writes the database accepts (applyWrites, claim). */
  startRun(r: { owner: string; host: string; pid: number; now: number; leaseMs?: number; intervalMs?: number | null }): number {
    return Number(
      this.db
        .prepare(`INSERT INTO distributor_runs (owner, host, pid, started_at, heartbeat_at, lease_ms, interval_ms) VALUES (?, ?, ?, ?, ${DB_NOW_MS}, ?, ?)`)
        .run(r.owner, r.host, r.pid, r.now, r.leaseMs ?? null, r.intervalMs ?? null).lastInsertRowid,
    );
  }

  finishRun(runId: number, now: number, error?: { code: string; message: string }): void {
    this.db
      .prepare('UPDATE distributor_runs SET ended_at = ?, error_code = ?, error_message = ? WHERE id = ?')
      .run(now, error?.code ?? null, error?.message ?? null, runId);
  }

  lastRun(): RunRow | null {
    const r = this.db.prepare('SELECT * FROM distributor_runs ORDER BY started_at DESC, id DESC LIMIT 1').get() as RunDbRow | undefined;
    return r ? toRunRow(r) : null;
  }

  runs(limit = 20): RunRow[] {
    return (this.db.prepare('SELECT * FROM distributor_runs ORDER BY started_at DESC, id DESC LIMIT ?').all(limit) as RunDbRow[]).map(toRunRow);
  }

  /** The database's clock now (DB_NOW_MS), which leases and heartbeats are on. */
  dbNow(): number {
    return this.db.prepare(`SELECT ${DB_NOW_MS}`).pluck().get() as number;
  }

  /** What `owner`'s leases still hold. */
  heldBy(owner: string): HeldLeases {
    const r = this.db
      .prepare("SELECT count(*) AS n, min(lease_expires_at) AS first, max(lease_expires_at) AS last FROM messages WHERE status = 'sending' AND lease_owner = ?")
      .get(owner) as { n: number; first: number | null; last: number | null };
    return { count: r.n, firstExpiresAt: r.first, lastExpiresAt: r.last };
  }

  // ---- status -----------------------------------------------------------------------------------

  counts(): StatusCounts {
    const out = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;
    for (const r of this.db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as { status: MessageStatus; n: number }[]) {
      out[r.status] = r.n;
    }
    return out;
  }

  /** Messages still to go: due or waiting or in flight (held ones wait for the operator). */
  remaining(): number {
    return this.db.prepare("SELECT count(*) FROM messages WHERE status IN ('pending','deferred','sending')").pluck().get() as number;
  }

  /** Due now (what a one-pass run would still find). */
  dueCount(now: number): number {
    return this.db.prepare("SELECT count(*) FROM messages WHERE status IN ('pending','deferred') AND due_at <= ?").pluck().get(now) as number;
  }

  /** Seconds the longest-waiting due message has been due; null when nothing is due. */
  oldestDueAgeSec(now: number): number | null {
    const oldest = this.db
      .prepare(
        `SELECT min(d) FROM (
           SELECT min(due_at) AS d FROM messages WHERE status = 'pending' AND due_at <= @now
           UNION ALL SELECT min(due_at) FROM messages WHERE status = 'deferred' AND due_at <= @now)`,
      )
      .pluck()
      .get({ now }) as number | null;
    return oldest === null ? null : Math.max(0, Math.floor((now - oldest) / 1000));
  }

  /** When the next waiting message becomes due (for --watch to sleep just long enough). */
  nextDueAt(): number | null {
    return this.db
      .prepare(
        `SELECT min(d) FROM (
           SELECT min(due_at) AS d FROM messages WHERE status = 'pending'
           UNION ALL SELECT min(due_at) FROM messages WHERE status = 'deferred')`,
      )
      .pluck()
      .get() as number | null;
  }

  list(opts: { status?: MessageStatus; limit: number }): MessageRow[] {
    const rows = opts.status
      ? this.db.prepare('SELECT * FROM messages WHERE status = ? ORDER BY due_at, id LIMIT ?').all(opts.status, opts.limit)
      : this.db
          .prepare("SELECT * FROM messages WHERE status IN ('pending','sending','deferred','held') ORDER BY due_at, id LIMIT ?")
          .all(opts.limit);
    return fillBodies(this.db, rows as MessageDbRow[]).map(toMessageRow);
  }

  // ---- operator actions ---------------------------------------------------------------------------
  // Listed ids are all checked first and changed together, or none is. A filter is evaluated inside the
  // same write transaction as the change, so what is changed is exactly what matched at that moment.

  /**
   * Holds, releases, retries or deletes the selected messages in one transaction; with `dryRun` only
   * reports what would change. Messages being sent are refused, never changed.
   */
  change(action: OperatorAction, selection: OperatorSelection, o: { now: number; dryRun?: boolean }): OperatorChange {
    const rule = OPERATOR_RULES[action];
    const run = this.db.transaction((): OperatorChange => {
      const missing: number[] = [];
      const refused: BulkResult['refused'] = [];
      const chosen: number[] = [];
      if ('ids' in selection) {
        const get = this.db.prepare('SELECT status FROM messages WHERE id = ?').pluck();
        for (const id of selection.ids) {
          const status = get.get(id) as MessageStatus | undefined;
          if (status === undefined) missing.push(id);
          else if (!rule.accepts.includes(status)) refused.push({ id, status });
          else chosen.push(id);
        }
        if (missing.length > 0 || refused.length > 0) return { changed: [], missing, refused, attachmentPaths: [] };
      } else {
        for (const r of this.select(rule.targets, selection.filter)) {
          if (r.status === 'sending') refused.push({ id: r.id, status: r.status });
          else chosen.push(r.id);
        }
      }
      const attachmentPaths = o.dryRun ? [] : this.apply(action, chosen, o.now);
      return { changed: chosen, missing, refused, attachmentPaths };
    });
    // a dry run only reads: it need not wait for, nor block, a distributor's writes
    return o.dryRun ? run.deferred() : run.immediate();
  }

  /** Messages matching the filter among `targets` and those being sent, in id order. */
  private select(targets: readonly MessageStatus[], f: MessageFilter): { id: number; status: MessageStatus }[] {
    const statuses = f.status ? [f.status] : [...targets, 'sending'];
    const args: Record<string, unknown> = Object.fromEntries(statuses.map((st, i) => [`s${i}`, st]));
    const where = [`status IN (${statuses.map((_, i) => `@s${i}`).join(', ')})`];
    if (f.createdBefore !== undefined) {
      where.push('created_at < @before');
      args.before = f.createdBefore;
    }
    if (f.recipient !== undefined) {
      where.push(HAS_RECIPIENT_SQL);
      args.to = f.recipient.toLowerCase();
    }
    return this.db.prepare(`SELECT id, status FROM messages WHERE ${where.join(' AND ')} ORDER BY id`).all(args) as { id: number; status: MessageStatus }[];
  }

  /** Changes the chosen messages; for a delete, returns their attachments' paths (their spooled copies go too). */
  private apply(action: OperatorAction, ids: readonly number[], now: number): string[] {
    const attachmentPaths: string[] = [];
    switch (action) {
      case 'hold': {
        const stmt = this.db.prepare("UPDATE messages SET status = 'held', updated_at = ? WHERE id = ?");
        for (const id of ids) stmt.run(now, id);
        break;
      }
      case 'release': {
        const stmt = this.db.prepare("UPDATE messages SET status = 'pending', due_at = min(due_at, ?), updated_at = ? WHERE id = ?");
        for (const id of ids) stmt.run(now, now, id);
        break;
      }
      case 'retry': {
        // a fresh start: due now, attempts, deferrals and lifetime reset; the last error stays for reference
        const stmt = this.db.prepare(
          `UPDATE messages SET status = 'pending', due_at = ?, updated_at = ?, attempts = 0, deferrals = 0, forced = 0,
             first_attempt_at = NULL, deferral_reason = NULL WHERE id = ?`,
        );
        for (const id of ids) stmt.run(now, now, id);
        break;
      }
      case 'delete': {
        const stmt = this.db.prepare('DELETE FROM messages WHERE id = ? RETURNING attachments').pluck();
        for (const id of ids) {
          const att = stmt.get(id) as string | undefined;
          if (att && att !== '[]') attachmentPaths.push(...attachmentPathsOf(att));
        }
        break;
      }
    }
    return attachmentPaths;
  }

  hold(ids: readonly number[], now: number): BulkResult {
    return this.change('hold', { ids }, { now });
  }

  release(ids: readonly number[], now: number): BulkResult {
    return this.change('release', { ids }, { now });
  }

  retry(ids: readonly number[], now: number): BulkResult {
    return this.change('retry', { ids }, { now });
  }

  /** Deletes messages (and their attempts and bodies); a message being sent cannot be deleted. */
  delete(ids: readonly number[]): OperatorChange {
    return this.change('delete', { ids }, { now: 0 });
  }
}

export type OperatorAction = 'hold' | 'release' | 'retry' | 'delete';

/**
 * Per action: `targets`, the statuses a filter picks (the ones the action really changes), and
 * `accepts`, the statuses a listed id may have (a listed message already in the wished state is fine).
 */
export const OPERATOR_RULES: Record<OperatorAction, { targets: readonly MessageStatus[]; accepts: readonly MessageStatus[] }> = {
  hold: { targets: ['pending', 'deferred'], accepts: ['pending', 'deferred', 'held'] },
  release: { targets: ['held'], accepts: ['held', 'pending'] },
  retry: { targets: ['failed', 'deferred'], accepts: ['failed', 'deferred', 'pending'] },
  delete: { targets: ['pending', 'deferred', 'held', 'sent', 'failed'], accepts: ['pending', 'deferred', 'held', 'sent', 'failed'] },
};

/** Conditions that must all hold. */
export interface MessageFilter {
  status?: MessageStatus;
  /** Epoch ms: only messages created before. */
  createdBefore?: number;
  /** A bare address among To, Cc or Bcc, compared case-insensitively. */
  recipient?: string;
}

export type OperatorSelection = { ids: readonly number[] } | { filter: MessageFilter };

export interface OperatorChange extends BulkResult {
  /** Attachments of deleted messages. */
  attachmentPaths: string[];
}
