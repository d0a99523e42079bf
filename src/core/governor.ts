/**
 * The send governor: limits per sending mailbox, shared by every run and host through the database.
 * A key is (provider, sending mailbox), written `smtp:ops@example.com`. The sending mailbox is the
 * one the provider counts its limits against:
 * - smtp: the signed-in user (smtp.username) when the server requires sign-in; on a relay without
 *   sign-in, the message's From address;
 * - exchange: the Graph mailbox the request goes through (exchange.mailbox);
 * - eml: none (writing files is never governed).
 *
 * Each key has three limits (0 = none): messages per minute (a 60-second sliding window: a message
 * that finds it full waits at most a minute and goes anyway after ten such deferrals, counted forced),
 * concurrent sends (leased slots, so a killed process frees its slots when their lease runs out) and
 * recipients per rolling 24 hours (a message that would pass it waits for room: never forced, as
 * Microsoft 365 blocks a mailbox that goes over). A server that says "slow down" pauses its key until
 * the time it gave: every run defers that key's messages until then, and no other key's.
 */
import { THROTTLE_WINDOW_MS, MAX_DEFERRALS } from './throttle.js';
import type { FailureInfo } from './failure.js';
import { PROVIDER_NAMES, type ProviderName } from './providers.js';

export const DAY_WINDOW_MS = 24 * 3_600_000;
/** How long a "slow down" without a time pauses its key. */
export const DEFAULT_PAUSE_SEC = 60;
/** A pause is never longer than this, whatever the server asked. */
export const MAX_PAUSE_SEC = 3_600;

export interface KeyLimits {
  perMinute: number;
  concurrency: number;
  perDay: number;
}

/** An administrator's limits for one key: null = the default of its provider. */
export type LimitOverrides = { [K in keyof KeyLimits]: number | null };

export interface GovernorKey {
  provider: ProviderName;
  mailbox: string;
}

export const keyText = (k: GovernorKey): string => `${k.provider}:${k.mailbox}`;

/** `smtp:ops@example.com` → its parts, or why it is not a key. */
export function parseKey(text: string): { key?: GovernorKey; error?: string } {
  const at = text.indexOf(':');
  const provider = at > 0 ? text.slice(0, at) : '';
  const mailbox =
    at > 0
      ? text
          .slice(at + 1)
          .trim()
          .toLowerCase()
      : '';
  if (!(PROVIDER_NAMES as readonly string[]).includes(provider) || provider === 'eml') {
    return { error: `'${text}' is not a governor key: write PROVIDER:MAILBOX with provider smtp or exchange, e.g. smtp:ops@example.com` };
  }
  if (!mailbox || /[\s,;<>]/.test(mailbox)) {
    return { error: `'${text}' names no mailbox: write ${provider}:MAILBOX, e.g. ${provider}:ops@example.com` };
  }
  return { key: { provider: provider as ProviderName, mailbox } };
}

/** What decides a message's sending mailbox; plain data, so a worker thread can be given it. */
export interface MailboxRule {
  /** smtp.username when the server requires sign-in, else null (the From address counts). */
  smtpUser: string | null;
  exchangeMailbox: string | null;
}

/** The bare address of a From header value (`Ops <ops@example.com>` → `ops@example.com`). */
function bareAddress(from: string): string {
  const m = /<([^<>]+)>\s*$/.exec(from);
  return (m ? m[1] : from).trim().toLowerCase();
}

export function mailboxOf(provider: ProviderName, rule: MailboxRule, from: string): string | null {
  if (provider === 'smtp') return (rule.smtpUser ?? bareAddress(from)).toLowerCase();
  if (provider === 'exchange') return (rule.exchangeMailbox ?? bareAddress(from)).toLowerCase();
  return null;
}

export const NO_LIMITS: KeyLimits = { perMinute: 0, concurrency: 0, perDay: 0 };

/**
 * The default limits of each key of a provider. With throttling on, the per-minute limit is the
 * provider's (smtp.perMinuteLimit / exchange.perMinuteLimit, 30 for Microsoft 365), and a Microsoft
 * 365 provider also gets Exchange Online's per-mailbox limits: 3 SMTP connections or 4 concurrent
 * Graph requests, and 10,000 recipients a day.
 */
export function defaultLimits(provider: ProviderName, o: { throttling: boolean; perMinute: number; microsoft365: boolean }): KeyLimits {
  if (provider === 'eml' || !o.throttling) return { ...NO_LIMITS };
  return {
    perMinute: o.perMinute,
    concurrency: o.microsoft365 ? (provider === 'exchange' ? 4 : 3) : 0,
    perDay: o.microsoft365 ? 10_000 : 0,
  };
}

export function effectiveLimits(defaults: KeyLimits, overrides?: Partial<LimitOverrides>): KeyLimits {
  const pick = (k: keyof KeyLimits) => {
    const v = overrides?.[k];
    return v === null || v === undefined ? defaults[k] : v;
  };
  return { perMinute: pick('perMinute'), concurrency: pick('concurrency'), perDay: pick('perDay') };
}

