/**
 * The send governor on PostgreSQL: the same tables and decisions as on SQLite (core/governor.ts),
 * shared by every host. A claim counts each key's sends under a transaction-scoped advisory lock of
 * that key, taken in a fixed order, so two hosts never both fill one window. Sends, pauses and slot
 * leases are all on the database's clock, which every host shares; due times stay on the caller's.
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
import { DB_NOW_MS, LOCK_CLASS, type PgDatabase, type Prepared } from './db.js';
import { throttledIn } from './transitions.js';
import type pg from 'pg';

/** Advisory lock class of the governor's keys; the key is the hash of `provider:mailbox`. */
export const GOVERNOR_LOCK_CLASS = LOCK_CLASS + 2;

type Client = Pick<pg.PoolClient, 'query'>;

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

interface PauseDbRow {
  provider: string;
  mailbox: string;
  until: number;
}

/** What a claim's governing reads: the database's clock, every key's limits and the pauses in force. */
export interface GovernorState {
  now: number;
  limits: LimitDbRow[];
  pauses: PauseDbRow[];
}

/**
 * The GovernorState as one json value (a scalar subquery): the claim statement answers it with the
 * claimed messages, so governing them costs no round trip of its own.
 */
export const GOVERNOR_STATE_JSON = `
  SELECT json_build_object('now', t.now,
    'limits', (SELECT coalesce(json_agg(l), '[]'::json) FROM governor_limits l),
    'pauses', (SELECT coalesce(json_agg(json_build_object('provider', p.provider, 'mailbox', p.mailbox, 'until', p.until)), '[]'::json)
      FROM governor_pauses p WHERE p.until > t.now))
  FROM (SELECT ${DB_NOW_MS} AS now) AS t`;

const GOVERNOR_STATE: Prepared = { name: 'sysemail_governor_state', text: `SELECT (${GOVERNOR_STATE_JSON}) AS state` };

const recipientsOf = (m: MessageRow) => Math.max(1, m.to.length + m.cc.length + m.bcc.length);

/** The claim's part, inside the claim's transaction: which claimed messages go now, per key. */
export async function governIn(
  c: Client,
  rows: readonly MessageRow[],
  req: ClaimRequest,
  claimed: ClaimedMessage[],
  throttled: ClaimResult['throttled'],
  known?: GovernorState,
): Promise<void> {
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
  const state = known ?? (await c.query<{ state: GovernorState }>(GOVERNOR_STATE)).rows[0].state;
  const dbNow = state.now;
  const overrides = new Map(state.limits.map((r) => [`${r.provider}:${r.mailbox}`, toLimitRow(r)]));
  const pauses = new Map(state.pauses.map((r) => [`${r.provider}:${r.mailbox}`, r.until]));
  // keys in a fixed order: two hosts locking two keys never wait on each other crosswise
  for (const text of [...byKey.keys()].sort()) {
    const { key, messages } = byKey.get(text)!;
    const limits = effectiveLimits(gov.defaults[key.provider] ?? NO_LIMITS, overrides.get(text));
    const pausedUntil = pauses.get(text) ?? null;
    const slotLimit = limits.concurrency;
    if (limits.perMinute <= 0 && limits.perDay <= 0 && pausedUntil === null) {
      for (const m of messages) claimed.push({ ...m, via: key.provider, forcedSend: false, governorKey: text, slotLimit });
      continue;
    }
    await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [GOVERNOR_LOCK_CLASS, text]);
    const since = dbNow - (limits.perDay > 0 ? DAY_WINDOW_MS : THROTTLE_WINDOW_MS);
    const sends = (
      await c.query<{ sent_at: number; recipients: number }>(
        'SELECT sent_at, recipients FROM governor_sends WHERE provider = $1 AND mailbox = $2 AND sent_at > $3',
        [key.provider, key.mailbox, since],
      )
    ).rows;
    const decisions = planGovernor(
      limits,
      {
        window: sends.map((s) => s.sent_at),
        day: limits.perDay > 0 ? sends.map((s) => ({ sentAt: s.sent_at, recipients: s.recipients })) : [],
        pausedUntil,
      },
      dbNow,
      messages.map((m) => ({ deferrals: m.deferrals, recipients: recipientsOf(m) })),
    );
    const recorded: number[] = [];
    for (const [i, m] of messages.entries()) {
      const d = decisions[i];
      if (d.action === 'send') {
        recorded.push(recipientsOf(m));
        if (d.forced) await c.query('UPDATE messages SET forced = true WHERE id = $1 AND lease_owner = $2', [m.id, req.owner]);
        claimed.push({ ...m, via: key.provider, forcedSend: d.forced, forced: d.forced || m.forced, governorKey: text, slotLimit });
      } else {
        const until = d.until - dbNow + now;
        const reason = deferralReason(text, limits, d);
        if (await throttledIn(c, m.id, req.owner, { until, deferrals: d.deferrals, now, reason })) {
          throttled.push({ id: m.id, until, deferrals: d.deferrals });
        }
      }
    }
    if (recorded.length > 0) {
      await c.query(
        'INSERT INTO governor_sends (provider, mailbox, sent_at, recipients) SELECT $1, $2, $3, r FROM unnest($4::int[]) AS r',
        [key.provider, key.mailbox, dbNow, recorded],
      );
      await c.query('DELETE FROM governor_sends WHERE provider = $1 AND mailbox = $2 AND sent_at <= $3', [
        key.provider,
        key.mailbox,
        dbNow - DAY_WINDOW_MS,
      ]);
    }
  }
}

export class PgGovernorRepo implements GovernorRepo {
  constructor(private readonly db: PgDatabase) {}

