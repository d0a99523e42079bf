/**
 * The send governor on SQLite: per-key limits, pauses, leased slots and the sends of the last day
 * (core/governor.ts decides; this file reads and writes). The claim's part runs inside the claim's
 * BEGIN IMMEDIATE transaction, so parallel distributors see each other's sends. Times of sends and
 * pauses are on the caller's clock, as the throttle window's; slot leases on the database's.
 */
import {
  DAY_WINDOW_MS,
  NO_LIMITS,
  deferralReason,
  effectiveLimits,
  keyText,
  mailboxOf,
  planGovernor,
  type GovernorKey,
  type LimitOverrides,
} from '../../core/governor.js';
import type { ProviderName } from '../../core/providers.js';
import { THROTTLE_WINDOW_MS } from '../../core/throttle.js';
import type { ClaimRequest, ClaimResult, ClaimedMessage, GovernorLimitRow, GovernorRepo, GovernorUseRow, MessageRow } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { DB_NOW_MS } from './rows.js';
import type { Transitions } from './transitions.js';

interface LimitDbRow {
  provider: ProviderName;
  mailbox: string;
  per_minute: number | null;
  concurrency: number | null;
  per_day: number | null;
  updated_at: number;
}

const toLimitRow = (r: LimitDbRow): GovernorLimitRow => ({
  provider: r.provider,
  mailbox: r.mailbox,
  perMinute: r.per_minute,
  concurrency: r.concurrency,
  perDay: r.per_day,
  updatedAt: r.updated_at,
});

const recipientsOf = (m: MessageRow) => Math.max(1, m.to.length + m.cc.length + m.bcc.length);

/** The claim's part: which claimed messages go now, per key. */
export class GovernorClaims {
  private readonly limitsStmt;
  private readonly pausesStmt;
  private readonly sendsStmt;
  private readonly recordStmt;
  private readonly pruneStmt;
  private readonly markForcedStmt;

  constructor(
    db: SqliteDatabase,
    private readonly transitions: Transitions,
  ) {
    this.limitsStmt = db.prepare('SELECT * FROM governor_limits');
    this.pausesStmt = db.prepare('SELECT provider, mailbox, until FROM governor_pauses WHERE until > ?');
    this.sendsStmt = db.prepare('SELECT sent_at, recipients FROM governor_sends WHERE provider = ? AND mailbox = ? AND sent_at > ?');
    this.recordStmt = db.prepare('INSERT INTO governor_sends (provider, mailbox, sent_at, recipients) VALUES (?, ?, ?, ?)');
    this.pruneStmt = db.prepare('DELETE FROM governor_sends WHERE sent_at <= ?');
    this.markForcedStmt = db.prepare('UPDATE messages SET forced = 1 WHERE id = ? AND lease_owner = ?');
  }