/** What the database knows about one key right now. */
export interface KeyState {
  /** Send times in the last minute (any order; older ones are ignored). */
  window: readonly number[];
  /** Sends of the last 24 hours with their recipient counts. */
  day: readonly { sentAt: number; recipients: number }[];
  /** The key is paused until then (null: not paused). */
  pausedUntil: number | null;
}

export interface GovernorCandidate {
  deferrals: number;
  recipients: number;
}

export type GovernorDecision =
  { action: 'send'; forced: boolean } | { action: 'defer'; until: number; deferrals: number; why: 'paused' | 'perMinute' | 'perDay' };

/**
 * Decides, in order, which of a key's `candidates` may go now. Sends decided here count against the
 * later candidates. A pause or the day's limit defers without counting a throttle deferral (forcing
 * would only meet the same refusal); the per-minute limit keeps the throttle's rule.
 */
export function planGovernor(
  limits: KeyLimits,
  state: KeyState,
  now: number,
  candidates: readonly GovernorCandidate[],
): GovernorDecision[] {
  const times = state.window.filter((t) => t > now - THROTTLE_WINDOW_MS).sort((a, b) => a - b);
  const day = state.day.filter((d) => d.sentAt > now - DAY_WINDOW_MS).sort((a, b) => a.sentAt - b.sentAt);
  let dayUsed = day.reduce((n, d) => n + d.recipients, 0);
  let waiting = 0;
  return candidates.map((c): GovernorDecision => {
    if (state.pausedUntil !== null && state.pausedUntil > now) {
      return { action: 'defer', until: state.pausedUntil, deferrals: c.deferrals, why: 'paused' };
    }
    if (limits.perDay > 0 && dayUsed + c.recipients > limits.perDay && dayUsed > 0) {
      // room comes back as the oldest sends leave the 24 hours
      let freed = dayUsed;
      let until = now + DAY_WINDOW_MS;
      for (const d of day) {
        freed -= d.recipients;
        if (freed + c.recipients <= limits.perDay) {
          until = d.sentAt + DAY_WINDOW_MS;
          break;
        }
      }
      return { action: 'defer', until: Math.max(until, now + 1), deferrals: c.deferrals, why: 'perDay' };
    }
    let forced = false;
    if (limits.perMinute > 0 && times.length >= limits.perMinute) {
      if (c.deferrals < MAX_DEFERRALS) {
        const slot = times.length - limits.perMinute + waiting;
        waiting++;
        const frees = slot < times.length ? times[slot] + THROTTLE_WINDOW_MS : now + THROTTLE_WINDOW_MS;
        const until = Math.min(Math.max(frees, now + 1), now + THROTTLE_WINDOW_MS);
        return { action: 'defer', until, deferrals: c.deferrals + 1, why: 'perMinute' };
      }
      forced = true;
    }
    times.push(now);
    day.push({ sentAt: now, recipients: c.recipients });
    dayUsed += c.recipients;
    return { action: 'send', forced };
  });
}

/** The reason a governed deferral is recorded with. */
export function deferralReason(key: string, limits: KeyLimits, d: Extract<GovernorDecision, { action: 'defer' }>): string {
  if (d.why === 'paused') return `paused: ${key} asked to slow down`;
  if (d.why === 'perDay') return `throttled: ${key} reached ${limits.perDay} recipients in 24 hours`;
  return `throttled: ${key} per-minute limit ${limits.perMinute} reached (deferral ${d.deferrals})`;
}

/**
 * A reply that asks the sender to slow down, and for how long (seconds), or null: SMTP 432 4.3.2
 * (Exchange: too many concurrent sends), 421 4.7.x (too many connections or messages), 452 4.5.3
 * (too many recipients), 4.7.0 rate-limit words; Graph 429 with its Retry-After.
 */
export function slowDownOf(f: FailureInfo): { pauseSec: number } | null {
  const text = f.response ?? '';
  const reply = f.responseCode ?? (/^[2-5]\d\d(?=[ -]|$)/.test(text) ? Number(text.slice(0, 3)) : undefined);
  const enhanced = f.enhancedCode ?? /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(text)?.[1];
  const asked = f.retryAfterSec;
  const pause = () => ({ pauseSec: Math.min(MAX_PAUSE_SEC, Math.max(1, Math.round(asked ?? DEFAULT_PAUSE_SEC))) });
  if (f.httpStatus === 429) return pause();
  if (reply === 432 && (enhanced === undefined || enhanced === '4.3.2')) return pause();
  if (reply === 421 && enhanced?.startsWith('4.7.')) return pause();
  if (reply === 452 && enhanced === '4.5.3') return pause();
  if (reply === 450 || reply === 451 || reply === 454) {
    if (enhanced === '4.7.0' && /rate|too many|throttl|slow down/i.test(text)) return pause();
  }
  return null;
}
