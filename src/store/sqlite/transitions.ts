/**
 * The one SQL path for every status transition out of `sending`: a distributor's and a direct send's
 * completion (sent, failed), a temporary failure or a throttle deferral (deferred), giving a claim back
 * and taking back expired or dead leases (pending). Each is accepted only from the lease owner of a
 * message still in sending, for the claim it was made under (the attempt count is the fencing token);
 * the attempt is recorded in the same statement batch, only when accepted.
 * Callers run these inside their write transaction (BEGIN IMMEDIATE).
 */
import type { GiveBackOptions, Outcome, QueueWrite } from '../ports.js';
import { tallyOf } from '../rules.js';
import type { SqliteDatabase } from '../db.js';
import { DB_NOW_MS, INSERT_ATTEMPT_SQL, attemptParams, chunks } from './rows.js';
import { SentMarks } from './sent-marks.js';
import { SuppressionWrites } from './suppressions.js';

export class Transitions {
  private readonly sentStmt;
  private readonly deferStmt;
  private readonly failStmt;
  private readonly holdStmt;
  private readonly giveBackStmt;
  private readonly throttleDeferStmt;
  private readonly reclaimExpiredStmt;
  private readonly attemptStmt;
  private readonly runCountsStmt;
  private readonly expiredOrDeadStmt;
  private readonly markedSentStmt;
  private readonly recoveredForStmt;
  private suppressionWrites?: SuppressionWrites;
  /** The database's sent marks, once their file exists (sent-marks.ts). */
  private marks?: SentMarks;

  constructor(private readonly db: SqliteDatabase) {
    this.sentStmt = db.prepare(`
      UPDATE messages SET status = 'sent', sent_at = @now, updated_at = @now, sent_provider = @provider,
        message_id = coalesce(@messageId, message_id), lease_owner = NULL, lease_expires_at = NULL,
        deferral_reason = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner AND attempts = @attempt`);
    this.deferStmt = db.prepare(`
      UPDATE messages SET status = 'deferred', due_at = @dueAt, updated_at = @now, last_error = @failure,
        diagnosis = @diagnosis, deferral_reason = @reason, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner AND attempts = @attempt`);
    this.failStmt = db.prepare(`
      UPDATE messages SET status = 'failed', updated_at = @now, last_error = @failure, diagnosis = @diagnosis,
        deferral_reason = @reason, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner AND attempts = @attempt`);
    this.holdStmt = db.prepare(`
      UPDATE messages SET status = 'held', updated_at = @now, last_error = @failure, diagnosis = @diagnosis,
        deferral_reason = @reason, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner AND attempts = @attempt`);
    this.giveBackStmt = db.prepare(`
      UPDATE messages SET status = 'pending', updated_at = @now, lease_owner = NULL, lease_expires_at = NULL,
        attempts = CASE WHEN @uncount = 1 THEN max(attempts - 1, 0) ELSE attempts END,
        first_attempt_at = CASE WHEN @uncount = 1 AND attempts - 1 <= 0 THEN NULL ELSE first_attempt_at END,
        deferral_reason = @reason
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner AND (@attempt IS NULL OR attempts = @attempt)`);
    // A throttle deferral is not a delivery attempt: the claim's count is taken back.
    this.throttleDeferStmt = db.prepare(`
      UPDATE messages SET status = 'deferred', due_at = @until, deferrals = @deferrals, attempts = attempts - 1,
        first_attempt_at = CASE WHEN attempts - 1 = 0 THEN NULL ELSE first_attempt_at END,
        deferral_reason = @reason, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner`);
    this.reclaimExpiredStmt = db.prepare(`
      UPDATE messages SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = @now,
        deferral_reason = 'lease of ' || lease_owner || ' expired'
      WHERE status = 'sending' AND lease_expires_at <= ${DB_NOW_MS}
      RETURNING id, lease_owner`);
    this.expiredOrDeadStmt = db.prepare(`
      SELECT id, lease_owner AS owner, attempts FROM messages
      WHERE status = 'sending' AND (lease_expires_at <= ${DB_NOW_MS} OR lease_owner IN (SELECT value FROM json_each(@dead)))`);
    // the holder stays named on the message until its own record comes (sentIn), unless it is dead
    this.markedSentStmt = db.prepare(`
      UPDATE messages SET status = 'sent', sent_at = @sentAt, updated_at = @now, sent_provider = @provider,
        lease_owner = CASE WHEN @dead = 1 THEN NULL ELSE lease_owner END, lease_expires_at = NULL, deferral_reason = NULL
      WHERE id = @id AND status = 'sending' AND lease_owner = @owner AND attempts = @attempt`);
    // a message a claim recorded sent from this owner's mark, for this claim (reclaimIn): the owner's
    // record is accepted once, adding no second attempt
    this.recoveredForStmt = db.prepare(`
      UPDATE messages SET lease_owner = NULL
      WHERE id = @id AND status = 'sent' AND lease_owner = @owner AND attempts = @attempt`);
    this.attemptStmt = db.prepare(INSERT_ATTEMPT_SQL);
    this.runCountsStmt = db.prepare(`
      UPDATE distributor_runs SET sent = sent + @sent, deferred = deferred + @deferred, failed = failed + @failed,
        forced = forced + @forced, heartbeat_at = ${DB_NOW_MS}
      WHERE owner = @owner`);
  }

