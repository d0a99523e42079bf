/**
 * insertManyOnce on PostgreSQL, a chunk of messages at a time: one statement frees the chunk's keys
 * whose holders are past the window and reads the holders of the others, the chunk is then placed in
 * order in memory (held key: the holder's id; a key earlier in the chunk: that message's id), and one
 * statement stores all its new messages under ids taken beforehand. Three round trips per chunk
 * instead of two per message. A key another transaction stored meanwhile makes its row skip (the
 * unique index decides, ON CONFLICT DO NOTHING): that message alone then goes the one-key path.
 */
import type pg from 'pg';
import type { InsertOnceResult, NewMessage } from '../ports.js';
import { messageValues } from './message-values.js';

type Client = pg.PoolClient;

/** Messages per chunk: 500 rows of 28 columns go as 28 arrays, a few hundred KiB of parameters. */
export const MESSAGES_PER_CHUNK = 500;

/** What the chunked path borrows from the one-message path of the repository. */
export interface OneMessagePath {
  /** Stores `m` or answers the holder of its key, waiting for a transaction that holds it uncommitted. */
  insertKeyed(c: Client, m: NewMessage & { idempotencyKey: string }, now: number, since: number): Promise<InsertOnceResult>;
  /** Stores the attachments' bytes of a stored message. */
  storeAttachments(c: Client, id: number, m: NewMessage): Promise<void>;
}

/**
 * Takes `keys` from their holders older than the window and reads every holder: the SELECT sees the
 * rows as they were before the UPDATE, so the caller leaves out those created before $2.
 */
const HOLDERS = `
  WITH freed AS (
    UPDATE messages SET idempotency_key = NULL WHERE idempotency_key = ANY($1::text[]) AND created_at < $2 RETURNING id)
  SELECT idempotency_key AS key, id, created_at, idempotency_digest AS digest FROM messages WHERE idempotency_key = ANY($1::text[])`;

const NEW_IDS = "SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id FROM generate_series(1, $1)";

/** The chunk's rows, one array per column (their ids first, then messageValues'); a key stored meanwhile skips its row. */
const INSERT_ROWS = `
  INSERT INTO messages (id, status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject, text_body, html_body,
    attachments, headers, message_id, user_id, template_id, org, size_bytes, created_at, due_at, updated_at, lease_owner,
    lease_expires_at, attempts, first_attempt_at, expires_at, priority, idempotency_key, idempotency_digest)
  SELECT id, status, provider, from_addr, to_addrs::jsonb, cc_addrs::jsonb, bcc_addrs::jsonb, reply_to, subject, text_body, html_body,
    attachments::jsonb, headers::jsonb, message_id, user_id, template_id, org, size_bytes, created_at, due_at, created_at, lease_owner,
    lease_expires_at, attempts, first_attempt_at, expires_at, priority, idempotency_key, idempotency_digest
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::bigint[],
    $19::bigint[], $20::bigint[], $21::text[], $22::bigint[], $23::integer[], $24::bigint[], $25::bigint[], $26::smallint[],
    $27::text[], $28::text[])
    AS r(id, status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject, text_body, html_body, attachments,
      headers, message_id, user_id, template_id, org, size_bytes, created_at, due_at, lease_owner, lease_expires_at, attempts,
      first_attempt_at, expires_at, priority, idempotency_key, idempotency_digest)
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id`;

/** The parameters of INSERT_ROWS for `rows` under `ids`: messageValues turned into columns. */
function rowArrays(rows: readonly NewMessage[], ids: readonly number[], now: number): unknown[][] {
  const columns: unknown[][] = [[...ids]];
  rows.forEach((m, j) => {
    const values = messageValues(m, now);
    for (let k = 0; k < values.length; k++) (columns[k + 1] ??= new Array<unknown>(rows.length))[j] = values[k];
  });
  return columns;
}

/** A message of the chunk to store, and its place in the answer. */
interface Planned {
  m: NewMessage;
  slot: number;
}

