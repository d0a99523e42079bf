/**
 * The suppression list and the bounce reports on PostgreSQL: the port, and the two pieces the queue's
 * own transactions use (a claim fails the messages of suppressed recipients; a refusal adds entries).
 */
import type pg from 'pg';
import { SUPPRESSED_REASON, recipientKeys, suppressedFailure, suppressionKey } from '../../core/suppression.js';
import { SUPPRESSION_UPSERT_TAIL, suppressionFields, suppressionFromColumns, type SuppressionColumns } from '../columns.js';
import type { BounceRecord, ClaimRequest, MessageRow, QueueWrite, SuppressionEntry, SuppressionRow, SuppressionsRepo } from '../ports.js';
import type { PgDatabase } from './db.js';
import { ATTEMPT_COLUMNS, attemptParams, attemptValues } from './rows.js';

type Client = Pick<pg.PoolClient, 'query'>;

const IN_EFFECT = '(expires_at IS NULL OR expires_at > $2)';
const FIND = `SELECT * FROM suppressions WHERE address = ANY($1::text[]) AND ${IN_EFFECT}`;
const UPSERT = `INSERT INTO suppressions (address, reason, source, message_id, created_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6) ${SUPPRESSION_UPSERT_TAIL}`;

async function findIn(c: Client, keys: readonly string[], now: number): Promise<SuppressionRow[]> {
  if (keys.length === 0) return [];
  return (await c.query<SuppressionColumns>(FIND, [keys, now])).rows.map(suppressionFromColumns);
}

/** Adds entries on the caller's client (inside its transaction); returns how many rows were written. */
export async function addSuppressionsIn(c: Client, entries: readonly SuppressionEntry[], now: number): Promise<number> {
  let n = 0;
  for (const e of entries) {
    const f = suppressionFields(e, now);
    n += (await c.query(UPSERT, [f.address, f.reason, f.source, f.messageId, f.createdAt, f.expiresAt])).rowCount ?? 0;
  }
  return n;
}

/**
 * The claim's check: claimed messages with a suppressed recipient are failed in the claim's own
 * transaction (reason `suppressed`) and left out of what is sent. `applyAllIn` is the transitions'.
 * `anySuppression`: whether the list has any entry, when the claim already asked.
 */
export async function failSuppressedIn(
  c: Client,
  taken: MessageRow[],
  req: Pick<ClaimRequest, 'owner' | 'now' | 'providerOf'>,
  applyAllIn: (c: Client, writes: readonly QueueWrite[]) => Promise<boolean[]>,
  anySuppression?: boolean,
): Promise<{ rows: MessageRow[]; suppressed: number[] }> {
  if (taken.length === 0) return { rows: taken, suppressed: [] };
  const any = anySuppression ?? (await c.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM suppressions) AS any')).rows[0].any;
  if (!any) return { rows: taken, suppressed: [] };
  const keys = [...new Set(taken.flatMap(recipientKeys))];
  const found = new Map((await findIn(c, keys, req.now)).map((e) => [e.address, e]));
  if (found.size === 0) return { rows: taken, suppressed: [] };
  const blocked: { m: MessageRow; entry: SuppressionRow }[] = [];
  for (const m of taken) {
    const hit = recipientKeys(m).find((k) => found.has(k));
    if (hit) blocked.push({ m, entry: found.get(hit)! });
  }
  if (blocked.length === 0) return { rows: taken, suppressed: [] };
  const accepted = await applyAllIn(
    c,
    blocked.map((b) => ({
      op: 'failed' as const,
      id: b.m.id,
      owner: req.owner,
      attempt: b.m.attempts,
      outcome: { now: req.now, startedAt: req.now, provider: req.providerOf(b.m), failure: suppressedFailure(b.entry), diagnosis: null },
    })),
  );
  const suppressed = blocked.filter((_, i) => accepted[i]).map((b) => b.m.id);
  if (suppressed.length > 0)
    await c.query("UPDATE messages SET deferral_reason = $1 WHERE id = ANY($2::bigint[]) AND status = 'failed'", [
      SUPPRESSED_REASON,
      suppressed,
    ]);
  const gone = new Set(blocked.map((b) => b.m.id));
  return { rows: taken.filter((m) => !gone.has(m.id)), suppressed };
}

export class PgSuppressionsRepo implements SuppressionsRepo {
  constructor(private readonly db: PgDatabase) {}

  async list(now: number): Promise<SuppressionRow[]> {
    return (
      await this.db.query<SuppressionColumns>('SELECT * FROM suppressions WHERE expires_at IS NULL OR expires_at > $1 ORDER BY address', [
        now,
      ])
    ).map(suppressionFromColumns);
  }

  async find(addresses: readonly string[], now: number): Promise<SuppressionRow[]> {
    if (addresses.length === 0) return [];
    return (await this.db.query<SuppressionColumns>(FIND, [addresses.map(suppressionKey), now])).map(suppressionFromColumns);
  }

  async add(entries: readonly SuppressionEntry[], now: number): Promise<number> {
    return this.db.tx((c) => addSuppressionsIn(c, entries, now));
  }

  async remove(address: string): Promise<boolean> {
    const [r] = await this.db.query<{ n: number }>(
      'WITH gone AS (DELETE FROM suppressions WHERE address = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone',
      [suppressionKey(address)],
    );
    return r.n > 0;
  }

  async messageByMessageId(messageId: string): Promise<number | undefined> {
    const [r] = await this.db.query<{ id: number }>('SELECT id FROM messages WHERE message_id = $1 ORDER BY id DESC LIMIT 1', [messageId]);
    return r?.id;
  }

  async recordBounce(b: BounceRecord, now: number): Promise<'recorded' | 'duplicate' | 'missing'> {
    return this.db.tx(async (c): Promise<'recorded' | 'duplicate' | 'missing'> => {
      const msg = (
        await c.query<{ p: string | null }>('SELECT coalesce(sent_provider, provider) AS p FROM messages WHERE id = $1 FOR UPDATE', [
          b.messageId,
        ])
      ).rows[0];
      if (!msg) return 'missing';
      const fresh = await c.query(
        `INSERT INTO bounces (report_key, recipient, message_id, action, status, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING`,
        [b.reportKey, suppressionKey(b.recipient), b.messageId, b.action, b.status, now],
      );
      if (fresh.rowCount === 0) return 'duplicate';
      await c.query(
        `INSERT INTO attempts (${ATTEMPT_COLUMNS}) VALUES (${attemptParams(1)})`,
        attemptValues({
          messageId: b.messageId,
          startedAt: b.at,
          endedAt: b.at,
          provider: (msg.p as never) ?? null,
          outcome: 'bounced',
          response: b.failure.response,
          failure: b.failure,
          diagnosis: b.diagnosis,
        }),
      );
      if (b.final) {
        await c.query(
          "UPDATE messages SET status = 'failed', last_error = $1::jsonb, diagnosis = $2, deferral_reason = $3, updated_at = $4 WHERE id = $5 AND status = 'sent'",
          [JSON.stringify(b.failure), b.diagnosis, `bounced: ${b.status}`, now, b.messageId],
        );
      }
      if (b.suppress) await addSuppressionsIn(c, [b.suppress], now);
      return 'recorded';
    });
  }
}
