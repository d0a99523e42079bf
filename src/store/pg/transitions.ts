/**
 * The one SQL path for every status transition out of `sending`, on PostgreSQL: each write is one
 * statement that changes the message only when it is still in sending under the writer's lease, and
 * records the attempt in the same statement (a data-modifying CTE), so an attempt exists exactly when
 * the write was accepted. Callers run these on a client inside their transaction.
 */
import type pg from 'pg';
import type { GiveBackOptions, Outcome, QueueWrite } from '../ports.js';
import { tallyOf } from '../rules.js';
import { DB_NOW_MS, type Prepared } from './db.js';
import { ATTEMPT_COLUMNS, attemptParams, attemptValues } from './rows.js';
import { addSuppressionsIn } from './suppressions.js';

type Client = Pick<pg.PoolClient, 'query'>;

/** Still in sending under the writer's lease ($2), for the claim the write was made under ($3, the fencing token). */
const OWNED = "status = 'sending' AND lease_owner = $2 AND attempts = $3";

/** An UPDATE of message $1 by owner $2 and attempt $3, then the attempt of the accepted row (its values from $k on). */
function withAttempt(update: string, k: number): string {
  return `WITH changed AS (${update} RETURNING id)
    INSERT INTO attempts (${ATTEMPT_COLUMNS}) SELECT ${attemptParams(k)} FROM changed RETURNING id`;
}

function attempt(
  id: number,
  owner: string,
  outcome: 'sent' | 'deferred' | 'failed' | 'released' | 'held',
  o: Outcome,
  response?: string | null,
): unknown[] {
  return attemptValues({
    messageId: id,
    startedAt: o.startedAt,
    endedAt: o.now,
    provider: o.provider,
    outcome,
    response: response ?? undefined,
    failure: o.failure ?? undefined,
    diagnosis: o.diagnosis ?? null,
    leaseOwner: owner,
  });
}

const SENT = withAttempt(
  `UPDATE messages SET status = 'sent', sent_at = $4, updated_at = $4, sent_provider = $5, message_id = coalesce($6, message_id),
     lease_owner = NULL, lease_expires_at = NULL, deferral_reason = NULL WHERE id = $1 AND ${OWNED}`,
  7,
);
const DEFERRED = withAttempt(
  `UPDATE messages SET status = 'deferred', due_at = $5, updated_at = $4, last_error = $6::jsonb, diagnosis = $7, deferral_reason = $8,
     lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND ${OWNED}`,
  9,
);
const FAILED = withAttempt(
  `UPDATE messages SET status = 'failed', updated_at = $4, last_error = $5::jsonb, diagnosis = $6, deferral_reason = $7,
     lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND ${OWNED}`,
  8,
);
const HELD = withAttempt(
  `UPDATE messages SET status = 'held', updated_at = $4, last_error = $5::jsonb, diagnosis = $6, deferral_reason = $7,
     lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND ${OWNED}`,
  8,
);
/** $6: each id's attempt count (same order as $1), or null for every lease the owner holds. */
const GIVE_BACK = `
  UPDATE messages m SET status = 'pending', updated_at = $3, lease_owner = NULL, lease_expires_at = NULL,
    attempts = CASE WHEN $4 THEN greatest(m.attempts - 1, 0) ELSE m.attempts END,
    first_attempt_at = CASE WHEN $4 AND m.attempts - 1 <= 0 THEN NULL ELSE m.first_attempt_at END,
    deferral_reason = $5
  FROM unnest($1::bigint[], $6::int[]) AS claim(id, attempt)
  WHERE m.id = claim.id AND m.status = 'sending' AND m.lease_owner = $2 AND (claim.attempt IS NULL OR m.attempts = claim.attempt)`;

type SentWrite = Extract<QueueWrite, { op: 'sent' }>;

/**
 * Sent records of distinct messages, in one statement: each message changes only when still in
 * sending under its writer's lease and claim (the same fence as SENT), the attempts of the accepted
 * ones are inserted in the order given, and their writers' run counts grow by what was accepted. The
 * input is one array per column ($1..$14); the statement answers with the ids it changed. The status
 * test is written `(...) IS TRUE` so that the planner looks each message up by its key: an index on
 * the status would also visit every message that left sending since the table was last vacuumed,
 * thousands in a long drain.
 */
