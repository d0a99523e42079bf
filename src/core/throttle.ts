/**
 * The per-provider per-minute sending limit, counted over a 60-second sliding window. A message that
 * finds the window full waits until a slot frees (never more than a minute) and its deferral count
 * rises; after ten deferrals it goes anyway and is counted as forced, so a limit set too low delays
 * mail but never strands it.
 */
import type { ProviderName } from './failure.js';

/**
 * A minute and two seconds: a send is counted from its claim and reaches the server a moment later
 * (a connection, a TLS handshake), so a slot is reused only after the margin, and no 60-second window
 * at the server holds more than the limit.
 */
export const THROTTLE_WINDOW_MS = 62_000;
export const MAX_DEFERRALS = 10;

/** The settings this module reads; `Settings` satisfies it. */
export interface ThrottleSettings {
  boolean(key: string): boolean;
  get(key: string): unknown;
}

/** Messages per minute for a provider; 0 = no limit. The unset default (30 for Microsoft 365) is computed by Settings. */
export function perMinuteLimit(settings: ThrottleSettings, provider: ProviderName): number {
  if (provider === 'eml' || !settings.boolean('throttling.enabled')) return 0;
  const v = settings.get(provider === 'smtp' ? 'smtp.perMinuteLimit' : 'exchange.perMinuteLimit');
  return typeof v === 'number' && v > 0 ? Math.floor(v) : 0;
}

export type ThrottleDecision = { action: 'send'; forced: boolean } | { action: 'defer'; until: number; deferrals: number };

export interface ThrottleCandidate {
  deferrals: number;
}

/**
 * Decides, in order, which of `candidates` may go now. `window` holds the times of the sends already
 * counted for this provider (any order; entries older than the window are ignored). Sends decided here
 * count against the later candidates. Deferred candidates are spread over the slots as they free.
 */
export function planThrottle(
  limit: number,
  window: readonly number[],
  now: number,
  candidates: readonly ThrottleCandidate[],
): ThrottleDecision[] {
  if (limit <= 0) return candidates.map(() => ({ action: 'send', forced: false }));
  const times = window.filter((t) => t > now - THROTTLE_WINDOW_MS).sort((a, b) => a - b);
  let waiting = 0;
  return candidates.map((c): ThrottleDecision => {
    if (times.length < limit) {
      times.push(now);
      return { action: 'send', forced: false };
    }
    if (c.deferrals >= MAX_DEFERRALS) {
      times.push(now);
      return { action: 'send', forced: true };
    }
    // the (n - limit + 1)-th oldest send has to leave the window before one more fits; each message
    // already told to wait in this batch has taken one of those slots
    const slot = times.length - limit + waiting;
    waiting++;
    const frees = slot < times.length ? times[slot] + THROTTLE_WINDOW_MS : now + THROTTLE_WINDOW_MS;
    return { action: 'defer', until: Math.min(Math.max(frees, now + 1), now + THROTTLE_WINDOW_MS), deferrals: c.deferrals + 1 };
  });
}