/** See the file's comment; `out` receives the answers in the order of `messages`. */
export async function insertManyOnceIn(
  c: Client,
  one: OneMessagePath,
  messages: Iterable<NewMessage>,
  now: number,
  since: number,
  refuse: (m: NewMessage, firstId: number, at: number) => Error,
): Promise<InsertOnceResult[]> {
  const out: InsertOnceResult[] = [];
  const chunk: NewMessage[] = [];
  for (const m of messages) {
    chunk.push(m);
    if (chunk.length === MESSAGES_PER_CHUNK) {
      await placeChunk(c, one, chunk, now, since, refuse, out);
      chunk.length = 0;
    }
  }
  await placeChunk(c, one, chunk, now, since, refuse, out);
  return out;
}

async function placeChunk(
  c: Client,
  one: OneMessagePath,
  chunk: readonly NewMessage[],
  now: number,
  since: number,
  refuse: (m: NewMessage, firstId: number, at: number) => Error,
  out: InsertOnceResult[],
): Promise<void> {
  if (chunk.length === 0) return;
  const keys = [...new Set(chunk.flatMap((m) => (m.idempotencyKey === undefined ? [] : [m.idempotencyKey])))];
  const holders = new Map<string, { id: number; digest: string | null }>();
  if (keys.length > 0) {
    const found = await c.query<{ key: string; id: number; created_at: number; digest: string | null }>(HOLDERS, [keys, since]);
    for (const h of found.rows) if (h.created_at >= since) holders.set(h.key, h);
  }
  let planned: Planned[] = [];
  // the later messages of the chunk with the key of a planned one: they answer its id
  let repeats: { slot: number; first: Planned }[] = [];
  const firstOf = new Map<string, Planned>();

  // stores what is planned, in order; a row skipped for a key stored meanwhile goes the one-key path
  const store = async () => {
    if (planned.length === 0) return;
    const rows = planned;
    const later = repeats;
    planned = [];
    repeats = [];
    const ids = (await c.query<{ id: number }>(NEW_IDS, [rows.length])).rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    const stored = new Set(
      (
        await c.query<{ id: number }>(
          INSERT_ROWS,
          rowArrays(
            rows.map((p) => p.m),
            ids,
            now,
          ),
        )
      ).rows.map((r) => Number(r.id)),
    );
    for (const [j, { m, slot }] of rows.entries()) {
      if (stored.has(ids[j])) {
        out[slot] = { id: ids[j], duplicate: false };
        if (m.attachments.length > 0) await one.storeAttachments(c, ids[j], m);
        continue;
      }
      const r = await one.insertKeyed(c, { ...m, idempotencyKey: m.idempotencyKey! }, now, since);
      if (r.duplicate && !r.sameMessage) throw refuse(m, r.id, slot);
      out[slot] = r;
    }
    for (const { slot, first } of later) out[slot] = { id: out[first.slot].id, duplicate: true, sameMessage: true };
  };

  for (const m of chunk) {
    const key = m.idempotencyKey;
    if (key !== undefined) {
      const holder = holders.get(key);
      const first = holder ? undefined : firstOf.get(key);
      const digest = m.idempotencyDigest ?? null;
      if (holder && holder.digest === digest) {
        out.push({ id: holder.id, duplicate: true, sameMessage: true });
        continue;
      }
      if (first && (first.m.idempotencyDigest ?? null) === digest) {
        repeats.push({ slot: out.length, first });
        out.push({ id: 0, duplicate: true, sameMessage: true });
        continue;
      }
      if (holder || first) {
        // the messages before this one are stored first: a refusal of one of them comes first, and a
        // key's first message in the chunk has its id to be named
        const at = out.length;
        await store();
        throw refuse(m, holder ? holder.id : out[first!.slot].id, at);
      }
    }
    const p = { m, slot: out.length };
    out.push({ id: 0, duplicate: false });
    planned.push(p);
    if (key !== undefined) firstOf.set(key, p);
  }
  await store();
}