const SENT_MANY = `
  WITH w AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::boolean[], $8::bigint[],
      $9::text[], $10::text[], $11::integer[], $12::text[], $13::text[], $14::text[])
      WITH ORDINALITY AS w(id, owner, attempt, now, provider, message_id, forced, started_at, response, error_code, response_code,
        enhanced_code, failure, diagnosis, n)),
  changed AS (
    UPDATE messages m SET status = 'sent', sent_at = w.now, updated_at = w.now, sent_provider = w.provider,
      message_id = coalesce(w.message_id, m.message_id), lease_owner = NULL, lease_expires_at = NULL, deferral_reason = NULL
    FROM w WHERE m.id = w.id AND (m.status = 'sending') IS TRUE AND m.lease_owner = w.owner AND m.attempts = w.attempt
    RETURNING m.id),
  accepted AS (SELECT w.* FROM w JOIN changed ON changed.id = w.id),
  recorded AS (
    INSERT INTO attempts (${ATTEMPT_COLUMNS})
    SELECT id, started_at, now, provider, 'sent', response, error_code, response_code, enhanced_code, failure::jsonb, diagnosis, owner
    FROM accepted ORDER BY n),
  counted AS (
    UPDATE distributor_runs r SET sent = r.sent + t.sent, forced = r.forced + t.forced, heartbeat_at = ${DB_NOW_MS}
    FROM (SELECT owner, count(*)::int AS sent, (count(*) FILTER (WHERE forced))::int AS forced FROM accepted GROUP BY owner) AS t
    WHERE r.owner = t.owner)
  SELECT id FROM changed`;

/** A sent record SENT_MANY can carry: no suppressions to add with it. */
const plainSent = (w: QueueWrite): w is SentWrite => w.op === 'sent' && !w.suppress?.length;

/** SENT_MANY's parameters for `writes` (distinct messages). */
function sentManyParams(writes: readonly SentWrite[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 14 }, () => []);
  for (const w of writes) {
    const o = w.outcome;
    const a = attemptValues({
      messageId: w.id,
      startedAt: o.startedAt,
      endedAt: o.now,
      provider: o.provider,
      outcome: 'sent',
      response: o.response,
      failure: o.failure ?? undefined,
      diagnosis: o.diagnosis ?? null,
      leaseOwner: w.owner,
    });
    // attemptValues is in ATTEMPT_COLUMNS order: response, the failure's three codes, failure, diagnosis from index 5
    const row = [w.id, w.owner, w.attempt, o.now, o.provider, o.messageId ?? null, !!w.forced, o.startedAt, ...a.slice(5, 11)];
    row.forEach((v, i) => columns[i].push(v));
  }
  return columns;
}

/** The one statement applying sent records of distinct messages, their run counts included; `accepted` reads its answer. */
export function sentMany(writes: readonly SentWrite[]): {
  statement: Prepared;
  values: unknown[];
  accepted(rows: { id: number }[]): boolean[];
} {
  return {
    statement: { name: 'sysemail_sent_many', text: SENT_MANY },
    values: sentManyParams(writes),
    accepted(rows) {
      const changed = new Set(rows.map((r) => r.id));
      return writes.map((w) => changed.has(w.id));
    },
  };
}

async function applySentIn(c: Client, writes: readonly SentWrite[]): Promise<boolean[]> {
  const q = sentMany(writes);
  return q.accepted((await c.query<{ id: number }>({ ...q.statement, values: q.values })).rows);
}

/** `writes` are all sent records SENT_MANY can carry, of distinct messages. */
export function allPlainSent(writes: readonly QueueWrite[]): writes is readonly SentWrite[] {
  return writes.every(plainSent) && new Set(writes.map((w) => w.id)).size === writes.length;
}

const json = (x: unknown) => (x === null || x === undefined ? null : JSON.stringify(x));

/**
 * Applies `writes` in order on `c` (inside the caller's transaction). A run of sent records is one
 * statement (SENT_MANY), the rest one statement each; the run counts grow with what was accepted.
 */
export async function applyAllIn(c: Client, writes: readonly QueueWrite[]): Promise<boolean[]> {
  const accepted: boolean[] = [];
  const single: QueueWrite[] = [];
  const singleAccepted: boolean[] = [];
  for (let i = 0; i < writes.length;) {
    const run: SentWrite[] = [];
    const ids = new Set<number>();
    for (let w = writes[i]; i < writes.length && plainSent(w) && !ids.has(w.id); w = writes[++i]) {
      run.push(w);
      ids.add(w.id);
    }
    if (run.length > 0) {
      accepted.push(...(await applySentIn(c, run)));
      continue;
    }
    const ok = await applyIn(c, writes[i]);
    accepted.push(ok);
    single.push(writes[i]);
    singleAccepted.push(ok);
    i++;
  }
  await recordRunCounts(c, single, singleAccepted);
  return accepted;
}