  /**
   * Applies the writes in order in one transaction, each keeping its own lease check, and adds what
   * was accepted to the writer's run. Returns, for each write, whether the database accepted it (a
   * write of a lease that is no longer the writer's changes nothing). No savepoint per write: SQLite
   * copies every page a savepoint touches, which cost more than the writes themselves.
   */
  applyWrites(writes: readonly QueueWrite[]): boolean[] {
    if (writes.length === 0) return [];
    return this.db.transaction(() => this.applyAllIn(writes)).immediate();
  }

  /** applyWrites inside a transaction the caller holds (a claim's or renewal's `before`). */
  applyAllIn(writes: readonly QueueWrite[]): boolean[] {
    const accepted = writes.map((w) => this.applyIn(w));
    this.recordRunCounts(writes, accepted);
    return accepted;
  }

  /** The suppression list, as the queue's transactions write it. */
  get suppressions(): SuppressionWrites {
    return (this.suppressionWrites ??= new SuppressionWrites(this.db));
  }

  /** One write, as plain data: did the database accept it? Refused recipients go on the list with it. */
  private applyIn(w: QueueWrite): boolean {
    const ok = this.applyOne(w);
    if (ok && (w.op === 'sent' || w.op === 'failed') && w.suppress?.length) this.suppressions.addIn(w.suppress, w.outcome.now);
    return ok;
  }