  async limits(): Promise<GovernorLimitRow[]> {
    return (await this.db.query<LimitDbRow>('SELECT * FROM governor_limits ORDER BY provider, mailbox')).map(toLimitRow);
  }

  async setLimits(key: GovernorKey, limits: Partial<LimitOverrides>, now: number): Promise<void> {
    await this.db.query(
      `INSERT INTO governor_limits (provider, mailbox, per_minute, concurrency, per_day, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (provider, mailbox) DO UPDATE SET
         per_minute = CASE WHEN $7 THEN excluded.per_minute ELSE governor_limits.per_minute END,
         concurrency = CASE WHEN $8 THEN excluded.concurrency ELSE governor_limits.concurrency END,
         per_day = CASE WHEN $9 THEN excluded.per_day ELSE governor_limits.per_day END,
         updated_at = excluded.updated_at`,
      [
        key.provider,
        key.mailbox,
        limits.perMinute ?? null,
        limits.concurrency ?? null,
        limits.perDay ?? null,
        now,
        'perMinute' in limits,
        'concurrency' in limits,
        'perDay' in limits,
      ],
    );
  }

  async reset(key: GovernorKey): Promise<boolean> {
    return this.db.tx(async (c) => {
      const a = await c.query('DELETE FROM governor_limits WHERE provider = $1 AND mailbox = $2', [key.provider, key.mailbox]);
      const b = await c.query('DELETE FROM governor_pauses WHERE provider = $1 AND mailbox = $2', [key.provider, key.mailbox]);
      return (a.rowCount ?? 0) + (b.rowCount ?? 0) > 0;
    });
  }

  async pause(key: GovernorKey, o: { now: number; pauseMs: number; reason: string }): Promise<void> {
    await this.db.query(
      `INSERT INTO governor_pauses (provider, mailbox, until, reason) VALUES ($1, $2, ${DB_NOW_MS} + $3, $4)
       ON CONFLICT (provider, mailbox) DO UPDATE SET until = greatest(governor_pauses.until, excluded.until),
         reason = CASE WHEN excluded.until >= governor_pauses.until THEN excluded.reason ELSE governor_pauses.reason END`,
      [key.provider, key.mailbox, o.pauseMs, o.reason],
    );
  }

  async acquireSlot(key: GovernorKey, o: { owner: string; messageId: number; limit: number; leaseMs: number }): Promise<boolean> {
    return this.db.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [GOVERNOR_LOCK_CLASS + 1, keyText(key)]);
      await c.query(`DELETE FROM governor_slots WHERE provider = $1 AND mailbox = $2 AND expires_at <= ${DB_NOW_MS}`, [
        key.provider,
        key.mailbox,
      ]);
      const held = Number(
        (
          await c.query<{ n: string }>('SELECT count(*) AS n FROM governor_slots WHERE provider = $1 AND mailbox = $2', [
            key.provider,
            key.mailbox,
          ])
        ).rows[0].n,
      );
      if (held >= o.limit) return false;
      await c.query(
        `INSERT INTO governor_slots (provider, mailbox, owner, message_id, expires_at) VALUES ($1, $2, $3, $4, ${DB_NOW_MS} + $5)
         ON CONFLICT (provider, mailbox, owner, message_id) DO UPDATE SET expires_at = excluded.expires_at`,
        [key.provider, key.mailbox, o.owner, o.messageId, o.leaseMs],
      );
      return true;
    });
  }

  async releaseSlot(key: GovernorKey, owner: string, messageId: number): Promise<void> {
    await this.db.query('DELETE FROM governor_slots WHERE provider = $1 AND mailbox = $2 AND owner = $3 AND message_id = $4', [
      key.provider,
      key.mailbox,
      owner,
      messageId,
    ]);
  }

  async use(): Promise<GovernorUseRow[]> {
    const rows = await this.db.query<{
      provider: ProviderName;
      mailbox: string;
      last_minute: string;
      last_day: string;
      slots: string;
      paused_until: number | null;
      pause_reason: string | null;
    }>(
      `WITH t AS (SELECT ${DB_NOW_MS} AS now),
       keys AS (
         SELECT provider, mailbox FROM governor_limits
         UNION SELECT provider, mailbox FROM governor_pauses
         UNION SELECT provider, mailbox FROM governor_slots, t WHERE expires_at > t.now
         UNION SELECT provider, mailbox FROM governor_sends, t WHERE sent_at > t.now - $1)
       SELECT k.provider, k.mailbox,
         (SELECT count(*) FROM governor_sends s WHERE s.provider = k.provider AND s.mailbox = k.mailbox AND s.sent_at > t.now - $2) AS last_minute,
         (SELECT coalesce(sum(recipients), 0) FROM governor_sends s WHERE s.provider = k.provider AND s.mailbox = k.mailbox AND s.sent_at > t.now - $1) AS last_day,
         (SELECT count(*) FROM governor_slots g WHERE g.provider = k.provider AND g.mailbox = k.mailbox AND g.expires_at > t.now) AS slots,
         p.until AS paused_until, p.reason AS pause_reason
       FROM keys k CROSS JOIN t LEFT JOIN governor_pauses p ON p.provider = k.provider AND p.mailbox = k.mailbox AND p.until > t.now
       ORDER BY k.provider, k.mailbox`,
      [DAY_WINDOW_MS, THROTTLE_WINDOW_MS],
    );
    return rows.map((r) => ({
      provider: r.provider,
      mailbox: r.mailbox,
      lastMinute: Number(r.last_minute),
      last24hRecipients: Number(r.last_day),
      slots: Number(r.slots),
      pausedUntil: r.paused_until,
      pauseReason: r.pause_reason,
    }));
  }
}