/** One write; refused recipients go on the suppression list with an accepted one. */
async function applyIn(c: Client, w: QueueWrite): Promise<boolean> {
  const ok = await applyOne(c, w);
  if (ok && (w.op === 'sent' || w.op === 'failed') && w.suppress?.length) await addSuppressionsIn(c, w.suppress, w.outcome.now);
  return ok;
}

async function applyOne(c: Client, w: QueueWrite): Promise<boolean> {
  switch (w.op) {
    case 'sent': {
      const o = w.outcome;
      const r = await c.query(SENT, [
        w.id,
        w.owner,
        w.attempt,
        o.now,
        o.provider,
        o.messageId ?? null,
        ...attempt(w.id, w.owner, 'sent', o, o.response),
      ]);
      return r.rowCount === 1;
    }
    case 'deferred': {
      const o = w.outcome;
      const r = await c.query(DEFERRED, [
        w.id,
        w.owner,
        w.attempt,
        o.now,
        o.dueAt,
        json(o.failure),
        o.diagnosis ?? null,
        o.reason,
        ...attempt(w.id, w.owner, 'deferred', o),
      ]);
      return r.rowCount === 1;
    }
    case 'failed': {
      const o = w.outcome;
      const r = await c.query(FAILED, [
        w.id,
        w.owner,
        w.attempt,
        o.now,
        json(o.failure),
        o.diagnosis ?? null,
        o.reason ?? null,
        ...attempt(w.id, w.owner, 'failed', o),
      ]);
      return r.rowCount === 1;
    }
    case 'held': {
      const o = w.outcome;
      const r = await c.query(HELD, [
        w.id,
        w.owner,
        w.attempt,
        o.now,
        json(o.failure),
        o.diagnosis ?? null,
        o.reason,
        ...attempt(w.id, w.owner, 'held', o),
      ]);
      return r.rowCount === 1;
    }
    case 'giveBack':
      return (await giveBackIn(c, w.owner, w.ids, w.opts, w.attempts)) > 0;
  }
}

/** The run's counts grow in the transaction that makes them true. */
async function recordRunCounts(c: Client, writes: readonly QueueWrite[], accepted: readonly boolean[]): Promise<void> {
  const byOwner = new Map<string, { writes: QueueWrite[]; accepted: boolean[] }>();
  writes.forEach((w, i) => {
    const g = byOwner.get(w.owner) ?? { writes: [], accepted: [] };
    g.writes.push(w);
    g.accepted.push(accepted[i]);
    byOwner.set(w.owner, g);
  });
  for (const [owner, g] of byOwner) {
    const t = tallyOf(g.writes, g.accepted);
    if (t.sent + t.deferred + t.failed > 0) await addRunCounts(c, owner, t);
  }
}

export async function addRunCounts(
  c: Client,
  owner: string,
  t: { sent: number; deferred: number; failed: number; forced: number },
): Promise<void> {
  await c.query(
    `UPDATE distributor_runs SET sent = sent + $2, deferred = deferred + $3, failed = failed + $4, forced = forced + $5, heartbeat_at = ${DB_NOW_MS}
     WHERE owner = $1`,
    [owner, t.sent, t.deferred, t.failed, t.forced],
  );
}

/**
 * Gives claimed messages back; `attempt` records what happened to the one message that met the failure.
 * `attempts[i]`: the claim's attempt count of `ids[i]`; without it every lease of `owner` on `ids` goes.
 */
export async function giveBackIn(
  c: Client,
  owner: string,
  ids: readonly number[],
  opts: GiveBackOptions,
  attempts?: readonly number[],
): Promise<number> {
  const r = await c.query(GIVE_BACK, [ids, owner, opts.now, opts.uncount, opts.reason, attempts ?? ids.map(() => null)]);
  if (opts.attempt) {
    await c.query(
      `INSERT INTO attempts (${ATTEMPT_COLUMNS}) VALUES (${attemptParams(1)})`,
      attempt(opts.attempt.id, owner, 'released', opts.attempt),
    );
  }
  return r.rowCount ?? 0;
}

/** Throttled at claim time: deferred until `until`, the claim's attempt taken back. */
export async function throttledIn(
  c: Client,
  id: number,
  owner: string,
  d: { until: number; deferrals: number; now: number; reason: string },
): Promise<boolean> {
  const r = await c.query(
    `UPDATE messages SET status = 'deferred', due_at = $3, deferrals = $4, attempts = attempts - 1,
       first_attempt_at = CASE WHEN attempts - 1 = 0 THEN NULL ELSE first_attempt_at END,
       deferral_reason = $5, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6
     WHERE id = $1 AND status = 'sending' AND lease_owner = $2`,
    [id, owner, d.until, d.deferrals, d.reason, d.now],
  );
  return r.rowCount === 1;
}
