/**
 * Claims and leases: the one statement that takes due messages into `sending` under a lease, the
 * shared per-minute throttle window, renewals, and what leases are held. Every write that decides who
 * owns a message runs inside BEGIN IMMEDIATE, so two distributors (two cron runs, two processes on one
 * file) serialise on SQLite's write lock instead of racing.
 */
import { EXPIRED_FAILURE, EXPIRED_REASON } from '../../core/delivery.js';
import type { ProviderName } from '../../core/failure.js';
import { THROTTLE_WINDOW_MS, planThrottle } from '../../core/throttle.js';
import type { ClaimRequest, ClaimResult, ClaimedMessage, HeldLeases, MessageRow, QueueWrite } from '../ports.js';
import { claimOrder } from '../rules.js';
import type { SqliteDatabase } from '../db.js';
import { DB_NOW_MS, chunks, fillBodies, toMessageRow, type MessageDbRow } from './rows.js';
import { failSuppressed } from './suppressed-claims.js';
import { GovernorClaims } from './governor.js';
import type { Transitions } from './transitions.js';

const EXPIRED_JSON = JSON.stringify(EXPIRED_FAILURE);

export class Claims {
  private readonly claimStmt;
  private readonly expireStmt;
  private readonly windowStmt;
  private readonly recordSendStmt;
  private readonly pruneWindowStmt;
  private readonly markForcedStmt;
  private readonly heartbeatStmt;
  private governorClaims?: GovernorClaims;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly transitions: Transitions,
  ) {
    // One statement decides ownership: the subquery picks the due messages, the UPDATE takes them and
    // counts the attempt. Each branch (a status and a priority) reads the (status, priority, due_at,
    // rowid) index in order and stops at @max, so a claim costs the same with ten or a million
    // messages waiting; the highest priority goes first, then the oldest due.
    const branches = (['pending', 'deferred'] as const).flatMap((status) =>
      [1, 0, -1].map(
        (rank) =>
          `SELECT * FROM (SELECT id, priority, due_at FROM messages WHERE status = '${status}' AND priority = ${rank} AND due_at <= @now ORDER BY due_at, id LIMIT @max)`,
      ),
    );
    this.claimStmt = db.prepare(`
      UPDATE messages SET status = 'sending', attempts = attempts + 1, lease_owner = @owner,
        lease_expires_at = ${DB_NOW_MS} + @leaseMs, first_attempt_at = coalesce(first_attempt_at, @now), updated_at = @now
      WHERE id IN (
        SELECT id FROM (${branches.join(' UNION ALL ')}) ORDER BY priority DESC, due_at, id LIMIT @max)
      RETURNING *`);
    // a due message past its expiry is failed, never sent late. messages_expiring holds only the waiting
    // messages that have an expiry; named, because without statistics SQLite would scan every pending one
    this.expireStmt = db.prepare(`
      UPDATE messages INDEXED BY messages_expiring SET status = 'failed', updated_at = @now, deferral_reason = '${EXPIRED_REASON}', last_error = @failure,
        diagnosis = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE expires_at <= @now AND status IN ('pending', 'deferred')
      RETURNING id`);
    this.windowStmt = db.prepare('SELECT sent_at FROM throttle_sends WHERE provider = ? AND sent_at > ?').pluck();
    this.recordSendStmt = db.prepare('INSERT INTO throttle_sends (provider, sent_at) VALUES (?, ?)');
    this.pruneWindowStmt = db.prepare('DELETE FROM throttle_sends WHERE sent_at <= ?');
    this.markForcedStmt = db.prepare('UPDATE messages SET forced = 1 WHERE id = ? AND lease_owner = ?');
    this.heartbeatStmt = db.prepare(`UPDATE distributor_runs SET heartbeat_at = ${DB_NOW_MS} WHERE owner = ?`);
  }

  /**
   * Takes back expired leases, claims up to `max` due messages and reserves their throttle slots, all
   * in one write transaction: parallel distributors see each other's sends in the shared window.
   * `before`: writes applied first, in the same transaction.
   */
  claim(req: ClaimRequest, before: readonly QueueWrite[] = []): ClaimResult {
    const run = this.db.transaction((): ClaimResult => {
      const beforeAccepted = this.transitions.applyAllIn(before);
      this.heartbeatStmt.run(req.owner);
      const { now } = req;
      const reclaimed = this.transitions.reclaimIn(now, req.deadOwners);
      if (req.max <= 0) return { claimed: [], throttled: [], reclaimed, beforeAccepted };
      const expired = this.expireStmt.pluck().all({ now, failure: EXPIRED_JSON }) as number[];
      this.transitions.countFailed(req.owner, expired.length);
      const taken = fillBodies(this.db, this.claimStmt.all({ owner: req.owner, now, leaseMs: req.leaseMs, max: req.max }) as MessageDbRow[])
        .map(toMessageRow)
        .sort(claimOrder);
      const { rows, suppressed } = failSuppressed(this.transitions, taken, req);
      if (req.governor) {
        const claimed: ClaimedMessage[] = [];
        const throttled: ClaimResult['throttled'] = [];
        (this.governorClaims ??= new GovernorClaims(this.db, this.transitions)).planIn(rows, req, claimed, throttled);
        this.transitions.countThrottled(req.owner, throttled.length);
        return { claimed, throttled, reclaimed, beforeAccepted, expired, ...(suppressed.length > 0 ? { suppressed } : {}) };
      }
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
            const reason = `throttled: ${provider}.perMinuteLimit ${limit} reached (deferral ${d.deferrals})`;
            if (this.transitions.throttledIn(m.id, req.owner, { until: d.until, deferrals: d.deferrals, now, reason })) {
              throttled.push({ id: m.id, until: d.until, deferrals: d.deferrals });
            }
          }
        });
      }
      if (windowUsed) this.pruneWindowStmt.run(now - THROTTLE_WINDOW_MS);
      this.transitions.countThrottled(req.owner, throttled.length);
      return { claimed, throttled, reclaimed, beforeAccepted, expired, ...(suppressed.length > 0 ? { suppressed } : {}) };
    });
    return run.immediate();
  }

  /**
   * Extends the leases `owner` still holds on `ids` to `leaseMs` from now on the database's clock, and
   * returns the ids it renewed. A lease that ran out or passed to another owner is refused: after a
   * pause longer than the lease the message may be someone else's, and renewing it would let two
   * distributors send it.
   */
  renew(
    owner: string,
    ids: readonly number[],
    leaseMs: number,
    before: readonly QueueWrite[] = [],
  ): { renewed: number[]; beforeAccepted: boolean[] } {
    return this.db
      .transaction(() => {
        const beforeAccepted = this.transitions.applyAllIn(before);
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

  /** Everything an owner still holds goes back, uncounted (shutdown, or a crash caught in time). */
  giveBackAll(owner: string, now: number, reason: string): number {
    return this.db
      .transaction(() => {
        this.transitions.recordOwnMarksIn(owner, now);
        const ids = this.db.prepare("SELECT id FROM messages WHERE status = 'sending' AND lease_owner = ?").pluck().all(owner) as number[];
        return ids.length === 0 ? 0 : this.transitions.giveBackIn(owner, ids, { now, uncount: true, reason });
      })
      .immediate();
  }

  /** Owners holding leases right now (to spot dead local distributors). */
  leaseOwners(): string[] {
    return this.db
      .prepare("SELECT DISTINCT lease_owner FROM messages WHERE status = 'sending' AND lease_owner IS NOT NULL")
      .pluck()
      .all() as string[];
  }

  /** What `owner`'s leases still hold. */
  heldBy(owner: string): HeldLeases {
    const r = this.db
      .prepare(
        "SELECT count(*) AS n, min(lease_expires_at) AS first, max(lease_expires_at) AS last FROM messages WHERE status = 'sending' AND lease_owner = ?",
      )
      .get(owner) as { n: number; first: number | null; last: number | null };
    return { count: r.n, firstExpiresAt: r.first, lastExpiresAt: r.last };
  }

  /** The database's clock now (DB_NOW_MS), which leases and heartbeats are on. */
  dbNow(): number {
    return this.db.prepare(`SELECT ${DB_NOW_MS}`).pluck().get() as number;
  }
}
