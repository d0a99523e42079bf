/**
 * When and how urgently a queued message goes, and how a retried job is told from a new message:
 * priorities, the due time (`--at`, `--in`, `sendAt`), the expiry (`--expires`, `expiresAt`) and the
 * idempotency key with the digest that says whether a reused key names the same message.
 */
import crypto from 'node:crypto';
import { parseDuration } from './duration.js';
import { SysemailError, type ErrorKind } from './errors.js';
import { quoted } from './text.js';

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** The stored rank: claims take the highest first. */
export const PRIORITY_RANK: Record<Priority, number> = { high: 1, normal: 0, low: -1 };

export function priorityOfRank(rank: number): Priority {
  return rank > 0 ? 'high' : rank < 0 ? 'low' : 'normal';
}

export function isPriority(v: unknown): v is Priority {
  return typeof v === 'string' && (PRIORITIES as readonly string[]).includes(v);
}

/** `what` names the option or field in the error. */
export function parsePriority(text: string, what: string, kind: ErrorKind = 'usage'): Priority {
  const v = text.trim().toLowerCase();
  if (isPriority(v)) return v;
  throw new SysemailError(kind, 'PRIORITY_INVALID', `${what} must be one of ${PRIORITIES.join(', ')} (got ${quoted(text)})`, {
    fix: `Example: ${what} high`,
  });
}

/**
 * A due time given a minute in the past is taken as now: a script that computed "now" a moment ago
 * (`--at "$(date -Iminutes)"`) means now, not a mistake.
 */
export const PAST_GRACE_MS = 60_000;

/** The longest an idempotency key may be, in characters. */
export const IDEMPOTENCY_KEY_MAX = 200;