  /** Decides for `rows` (claimed in this transaction, oldest first); fills `claimed` and `throttled`. */
  planIn(rows: readonly MessageRow[], req: ClaimRequest, claimed: ClaimedMessage[], throttled: ClaimResult['throttled']): void {
    const gov = req.governor!;
    const { now } = req;
    const byKey = new Map<string, { key: GovernorKey; messages: MessageRow[] }>();
    for (const m of rows) {
      const provider = req.providerOf(m);
      const mailbox = mailboxOf(provider, gov.rule, m.from);
      if (mailbox === null) {
        claimed.push({ ...m, via: provider, forcedSend: false });
        continue;
      }
      const key = { provider, mailbox };
      const text = keyText(key);
      const g = byKey.get(text) ?? { key, messages: [] };
      g.messages.push(m);
      byKey.set(text, g);
    }
    if (byKey.size === 0) return;
    const overrides = new Map((this.limitsStmt.all() as LimitDbRow[]).map((r) => [`${r.provider}:${r.mailbox}`, toLimitRow(r)]));
    const pauses = new Map(
      (this.pausesStmt.all(now) as { provider: string; mailbox: string; until: number }[]).map((r) => [
        `${r.provider}:${r.mailbox}`,
        r.until,
      ]),
    );
    let recorded = false;
    for (const [text, { key, messages }] of byKey) {
      const limits = effectiveLimits(gov.defaults[key.provider] ?? NO_LIMITS, overrides.get(text));
      const pausedUntil = pauses.get(text) ?? null;
      const slotLimit = limits.concurrency;
      if (limits.perMinute <= 0 && limits.perDay <= 0 && pausedUntil === null) {
        for (const m of messages) claimed.push({ ...m, via: key.provider, forcedSend: false, governorKey: text, slotLimit });
        continue;
      }
      const since = now - (limits.perDay > 0 ? DAY_WINDOW_MS : THROTTLE_WINDOW_MS);
      const sends = this.sendsStmt.all(key.provider, key.mailbox, since) as { sent_at: number; recipients: number }[];
      const decisions = planGovernor(
        limits,
        {
          window: sends.map((s) => s.sent_at),
          day: limits.perDay > 0 ? sends.map((s) => ({ sentAt: s.sent_at, recipients: s.recipients })) : [],
          pausedUntil,
        },
        now,
        messages.map((m) => ({ deferrals: m.deferrals, recipients: recipientsOf(m) })),
      );
      messages.forEach((m, i) => {
        const d = decisions[i];
        if (d.action === 'send') {
          this.recordStmt.run(key.provider, key.mailbox, now, recipientsOf(m));
          recorded = true;
          if (d.forced) this.markForcedStmt.run(m.id, req.owner);
          claimed.push({ ...m, via: key.provider, forcedSend: d.forced, forced: d.forced || m.forced, governorKey: text, slotLimit });
        } else {
          const reason = deferralReason(text, limits, d);
          if (this.transitions.throttledIn(m.id, req.owner, { until: d.until, deferrals: d.deferrals, now, reason })) {
            throttled.push({ id: m.id, until: d.until, deferrals: d.deferrals });
          }
        }
      });
    }
    if (recorded) this.pruneStmt.run(now - DAY_WINDOW_MS);
  }
}

export class SqliteGovernorRepo implements GovernorRepo {
  constructor(private readonly db: SqliteDatabase) {}

  async limits(): Promise<GovernorLimitRow[]> {
    return (this.db.prepare('SELECT * FROM governor_limits ORDER BY provider, mailbox').all() as LimitDbRow[]).map(toLimitRow);
  }

  async setLimits(key: GovernorKey, limits: Partial<LimitOverrides>, now: number): Promise<void> {
    const v = (k: keyof LimitOverrides) => (k in limits ? 1 : 0);
    this.db
      .prepare(
        `INSERT INTO governor_limits (provider, mailbox, per_minute, concurrency, per_day, updated_at)
         VALUES (@provider, @mailbox, @perMinute, @concurrency, @perDay, @now)
         ON CONFLICT (provider, mailbox) DO UPDATE SET
           per_minute = CASE WHEN @setPerMinute = 1 THEN excluded.per_minute ELSE per_minute END,
           concurrency = CASE WHEN @setConcurrency = 1 THEN excluded.concurrency ELSE concurrency END,
           per_day = CASE WHEN @setPerDay = 1 THEN excluded.per_day ELSE per_day END,
           updated_at = excluded.updated_at`,
      )
      .run({
        ...key,
        perMinute: limits.perMinute ?? null,
        concurrency: limits.concurrency ?? null,
        perDay: limits.perDay ?? null,
        setPerMinute: v('perMinute'),
        setConcurrency: v('concurrency'),
        setPerDay: v('perDay'),
        now,
      });
  }

  async reset(key: GovernorKey): Promise<boolean> {
    return this.db
      .transaction(() => {
        const a = this.db.prepare('DELETE FROM governor_limits WHERE provider = ? AND mailbox = ?').run(key.provider, key.mailbox).changes;
        const b = this.db.prepare('DELETE FROM governor_pauses WHERE provider = ? AND mailbox = ?').run(key.provider, key.mailbox).changes;
        return a + b > 0;
      })
      .immediate();
  }

