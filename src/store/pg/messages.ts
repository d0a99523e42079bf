/**
 * The messages port on PostgreSQL: storing and reading messages (their attachments' bytes inside the
 * database), the claim that several hosts run at once, leases, and the queue's counts.
 */
import { EXPIRED_FAILURE, EXPIRED_REASON } from '../../core/delivery.js';
import type { ProviderName } from '../../core/failure.js';
import { MESSAGE_STATUSES, type MessageStatus } from '../../core/status.js';
import { SysemailError } from '../../core/errors.js';
import { THROTTLE_WINDOW_MS, planThrottle } from '../../core/throttle.js';
import type {
  AttachmentContent,
  AttemptRow,
  ClaimRequest,
  ClaimResult,
  ClaimedMessage,
  HeldLeases,
  InsertOnceResult,
  MessageRow,
  MessagesRepo,
  NewMessage,
  QueueWrite,
  StatusCounts,
} from '../ports.js';
import { claimOrder } from '../rules.js';
import { DB_NOW_MS, LOCK_CLASS, type PgDatabase, type Prepared } from './db.js';
import { MESSAGE_COLUMN_LIST, toAttemptRow, toMessageRow, type PgAttemptRow, type PgMessageRow } from './rows.js';
import { failSuppressedIn } from './suppressions.js';
import { GOVERNOR_STATE_JSON, governIn, type GovernorState } from './governor.js';
import { insertManyOnceIn, type OneMessagePath } from './insert-once.js';
import { messageValues } from './message-values.js';
import { allPlainSent, applyAllIn, addRunCounts, sentMany, giveBackIn, throttledIn } from './transitions.js';

/** Advisory lock class of the throttle windows; the key is the provider's hash. */
export const THROTTLE_LOCK_CLASS = LOCK_CLASS + 1;

const INSERT = `
  INSERT INTO messages (status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject, text_body, html_body,
    attachments, headers, message_id, user_id, template_id, org, size_bytes, created_at, due_at, updated_at, lease_owner,
    lease_expires_at, attempts, first_attempt_at, expires_at, priority, idempotency_key, idempotency_digest)
  VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14, $15, $16, $17, $18, $19, $18,
    $20, $21, $22, $23, $24, $25, $26, $27)`;

/** A key taken by a message that committed meanwhile: nothing stored, and the holder is read after. */
const ON_KEY_TAKEN = 'ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING';

/**
 * One statement decides ownership: the subquery locks due messages no other host holds (SKIP LOCKED:
 * a host claiming at the same moment takes the next ones instead of waiting), the UPDATE takes them,
 * counts the attempt and starts the lease on the database's clock. `id = ANY(ARRAY(...))`, not
 * `id IN (...)`: the locked ids are then looked up by key, where a semi-join scans the whole table.
 */
const CLAIM: Prepared = {
  // answered with the claimed: whether they need a look at the suppression list, and what governing them reads
  name: 'sysemail_claim',
  text: `
  UPDATE messages SET status = 'sending', attempts = attempts + 1, lease_owner = $1, lease_expires_at = ${DB_NOW_MS} + $2,
    first_attempt_at = coalesce(first_attempt_at, $3), updated_at = $3
  WHERE id = ANY(ARRAY(
    SELECT id FROM messages WHERE status IN ('pending', 'deferred') AND due_at <= $3 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY priority DESC, due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED))
  RETURNING ${MESSAGE_COLUMN_LIST}, EXISTS (SELECT 1 FROM suppressions) AS any_suppression, (${GOVERNOR_STATE_JSON}) AS governor_state`,
};

/**
 * What a claim does before it takes messages, in one statement: expired leases and those of dead
 * owners ($3) are taken back (rows another host is changing right now are skipped: it is taking them
 * back or completing them itself, so two hosts reclaiming at once neither wait for nor deadlock on each
 * other); with $5, due messages past their expiry are failed, never sent late (messages_expiring holds
 * only those waiting); the run of owner $2 is marked alive and counts the failed ones. A message taken
 * back here is pending only from the next statement on: if it is past its expiry too, the claim leaves
 * it (CLAIM takes none past expiry) and the next claim fails it.
 */