/** ISO 8601 date and time, minutes at least, with an optional offset (Z, +01:00, +0100); without one, local time. */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Epoch ms of an ISO 8601 date and time, or undefined when it is not one (or names no real moment, as 2026-02-30). */
export function parseIsoDateTime(text: string): number | undefined {
  const m = ISO_DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '0', frac = '0', zone] = m;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Math.floor(Number(`0.${frac}`) * 1000)] as const;
  if (parts[3] > 23 || parts[4] > 59 || parts[5] > 59) return undefined;
  // Date rolls 2026-02-30 over into March: a date that moved is not a real one
  const utc = new Date(Date.UTC(...parts));
  if (utc.getUTCFullYear() !== parts[0] || utc.getUTCMonth() !== parts[1] || utc.getUTCDate() !== parts[2]) return undefined;
  let ms: number;
  if (zone === undefined) ms = new Date(...parts).getTime();
  else if (zone.toUpperCase() === 'Z') ms = utc.getTime();
  else {
    const digits = zone.replace(':', '');
    const hours = Number(digits.slice(1, 3));
    const minutes = Number(digits.slice(3, 5) || '0');
    if (hours > 23 || minutes > 59) return undefined;
    const offset = (hours * 60 + minutes) * 60_000;
    ms = utc.getTime() - (zone.startsWith('-') ? -offset : offset);
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** The names a caller uses for the three values: flags for the command line, fields for an import line. */
export interface ScheduleNames {
  at: string;
  in?: string;
  expires: string;
  /** 'usage' (64) for flags, 'data' (65) for the fields of an import line. */
  kind: ErrorKind;
}

export const FLAG_NAMES: ScheduleNames = { at: '--at', in: '--in', expires: '--expires', kind: 'usage' };
export const IMPORT_NAMES: ScheduleNames = { at: 'sendAt', expires: 'expiresAt', kind: 'data' };

export interface ScheduleInput {
  at?: string;
  in?: string;
  expires?: string;
}

export interface Schedule {
  /** Not claimed before; undefined = now. */
  dueAt?: number;
  /** Failed as expired if still unsent then; undefined = never. */
  expiresAt?: number;
}

/**
 * Works out the due time and expiry. `--at` is an ISO 8601 time, `--in` a duration from now;
 * `--expires` either an ISO 8601 time or a duration counted from the due time (a reminder due at
 * 08:00 with `--expires 2h` is of no use after 10:00).
 */
export function parseSchedule(input: ScheduleInput, now: number, names: ScheduleNames = FLAG_NAMES): Schedule {
  const { kind } = names;
  if (input.at !== undefined && input.in !== undefined) {
    throw new SysemailError('usage', 'SCHEDULE_INVALID', `${names.at} and ${names.in} both give the due time`, {
      fix: `Use one of them: ${names.at} 2026-12-24T08:00+01:00 or ${names.in} 2h`,
    });
  }
  let dueAt: number | undefined;
  if (input.at !== undefined) {
    const at = parseIsoDateTime(input.at);
    if (at === undefined) {
      throw new SysemailError(kind, 'SCHEDULE_INVALID', `${names.at} must be an ISO 8601 date and time (got ${quoted(input.at)})`, {
        fix: `Example: ${names.at} 2026-12-24T08:00+01:00 (without an offset it is this machine's local time)`,
      });
    }
    if (at < now - PAST_GRACE_MS) {
      throw new SysemailError('data', 'SCHEDULE_IN_PAST', `${names.at} ${input.at} is in the past`, {
        fix: `Give a time to come, or leave out ${names.at} to send as soon as possible`,
      });
    }
    dueAt = Math.max(at, now);
  } else if (input.in !== undefined) {
    const ms = parseDuration(input.in, names.in ?? 'in');
    dueAt = now + ms;
  }
  let expiresAt: number | undefined;
  if (input.expires !== undefined) {
    const iso = parseIsoDateTime(input.expires);
    if (iso !== undefined) expiresAt = iso;
    else if (/^\s*\d+(?:\.\d+)?\s*[smhdw]?\s*$/i.test(input.expires))
      expiresAt = (dueAt ?? now) + parseDuration(input.expires, names.expires);
    else {
      throw new SysemailError(
        kind,
        'SCHEDULE_INVALID',
        `${names.expires} must be an ISO 8601 date and time or a duration like 2h (got ${quoted(input.expires)})`,
        { fix: `Example: ${names.expires} 2h (counted from the due time) or ${names.expires} 2026-12-24T10:00+01:00` },
      );
    }
    const start = dueAt ?? now;
    if (expiresAt <= start) {
      throw new SysemailError(
        'data',
        'SCHEDULE_EXPIRES_FIRST',
        dueAt === undefined
          ? `${names.expires} ${input.expires} is already past`
          : `${names.expires} ${input.expires} is not after the due time ${new Date(dueAt).toISOString()}`,
        { fix: `Give an expiry after the due time, e.g. ${names.expires} 2h` },
      );
    }
  }
  return { ...(dueAt !== undefined ? { dueAt } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** What a message that expired unsent keeps as its last error (and `expired` as its reason). */
export const EXPIRED_REASON = 'expired';
export const EXPIRED_FAILURE = {
  code: 'EXPIRED',
  response: 'not sent before its expiry time (--expires, expiresAt): never sent late',
} as const;

/** A key is printable text of at most IDEMPOTENCY_KEY_MAX characters; `what` names the option or field. */
export function checkIdempotencyKey(key: string, what: string, kind: ErrorKind = 'usage'): string {
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX || /[\u0000-\u001f\u007f]/.test(key) || key.trim() !== key) {
    throw new SysemailError(
      kind,
      'IDEMPOTENCY_KEY_INVALID',
      `${what} must be 1 to ${IDEMPOTENCY_KEY_MAX} printable characters without surrounding spaces`,
      { fix: `Use the job's own id, e.g. ${what} invoice-2026-00042` },
    );
  }
  return key;
}

/** What makes two messages the same one for an idempotency key. */
export interface DigestFields {
  to: readonly string[];
  cc: readonly string[];
  bcc: readonly string[];
  subject: string;
  text?: string | null;
  html?: string | null;
  attachments: readonly { filename: string; size: number }[];
}

/**
 * SHA-256 of a string, base64url: crypto.hash (Node 20.12 and later) in one call costs a third of a
 * Hash object, which an import of 100,000 keyed lines makes once per line; the same digest either way.
 */
const sha256: (s: string) => string =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('sha256', s, 'base64url')
    : (s) => crypto.createHash('sha256').update(s).digest('base64url');

/**
 * A digest of the recipients, subject, bodies and attachments' names and sizes. The due time, the
 * expiry and the priority are left out: a job retried a minute later computes `--in 2h` anew and is
 * still the same message.
 */
export function messageDigest(m: DigestFields): string {
  const canonical = JSON.stringify([
    m.to,
    m.cc,
    m.bcc,
    m.subject,
    m.text ?? null,
    m.html ?? null,
    m.attachments.map((a) => [a.filename, a.size]),
  ]);
  return sha256(canonical);
}

/** The refusal of a key already used by another message. */
export function idempotencyConflict(key: string, firstId: number, what: string, kind: ErrorKind = 'data'): SysemailError {
  return new SysemailError(
    kind,
    'IDEMPOTENCY_CONFLICT',
    `${what} ${quoted(key)} was already used by message ${firstId}, with other recipients, subject, body or attachments`,
    { fix: `Use a new key for a new message, or see the first one with \`sysemail history show ${firstId}\``, data: { firstId } },
  );
}