  async pause(key: GovernorKey, o: { now: number; pauseMs: number; reason: string }): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO governor_pauses (provider, mailbox, until, reason) VALUES (?, ?, ?, ?)
         ON CONFLICT (provider, mailbox) DO UPDATE SET until = max(until, excluded.until),
           reason = CASE WHEN excluded.until >= until THEN excluded.reason ELSE reason END`,
      )
      .run(key.provider, key.mailbox, o.now + o.pauseMs, o.reason);
  }

  async acquireSlot(key: GovernorKey, o: { owner: string; messageId: number; limit: number; leaseMs: number }): Promise<boolean> {
    return this.db
      .transaction(() => {
        this.db
          .prepare(`DELETE FROM governor_slots WHERE provider = ? AND mailbox = ? AND expires_at <= ${DB_NOW_MS}`)
          .run(key.provider, key.mailbox);
        const held = this.db
          .prepare('SELECT count(*) FROM governor_slots WHERE provider = ? AND mailbox = ?')
          .pluck()
          .get(key.provider, key.mailbox) as number;
        if (held >= o.limit) return false;
        this.db
          .prepare(
            `INSERT OR REPLACE INTO governor_slots (provider, mailbox, owner, message_id, expires_at) VALUES (?, ?, ?, ?, ${DB_NOW_MS} + ?)`,
          )
          .run(key.provider, key.mailbox, o.owner, o.messageId, o.leaseMs);
        return true;
      })
      .immediate();
  }

  async releaseSlot(key: GovernorKey, owner: string, messageId: number): Promise<void> {
    this.db
      .prepare('DELETE FROM governor_slots WHERE provider = ? AND mailbox = ? AND owner = ? AND message_id = ?')
      .run(key.provider, key.mailbox, owner, messageId);
  }

  async use(now: number): Promise<GovernorUseRow[]> {
    const rows = this.db
      .prepare(
        `WITH keys AS (
           SELECT provider, mailbox FROM governor_limits
           UNION SELECT provider, mailbox FROM governor_pauses
           UNION SELECT provider, mailbox FROM governor_slots WHERE expires_at > ${DB_NOW_MS}
           UNION SELECT provider, mailbox FROM governor_sends WHERE sent_at > @day)
         SELECT k.provider, k.mailbox,
           (SELECT count(*) FROM governor_sends s WHERE s.provider = k.provider AND s.mailbox = k.mailbox AND s.sent_at > @minute) AS last_minute,
           (SELECT coalesce(sum(recipients), 0) FROM governor_sends s WHERE s.provider = k.provider AND s.mailbox = k.mailbox AND s.sent_at > @day) AS last_day,
           (SELECT count(*) FROM governor_slots t WHERE t.provider = k.provider AND t.mailbox = k.mailbox AND t.expires_at > ${DB_NOW_MS}) AS slots,
           p.until AS paused_until, p.reason AS pause_reason
         FROM keys k LEFT JOIN governor_pauses p ON p.provider = k.provider AND p.mailbox = k.mailbox AND p.until > @now
         ORDER BY k.provider, k.mailbox`,
      )
      .all({ now, minute: now - THROTTLE_WINDOW_MS, day: now - DAY_WINDOW_MS }) as {
      provider: ProviderName;
      mailbox: string;
      last_minute: number;
      last_day: number;
      slots: number;
      paused_until: number | null;
      pause_reason: string | null;
    }[];
    return rows.map((r) => ({
      provider: r.provider,
      mailbox: r.mailbox,
      lastMinute: r.last_minute,
      last24hRecipients: r.last_day,
      slots: r.slots,
      pausedUntil: r.paused_until,
      pauseReason: r.pause_reason,
    }));
  }
}
