/**
 * The send governor as the administrator sees it: each key's limits (set, or its provider's default)
 * and its use right now, for `governor list` and `queue status`; setting and resetting a key's limits.
 */
import { SysemailError } from '../core/errors.js';
import { effectiveLimits, keyText, mailboxOf, parseKey, type GovernorKey, type KeyLimits, type LimitOverrides } from '../core/governor.js';
import type { Settings } from '../core/precedence.js';
import { quoted } from '../core/text.js';
import type { Store } from '../store/ports.js';
import { governorDefaults, mailboxRule } from './distributor/governor.js';

export interface GovernorKeyView {
  key: string;
  provider: string;
  mailbox: string;
  /** The limits in force (0 = none). */
  limits: KeyLimits;
  /** Where each limit comes from: set with `governor set`, or the provider's default. */
  source: Record<keyof KeyLimits, 'set' | 'default'>;
  use: { lastMinute: number; connections: number; last24hRecipients: number };
  pausedUntil: string | null;
  pauseReason: string | null;
}

const LIMIT_NAMES: Record<keyof KeyLimits, string> = { perMinute: '--per-minute', concurrency: '--concurrency', perDay: '--per-day' };

function keyOf(text: string): GovernorKey {
  const { key, error } = parseKey(text);
  if (!key) {
    throw new SysemailError('data', 'GOVERNOR_KEY_INVALID', error!, {
      fix: 'Name the key as `sysemail governor list` shows it, e.g. smtp:ops@example.com or exchange:sender@example.com',
    });
  }
  return key;
}

/** Every key known: with limits set, a pause, sends or slots, and the ones the settings send through. */
export async function governorView(store: Store, settings: Settings, now: number): Promise<GovernorKeyView[]> {
  const [set, use] = await Promise.all([store.governor.limits(), store.governor.use(now)]);
  const defaults = governorDefaults(settings);
  const keys = new Map<string, GovernorKey>();
  const rule = mailboxRule(settings);
  // the mailboxes the settings name, before they have sent anything
  if (rule.smtpUser)
    keys.set(keyText({ provider: 'smtp', mailbox: rule.smtpUser.toLowerCase() }), {
      provider: 'smtp',
      mailbox: rule.smtpUser.toLowerCase(),
    });
  const exchange = rule.exchangeMailbox ? mailboxOf('exchange', rule, rule.exchangeMailbox) : null;
  if (exchange) keys.set(keyText({ provider: 'exchange', mailbox: exchange }), { provider: 'exchange', mailbox: exchange });
  for (const r of [...set, ...use]) keys.set(keyText(r), { provider: r.provider, mailbox: r.mailbox });
  const setBy = new Map(set.map((r) => [keyText(r), r]));
  const useBy = new Map(use.map((r) => [keyText(r), r]));
  return [...keys.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([text, k]) => {
      const o = setBy.get(text);
      const u = useBy.get(text);
      const limits = effectiveLimits(defaults[k.provider] ?? { perMinute: 0, concurrency: 0, perDay: 0 }, o);
      const src = (n: keyof KeyLimits): 'set' | 'default' => (o && o[n] !== null ? 'set' : 'default');
      return {
        key: text,
        provider: k.provider,
        mailbox: k.mailbox,
        limits,
        source: { perMinute: src('perMinute'), concurrency: src('concurrency'), perDay: src('perDay') },
        use: { lastMinute: u?.lastMinute ?? 0, connections: u?.slots ?? 0, last24hRecipients: u?.last24hRecipients ?? 0 },
        pausedUntil: u?.pausedUntil ? new Date(u.pausedUntil).toISOString() : null,
        pauseReason: u?.pausedUntil ? u.pauseReason : null,
      };
    });
}

export type LimitInput = Partial<Record<keyof KeyLimits, string>>;

/** Sets the limits given (a whole number ≥ 0, 0 = no limit, or `default`); all are checked before any is set. */
export async function setGovernorLimits(store: Store, text: string, input: LimitInput, now: number): Promise<GovernorKey> {
  const key = keyOf(text);
  const given = (Object.keys(LIMIT_NAMES) as (keyof KeyLimits)[]).filter((n) => input[n] !== undefined);
  if (given.length === 0) {
    throw new SysemailError(
      'usage',
      'GOVERNOR_NOTHING_TO_SET',
      'governor set needs at least one of --per-minute, --concurrency, --per-day',
      {
        fix: `For example: sysemail governor set ${keyText(key)} --per-minute 30 --concurrency 3 --per-day 10000`,
      },
    );
  }
  const limits: Partial<LimitOverrides> = {};
  for (const n of given) {
    const raw = input[n]!.trim();
    if (raw === 'default') {
      limits[n] = null;
      continue;
    }
    if (!/^\d{1,9}$/.test(raw)) {
      throw new SysemailError('data', 'GOVERNOR_LIMIT_INVALID', `${LIMIT_NAMES[n]} ${quoted(raw)} is not a whole number of 0 or more`, {
        fix: `Give a whole number (0 = no limit) or \`default\` for the provider's default, e.g. ${LIMIT_NAMES[n]} 30`,
      });
    }
    limits[n] = Number(raw);
  }
  await store.governor.setLimits(key, limits, now);
  return key;
}

/** Back to the provider's defaults, and any pause lifted. */
export async function resetGovernor(store: Store, text: string): Promise<{ key: string; changed: boolean }> {
  const key = keyOf(text);
  return { key: keyText(key), changed: await store.governor.reset(key) };
}