  private applyOne(w: QueueWrite): boolean {
    switch (w.op) {
      case 'sent':
        return this.sentIn(w.id, w.owner, w.attempt, w.outcome);
      case 'deferred':
        return this.deferredIn(w.id, w.owner, w.attempt, w.outcome);
      case 'failed':
        return this.failedIn(w.id, w.owner, w.attempt, w.outcome);
      case 'held':
        return this.heldIn(w.id, w.owner, w.attempt, w.outcome);
      case 'giveBack':
        return this.giveBackIn(w.owner, w.ids, w.opts, w.attempts) > 0;
    }
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

  /** Adds the messages a claim failed as expired to the claiming run. */
  countFailed(owner: string, n: number): void {
    if (n > 0) this.runCountsStmt.run({ owner, sent: 0, deferred: 0, failed: n, forced: 0 });
  }

  /** Adds deferrals a claim's throttling made to the claiming run. */
  countThrottled(owner: string, n: number): void {
    if (n > 0) this.runCountsStmt.run({ owner, sent: 0, deferred: n, failed: 0, forced: 0 });
  }

  private recordAttempt(
    messageId: number,
    owner: string,
    outcome: 'sent' | 'deferred' | 'failed' | 'released' | 'held',
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

  private sentIn(id: number, owner: string, attempt: number, o: Outcome & { messageId?: string; response?: string }): boolean {
    const ok = this.sentStmt.run({ id, owner, attempt, now: o.now, provider: o.provider, messageId: o.messageId ?? null }).changes === 1;
    if (ok) this.recordAttempt(id, owner, 'sent', o, o.response);
    // a claim found this run's lease run out and recorded the message from its mark: it is this run's
    // send, counted once, here
    return ok || this.recoveredForStmt.run({ id, owner, attempt }).changes === 1;
  }

  /** Reschedules after a temporary failure. */
  private deferredIn(id: number, owner: string, attempt: number, o: Outcome & { dueAt: number; reason: string }): boolean {
    const ok =
      this.deferStmt.run({
        id,
        owner,
        attempt,
        now: o.now,
        dueAt: o.dueAt,
        reason: o.reason,
        failure: o.failure ? JSON.stringify(o.failure) : null,
        diagnosis: o.diagnosis ?? null,
      }).changes === 1;
    if (ok) this.recordAttempt(id, owner, 'deferred', o);
    return ok;
  }

  private failedIn(id: number, owner: string, attempt: number, o: Outcome & { reason?: string }): boolean {
    const failure = o.failure ? JSON.stringify(o.failure) : null;
    const ok =
      this.failStmt.run({ id, owner, attempt, now: o.now, failure, diagnosis: o.diagnosis ?? null, reason: o.reason ?? null }).changes ===
      1;
    if (ok) this.recordAttempt(id, owner, 'failed', o);
    return ok;
  }

  /** Held for the operator, with the failure that left its outcome unknown. */
  private heldIn(id: number, owner: string, attempt: number, o: Outcome & { reason: string }): boolean {
    const ok =
      this.holdStmt.run({
        id,
        owner,
        attempt,
        now: o.now,
        reason: o.reason,
        failure: o.failure ? JSON.stringify(o.failure) : null,
        diagnosis: o.diagnosis ?? null,
      }).changes === 1;
    if (ok) this.recordAttempt(id, owner, 'held', o);
    return ok;
  }

  /**
   * Gives claimed messages back to the queue. `uncount` takes back the attempt the claim counted (the
   * message was never tried, or the run stopped for a reason that is not the message's fault).
   * `attempt` records what happened to the one message that met the failure. `attempts[i]`: the claim's
   * attempt count of `ids[i]`; without it (a run giving back all it holds) every lease of `owner` goes.
   */
  giveBackIn(owner: string, ids: readonly number[], opts: GiveBackOptions, attempts?: readonly number[]): number {
    let n = 0;
    for (const [i, id] of ids.entries()) {
      const attempt = attempts ? attempts[i] : null;
      n += this.giveBackStmt.run({ id, owner, attempt, now: opts.now, uncount: opts.uncount ? 1 : 0, reason: opts.reason }).changes;
    }
    if (opts.attempt) this.recordAttempt(opts.attempt.id, owner, 'released', opts.attempt);
    return n;
  }

  /**
   * Before a run gives back all it holds (it stops on an error): the messages it marked sent are
   * recorded sent for it, never given back for sending again.
   */
  recordOwnMarksIn(owner: string, now: number): void {
    const sentMarks = (this.marks ??= SentMarks.open(this.db.name, false));
    if (sentMarks) this.recordMarkedIn(sentMarks, now, [owner]);
  }

  close(): void {
    this.marks?.close();
    this.marks = undefined;
  }

  /** Throttled at claim time: deferred until `until`, the claim's attempt taken back. */
  throttledIn(id: number, owner: string, d: { until: number; deferrals: number; now: number; reason: string }): boolean {
    return this.throttleDeferStmt.run({ id, owner, ...d }).changes === 1;
  }

  /**
   * Takes back expired leases and those of dead owners; returns their ids. A message its lease holder
   * marked sent (sent-marks.ts) is recorded sent instead, never taken back for sending.
   */
  reclaimIn(now: number, deadOwners: readonly string[] = []): number[] {
    const sentMarks = (this.marks ??= SentMarks.open(this.db.name, false));
    if (sentMarks) this.recordMarkedIn(sentMarks, now, deadOwners);
    const reclaimed: number[] = [];
    for (const r of this.reclaimExpiredStmt.all({ now }) as { id: number }[]) reclaimed.push(r.id);
    for (const owners of chunks(deadOwners, 200)) {
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
    return reclaimed;
  }

  /**
   * The messages of expired or dead leases that their holder marked sent under that very claim: sent,
   * recorded so for the holder. A run that goes on finds its record accepted (sentIn); a dead one's
   * run row is credited here.
   */
  private recordMarkedIn(marks: SentMarks, now: number, deadOwners: readonly string[]): void {
    const dead = new Set(deadOwners);
    const held = this.expiredOrDeadStmt.all({ dead: JSON.stringify(deadOwners) }) as { id: number; owner: string; attempts: number }[];
    for (const r of held) {
      const m = marks.get(r.id, r.owner, r.attempts);
      if (!m) continue;
      const dead1 = dead.has(m.owner) ? 1 : 0;
      const params = { id: m.id, owner: m.owner, attempt: m.attempt, sentAt: m.sentAt, provider: m.provider, now, dead: dead1 };
      if (this.markedSentStmt.run(params).changes !== 1) continue;
      const at = { now: m.sentAt, startedAt: m.sentAt, provider: m.provider as Outcome['provider'] };
      this.recordAttempt(m.id, m.owner, 'sent', at, m.response);
      if (dead.has(m.owner)) this.runCountsStmt.run({ owner: m.owner, sent: 1, deferred: 0, failed: 0, forced: 0 });
    }
    for (const owner of deadOwners) marks.dropOwner(owner);
  }
}