/**
 * A claim marks its run alive only when its heartbeat is older than this (or it failed expired
 * messages): the run's row stays locked until the claim's transaction ends, and a busy run's sent
 * records, which beat too, would wait for every claim.
 */
const CLAIM_BEAT_MS = 5_000;

const BEFORE_CLAIM: Prepared = {
  name: 'sysemail_before_claim',
  text: `
  WITH back AS (
    UPDATE messages SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1,
      deferral_reason = CASE WHEN lease_expires_at <= ${DB_NOW_MS} THEN 'lease of ' || lease_owner || ' expired'
        ELSE 'distributor ' || lease_owner || ' died' END
    WHERE id = ANY(ARRAY(
      SELECT id FROM messages WHERE status = 'sending' AND (lease_expires_at <= ${DB_NOW_MS} OR lease_owner = ANY($3::text[]))
      FOR UPDATE SKIP LOCKED))
    RETURNING id),
  expired AS (
    UPDATE messages SET status = 'failed', updated_at = $1, deferral_reason = '${EXPIRED_REASON}', last_error = $4::jsonb,
      diagnosis = NULL, lease_owner = NULL, lease_expires_at = NULL
    WHERE $5 AND id = ANY(ARRAY(
      SELECT id FROM messages WHERE expires_at <= $1 AND status IN ('pending', 'deferred') FOR UPDATE SKIP LOCKED))
    RETURNING id),
  beat AS (
    UPDATE distributor_runs SET heartbeat_at = ${DB_NOW_MS}, failed = failed + (SELECT count(*) FROM expired)
    WHERE owner = $2 AND (heartbeat_at IS NULL OR heartbeat_at < ${DB_NOW_MS} - ${CLAIM_BEAT_MS} OR EXISTS (SELECT 1 FROM expired)))
  SELECT id, false AS expired FROM back UNION ALL SELECT id, true FROM expired`,
};

/** Extends the leases owner $2 still holds on ids $3 and marks its run alive. */
const RENEW: Prepared = {
  name: 'sysemail_renew',
  text: `
  WITH beat AS (UPDATE distributor_runs SET heartbeat_at = ${DB_NOW_MS} WHERE owner = $2)
  UPDATE messages SET lease_expires_at = ${DB_NOW_MS} + $1
  WHERE status = 'sending' AND lease_owner = $2 AND lease_expires_at > ${DB_NOW_MS} AND id = ANY($3::bigint[])
  RETURNING id`,
};

/** The waiting messages per priority: each the start of a range of messages_claim, whose first entry is its earliest due. */
const PRIORITY_GROUPS = [1, 0, -1].map((rank) => `status IN ('pending', 'deferred') AND priority = ${rank}`);

type Tx = Parameters<Parameters<PgDatabase['tx']>[0]>[0];

export class PgMessagesRepo implements MessagesRepo {
  constructor(private readonly db: PgDatabase) {}

  /** Inserts `m`; with `once`, nothing when its key is taken (undefined then). */
  private async insertOne(c: Tx, m: NewMessage, now: number, once = false): Promise<number | undefined> {
    const r = await c.query<{ id: number }>(`${INSERT} ${once ? ON_KEY_TAKEN : ''} RETURNING id`, messageValues(m, now));
    if (r.rows.length === 0) return undefined;
    const id = r.rows[0].id;
    await this.storeAttachments(c, id, m);
    return id;
  }

  /**
   * One keyed message inside a transaction. A key whose holder is older than `since` is released
   * first; the insert then either stores the message or, the key being held (a concurrent insert of
   * the same key waits here for the other transaction to end), stores nothing, and the holder is read.
   */
  private async insertKeyed(c: Tx, m: NewMessage & { idempotencyKey: string }, now: number, since: number): Promise<InsertOnceResult> {
    await c.query('UPDATE messages SET idempotency_key = NULL WHERE idempotency_key = $1 AND created_at < $2', [m.idempotencyKey, since]);
    // bounded: the holder may be deleted between the insert and the read (queue delete), then the key is free
    for (let tries = 0; tries < 3; tries++) {
      const id = await this.insertOne(c, m, now, true);
      if (id !== undefined) return { id, duplicate: false };
      const [holder] = (
        await c.query<{ id: number; idempotency_digest: string | null }>(
          'SELECT id, idempotency_digest FROM messages WHERE idempotency_key = $1',
          [m.idempotencyKey],
        )
      ).rows;
      if (holder) return { id: holder.id, duplicate: true, sameMessage: holder.idempotency_digest === (m.idempotencyDigest ?? null) };
    }
    throw new SysemailError('tempfail', 'DB_BUSY', `the idempotency key ${m.idempotencyKey} kept changing hands; try again`);
  }

