/**
 * What `send --queue`, `notify` and `queue import` share about a queued message beyond its content:
 * the due time, expiry and priority it is stored with, and storing it once per idempotency key.
 */
import {
  PRIORITY_RANK,
  idempotencyConflict,
  messageDigest,
  parseSchedule,
  type Priority,
  type ScheduleInput,
  type Schedule,
} from '../core/delivery.js';
import type { Settings } from '../core/precedence.js';
import type { InsertOnceResult, NewMessage, Store } from '../store/ports.js';

/** How a caller asked for a queued message to go. */
export interface DeliveryRequest {
  /** `--at`, `--in`, `--expires` as given. */
  when?: ScheduleInput;
  priority?: Priority;
  idempotencyKey?: string;
}

/** The parsed request, ready to be stored with the message. */
export interface Delivery extends Schedule {
  priority?: Priority;
  idempotencyKey?: string;
}

/** Checks the request (64/65 on a bad value) before anything is stored; `fallbackPriority` is a template's. */
export function parseDelivery(req: DeliveryRequest, now: number, fallbackPriority?: Priority | null): Delivery {
  const schedule = req.when ? parseSchedule(req.when, now) : {};
  const priority = req.priority ?? fallbackPriority ?? undefined;
  return {
    ...schedule,
    ...(priority ? { priority } : {}),
    ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
  };
}

/** The columns of NewMessage a delivery sets (the digest only with a key). */
export function deliveryFields(d: Delivery, m: Pick<NewMessage, 'to' | 'cc' | 'bcc' | 'subject' | 'text' | 'html' | 'attachments'>) {
  return {
    ...(d.dueAt !== undefined ? { dueAt: d.dueAt } : {}),
    ...(d.expiresAt !== undefined ? { expiresAt: d.expiresAt } : {}),
    ...(d.priority ? { priority: PRIORITY_RANK[d.priority] } : {}),
    ...(d.idempotencyKey !== undefined ? { idempotencyKey: d.idempotencyKey, idempotencyDigest: messageDigest(m) } : {}),
  };
}

/** Since when a message holding a key keeps it (queue.idempotencyRetentionHours). */
export function keysSince(settings: Settings, now: number): number {
  return now - settings.number('queue.idempotencyRetentionHours') * 3_600_000;
}

/**
 * Stores a queued message, once per idempotency key: the answer is its id, or the first message's id
 * with duplicate true. A key of another message is refused (65) naming it; `what` names the key's
 * option or field.
 */
export async function storeQueued(
  store: Store,
  settings: Settings,
  m: NewMessage,
  now: number,
  what = '--idempotency-key',
): Promise<{ id: number; duplicate: boolean }> {
  if (m.idempotencyKey === undefined) return { id: await store.messages.insert(m, now), duplicate: false };
  const r: InsertOnceResult = await store.messages.insertOnce(
    { ...m, idempotencyKey: m.idempotencyKey, idempotencyDigest: m.idempotencyDigest ?? messageDigest(m) },
    now,
    keysSince(settings, now),
  );
  if (r.duplicate && !r.sameMessage) throw idempotencyConflict(m.idempotencyKey, r.id, what);
  return { id: r.id, duplicate: r.duplicate };
}
