/**
 * The distributor's side of the send governor (core/governor.ts): the claim carries each key's rule
 * and defaults (rate, day and pauses are decided there, in the database); a message whose key limits
 * concurrent sends holds a leased slot while it is sent, over a connection of its own; a "slow down"
 * reply pauses its key for every run.
 */
import type { Clock } from '../../core/clock.js';
import { defaultLimits, parseKey, slowDownOf, type GovernorKey, type KeyLimits, type MailboxRule } from '../../core/governor.js';
import type { FailureInfo } from '../../core/failure.js';
import { isMicrosoft365Host } from '../../core/params.js';
import type { Settings } from '../../core/precedence.js';
import { PROVIDER_NAMES, type ProviderName } from '../../core/providers.js';
import { perMinuteLimit } from '../../core/throttle.js';
import type { ClaimedMessage, GovernorClaim, GovernorRepo } from '../../store/ports.js';

export type KeyLimitsByProvider = Partial<Record<ProviderName, KeyLimits>>;

/** Whose limits a message counts against, as the settings say (see core/governor.ts). */
export function mailboxRule(settings: Settings): MailboxRule {
  const user = settings.string('smtp.username');
  return {
    smtpUser: settings.boolean('smtp.authRequired') && user ? user : null,
    exchangeMailbox: settings.string('exchange.mailbox') ?? null,
  };
}

/** The default limits of every key of each provider. */
export function governorDefaults(settings: Settings): KeyLimitsByProvider {
  const throttling = settings.boolean('throttling.enabled');
  const out: KeyLimitsByProvider = {};
  for (const p of PROVIDER_NAMES) {
    out[p] = defaultLimits(p, {
      throttling,
      perMinute: perMinuteLimit(settings, p),
      microsoft365: p === 'exchange' || (p === 'smtp' && isMicrosoft365Host(settings.string('smtp.host'))),
    });
  }
  return out;
}

export function governorClaim(settings: Settings): GovernorClaim {
  return { rule: mailboxRule(settings), defaults: governorDefaults(settings) };
}

/** How often a send waiting for a slot asks again. */
const SLOT_POLL_MS = 100;

export class GovernorGate {
  constructor(
    private readonly repo: GovernorRepo,
    private readonly owner: string,
    private readonly clock: Clock,
  ) {}

  private keyOf(m: ClaimedMessage): GovernorKey | undefined {
    return m.governorKey ? parseKey(m.governorKey).key : undefined;
  }

  /**
   * Waits for one of the key's slots (leased for `leaseMs`: a process killed while sending frees it
   * when the lease runs out). Resolves false when `stopped()` before a slot came.
   */
  async enter(m: ClaimedMessage, leaseMs: number, stopped: () => boolean): Promise<boolean> {
    const key = this.keyOf(m);
    if (!key || !m.slotLimit) return true;
    for (;;) {
      if (stopped()) return false;
      if (await this.repo.acquireSlot(key, { owner: this.owner, messageId: m.id, limit: m.slotLimit, leaseMs })) return true;
      await new Promise((r) => setTimeout(r, SLOT_POLL_MS));
    }
  }

  async leave(m: ClaimedMessage): Promise<void> {
    const key = this.keyOf(m);
    if (key && m.slotLimit) await this.repo.releaseSlot(key, this.owner, m.id);
  }

  /** A "slow down" reply pauses the message's key for every run: for how long, or null when it was none. */
  async slowDown(m: ClaimedMessage, failure: FailureInfo): Promise<number | null> {
    const key = this.keyOf(m);
    const s = key ? slowDownOf(failure) : null;
    if (!key || !s) return null;
    const words = (failure.response ?? '').slice(0, 200);
    await this.repo.pause(key, { now: this.clock.now(), pauseMs: s.pauseSec * 1000, reason: words || 'slow down' });
    return s.pauseSec;
  }
}