  /** The attachments' bytes go into the database with the message: any host can then send it. */
  private async storeAttachments(c: Tx, id: number, m: NewMessage): Promise<void> {
    const { fs } = await import('../../core/builtins.js');
    for (const [position, a] of m.attachments.entries()) {
      if (!a.path) continue;
      let content: Buffer;
      try {
        content = await fs.promises.readFile(a.path);
      } catch (err) {
        throw new SysemailError(
          'noinput',
          'ATTACHMENT_UNREADABLE',
          `attachment ${a.filename} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          {
            fix: 'Check that the file exists and is readable, then send again',
            cause: err,
          },
        );
      }
      await c.query('INSERT INTO message_attachments (message_id, position, filename, content_type, content) VALUES ($1, $2, $3, $4, $5)', [
        id,
        position,
        a.filename,
        a.contentType ?? null,
        content,
      ]);
    }
  }

  async insert(m: NewMessage, now: number): Promise<number> {
    return this.db.tx(async (c) => (await this.insertOne(c, m, now))!);
  }

  async insertMany(messages: Iterable<NewMessage>, now: number): Promise<number[]> {
    return this.db.tx(async (c) => {
      const ids: number[] = [];
      for (const m of messages) ids.push((await this.insertOne(c, m, now))!);
      return ids;
    });
  }

  async insertOnce(m: NewMessage & { idempotencyKey: string }, now: number, since: number): Promise<InsertOnceResult> {
    return this.db.tx((c) => this.insertKeyed(c, m, now, since));
  }

  async insertManyOnce(
    messages: Iterable<NewMessage>,
    now: number,
    since: number,
    refuse: (m: NewMessage, firstId: number, at: number) => Error,
  ): Promise<InsertOnceResult[]> {
    const one: OneMessagePath = {
      insertKeyed: (c, m, at, keysSince) => this.insertKeyed(c, m, at, keysSince),
      storeAttachments: (c, id, m) => this.storeAttachments(c, id, m),
    };
    return this.db.tx((c) => insertManyOnceIn(c, one, messages, now, since, refuse));
  }

  async get(id: number): Promise<MessageRow | undefined> {
    const [r] = await this.db.query<PgMessageRow>('SELECT * FROM messages WHERE id = $1', [id]);
    return r ? toMessageRow(r) : undefined;
  }

  /** The stored bytes of a message's attachments, in the order of its attachments list. */
  async attachmentContents(messageId: number): Promise<AttachmentContent[]> {
    const rows = await this.db.query<{ position: number; filename: string; content_type: string | null; content: Buffer }>(
      'SELECT position, filename, content_type, content FROM message_attachments WHERE message_id = $1 ORDER BY position',
      [messageId],
    );
    return rows.map((r) => ({ position: r.position, filename: r.filename, contentType: r.content_type, content: r.content }));
  }

  async attempts(messageId: number): Promise<AttemptRow[]> {
    return (await this.db.query<PgAttemptRow>('SELECT * FROM attempts WHERE message_id = $1 ORDER BY id', [messageId])).map(toAttemptRow);
  }

  async list(opts: { status?: MessageStatus; limit: number }): Promise<MessageRow[]> {
    const rows = opts.status
      ? await this.db.query<PgMessageRow>('SELECT * FROM messages WHERE status = $1 ORDER BY due_at, id LIMIT $2', [
          opts.status,
          opts.limit,
        ])
      : await this.db.query<PgMessageRow>(
          "SELECT * FROM messages WHERE status IN ('pending','sending','deferred','held') ORDER BY due_at, id LIMIT $1",
          [opts.limit],
        );
    return rows.map(toMessageRow);
  }

  async claim(req: ClaimRequest, before: readonly QueueWrite[] = []): Promise<ClaimResult> {
    return this.db.tx(async (c) => {
      const beforeAccepted = await applyAllIn(c, before);
      const { now } = req;
      const prior = (
        await c.query<{ id: number; expired: boolean }>({
          ...BEFORE_CLAIM,
          values: [now, req.owner, req.deadOwners ?? [], JSON.stringify(EXPIRED_FAILURE), req.max > 0],
        })
      ).rows;
      const reclaimed = prior.filter((r) => !r.expired).map((r) => r.id);
      if (req.max <= 0) return { claimed: [], throttled: [], reclaimed, beforeAccepted };
      const expired = prior.filter((r) => r.expired).map((r) => r.id);
      const answer = (
        await c.query<PgMessageRow & { any_suppression: boolean; governor_state: GovernorState }>({
          ...CLAIM,
          values: [req.owner, req.leaseMs, now, req.max],
        })
      ).rows;
      const taken = answer.map(toMessageRow).sort(claimOrder);
      const { rows, suppressed } = await failSuppressedIn(c, taken, req, applyAllIn, answer[0]?.any_suppression);
      if (req.governor) {
        const claimed: ClaimedMessage[] = [];
        const throttled: ClaimResult['throttled'] = [];
        await governIn(c, rows, req, claimed, throttled, answer[0]?.governor_state);
        if (throttled.length > 0) await addRunCounts(c, req.owner, { sent: 0, deferred: throttled.length, failed: 0, forced: 0 });
        return { claimed, throttled, reclaimed, beforeAccepted, expired, ...(suppressed.length > 0 ? { suppressed } : {}) };
      }
      const byProvider = new Map<ProviderName, MessageRow[]>();
      for (const m of rows) {
        const p = req.providerOf(m);
        byProvider.set(p, [...(byProvider.get(p) ?? []), m]);
      }
      const claimed: ClaimedMessage[] = [];
      const throttled: ClaimResult['throttled'] = [];
      // providers in a fixed order: two hosts locking two windows never wait on each other crosswise
      for (const provider of [...byProvider.keys()].sort()) {
        const messages = byProvider.get(provider)!;
        const limit = req.limitOf(provider);
        if (limit <= 0) {
          for (const m of messages) claimed.push({ ...m, via: provider, forcedSend: false });
          continue;
        }
        // every host counts this provider's window under the same lock, held until this claim commits
        await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [THROTTLE_LOCK_CLASS, provider]);
        // the window runs on the database's clock, which all hosts share; due times stay on the caller's
        const dbNow = (await c.query<{ now: number }>(`SELECT ${DB_NOW_MS} AS now`)).rows[0].now;
        await c.query('DELETE FROM throttle_sends WHERE provider = $1 AND sent_at <= $2', [provider, dbNow - THROTTLE_WINDOW_MS]);
        const window = (await c.query<{ sent_at: number }>('SELECT sent_at FROM throttle_sends WHERE provider = $1', [provider])).rows.map(
          (r) => r.sent_at,
        );
        const decisions = planThrottle(limit, window, dbNow, messages);
        let sends = 0;
        for (const [i, m] of messages.entries()) {
          const d = decisions[i];
          if (d.action === 'send') {
            sends++;
            if (d.forced) await c.query('UPDATE messages SET forced = true WHERE id = $1 AND lease_owner = $2', [m.id, req.owner]);
            claimed.push({ ...m, via: provider, forcedSend: d.forced, forced: d.forced || m.forced });
          } else {
            const until = d.until - dbNow + now;
            const reason = `throttled: ${provider}.perMinuteLimit ${limit} reached (deferral ${d.deferrals})`;
            if (await throttledIn(c, m.id, req.owner, { until, deferrals: d.deferrals, now, reason }))
              throttled.push({ id: m.id, until, deferrals: d.deferrals });
          }
        }
        if (sends > 0)
          await c.query('INSERT INTO throttle_sends (provider, sent_at) SELECT $1, $2 FROM generate_series(1, $3)', [
            provider,
            dbNow,
            sends,
          ]);
      }
      if (throttled.length > 0) await addRunCounts(c, req.owner, { sent: 0, deferred: throttled.length, failed: 0, forced: 0 });
      return { claimed, throttled, reclaimed, beforeAccepted, expired, ...(suppressed.length > 0 ? { suppressed } : {}) };
    });
  }

  /** Extends only the leases `owner` still holds and that have not run out (past them the message may be another host's). */
  async renew(
    owner: string,
    ids: readonly number[],
    leaseMs: number,
    before: readonly QueueWrite[] = [],
  ): Promise<{ renewed: number[]; beforeAccepted: boolean[] }> {
    return this.db.tx(async (c) => {
      const beforeAccepted = await applyAllIn(c, before);
      const r = await c.query<{ id: number }>({ ...RENEW, values: [leaseMs, owner, ids] });
      return { renewed: r.rows.map((x) => x.id), beforeAccepted };
    });
  }

  async applyWrites(writes: readonly QueueWrite[]): Promise<boolean[]> {
    if (writes.length === 0) return [];
    // sent records alone are one statement: its own transaction, one round trip to the server
    if (allPlainSent(writes)) {
      const q = sentMany(writes);
      return q.accepted(await this.db.query<{ id: number }>(q.statement, q.values));
    }
    return this.db.tx((c) => applyAllIn(c, writes));
  }

  async giveBackAll(owner: string, now: number, reason: string): Promise<number> {
    return this.db.tx(async (c) => {
      const ids = (
        await c.query<{ id: number }>("SELECT id FROM messages WHERE status = 'sending' AND lease_owner = $1 FOR UPDATE", [owner])
      ).rows.map((r) => r.id);
      return ids.length === 0 ? 0 : giveBackIn(c, owner, ids, { now, uncount: true, reason });
    });
  }

  async leaseOwners(): Promise<string[]> {
    return (
      await this.db.query<{ o: string }>(
        "SELECT DISTINCT lease_owner AS o FROM messages WHERE status = 'sending' AND lease_owner IS NOT NULL",
      )
    ).map((r) => r.o);
  }

  async heldBy(owner: string): Promise<HeldLeases> {
    const [r] = await this.db.query<{ n: number; first: number | null; last: number | null }>(
      "SELECT count(*) AS n, min(lease_expires_at) AS first, max(lease_expires_at) AS last FROM messages WHERE status = 'sending' AND lease_owner = $1",
      [owner],
    );
    return { count: r.n, firstExpiresAt: r.first, lastExpiresAt: r.last };
  }

  async dbNow(): Promise<number> {
    return (await this.db.query<{ now: number }>(`SELECT ${DB_NOW_MS} AS now`))[0].now;
  }

  async counts(): Promise<StatusCounts> {
    const out = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;
    for (const r of await this.db.query<{ status: MessageStatus; n: number }>('SELECT status, count(*) AS n FROM messages GROUP BY status'))
      out[r.status] = r.n;
    return out;
  }

  async remaining(): Promise<number> {
    return (await this.db.query<{ n: number }>("SELECT count(*) AS n FROM messages WHERE status IN ('pending','deferred','sending')"))[0].n;
  }

  async dueCount(now: number): Promise<number> {
    return (
      await this.db.query<{ n: number }>("SELECT count(*) AS n FROM messages WHERE status IN ('pending','deferred') AND due_at <= $1", [
        now,
      ])
    )[0].n;
  }

  async oldestDueAgeSec(now: number): Promise<number | null> {
    const [r] = await this.db.query<{ d: number | null }>(
      `SELECT min(d) AS d FROM (${PRIORITY_GROUPS.map((g) => `SELECT min(due_at) AS d FROM messages WHERE ${g} AND due_at <= $1`).join(' UNION ALL ')}) AS x`,
      [now],
    );
    return r.d === null ? null : Math.max(0, Math.floor((now - r.d) / 1000));
  }

  async nextDueAt(): Promise<number | null> {
    return (
      await this.db.query<{ d: number | null }>(
        `SELECT min(d) AS d FROM (${PRIORITY_GROUPS.map((g) => `SELECT min(due_at) AS d FROM messages WHERE ${g}`).join(' UNION ALL ')}) AS x`,
      )
    )[0].d;
  }
}
