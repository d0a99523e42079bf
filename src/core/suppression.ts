/**
 * The suppression list's rules: how an address is compared, which refusals of a recipient put it on
 * the list (hard: for good; soft: for a while), and the words kept with it. Pure.
 *
 * Comparison: the domain is compared case-insensitively (DNS names are), the mailbox (local part)
 * exactly as it was given: RFC 5321 lets a server tell `Ann` from `ann`, and most do not, so an entry
 * is only ever taken for the spelling that was refused or listed.
 */
import { splitAddress } from './address.js';
import { enhancedCodeOf, type FailureInfo } from './failure.js';

export const SUPPRESSION_SOURCES = ['manual', 'import', 'refusal', 'bounce'] as const;
export type SuppressionSource = (typeof SUPPRESSION_SOURCES)[number];

/** Reason of a queued message failed because a recipient is suppressed (queue list's `reason`). */
export const SUPPRESSED_REASON = 'suppressed';
/** lastError.code of such a message. */
export const SUPPRESSED_CODE = 'SUPPRESSED';

/** Days a soft automatic suppression lasts when suppression.softExpiryDays is not set. */
export const DEFAULT_SOFT_EXPIRY_DAYS = 7;

/** The key an address is listed and looked up under: the mailbox as given, the domain in lower case. */
export function suppressionKey(address: string): string {
  const bare = address.trim().replace(/^.*<([^<>]+)>\s*$/, '$1');
  const parts = splitAddress(bare);
  return parts ? `${parts.local}@${parts.domain.toLowerCase()}` : bare;
}

/** Every recipient of a message (To, Cc, Bcc, bare or with a display name), as keys. */
export function recipientKeys(m: { to: readonly string[]; cc: readonly string[]; bcc: readonly string[] }): string[] {
  return [...m.to, ...m.cc, ...m.bcc].map(suppressionKey);
}

/** The failure a queued message blocked by the list is recorded with: it never reached a provider. */
export function suppressedFailure(e: { address: string; source: string; messageId: number | null; reason: string }): {
  code: string;
  response: string;
} {
  return {
    code: SUPPRESSED_CODE,
    response: `${e.address} is on the suppression list (${e.source}${e.messageId !== null ? `, message ${e.messageId}` : ''}: ${e.reason})`,
  };
}

/** An entry to add: what the store writes. */
export interface SuppressionEntry {
  address: string;
  reason: string;
  source: SuppressionSource;
  /** The message whose refusal or bounce put the address on the list. */
  messageId?: number | null;
  /** Epoch ms; null = until removed. */
  expiresAt?: number | null;
}

export type RefusalKind = 'hard' | 'soft';

/** Statuses (RFC 3463) that say the recipient's address is no good: unknown, no such mailbox, disabled. */
const HARD_STATUSES = new Set(['5.1.1', '5.1.10', '5.2.1', '5.1.0', '5.1.6']);
/** The mailbox exists but takes nothing now (over quota): suppressed for a while only. */
const SOFT_STATUSES = new Set(['5.2.2']);

/**
 * Real wordings of "no such recipient" from servers that give no enhanced status, or a generic one:
 * Exim "550 Unrouteable address", Postfix "User unknown in virtual mailbox table", Microsoft 365
 * "RecipientNotFound", Gmail "The email account that you tried to reach does not exist", "mailbox
 * disabled", sendmail "User unknown", qmail "no mailbox here by that name".
 */
const HARD_TEXT =
  /unrouteable address|user unknown|unknown user|recipient not found|RecipientNotFound|RESOLVER\.ADR\.|does not exist|no such (user|mailbox|recipient)|mailbox (is )?(disabled|unavailable|not found)|account (is )?disabled|invalid recipient|recipient address rejected: (user unknown|undeliverable)|no mailbox here/i;
const SOFT_TEXT = /over quota|quota exceeded|mailbox (is )?full|insufficient storage/i;

/**
 * Does this reply refuse the recipient itself, permanently? `hard` puts the address on the list for
 * good, `soft` (a full mailbox) for suppression.softExpiryDays; null: not a verdict on the address
 * (a policy, a size, a temporary refusal).
 */
export function recipientRefusal(reply: { responseCode?: number; enhancedCode?: string; response?: string }): RefusalKind | null {
  const text = reply.response ?? '';
  const code = reply.responseCode ?? (/^[2-5]\d\d(?=[ -]|$)/.test(text) ? Number(text.slice(0, 3)) : undefined);
  const status = reply.enhancedCode ?? enhancedCodeOf(text);
  if (status?.startsWith('4.') || (code !== undefined && code < 500)) return null;
  if (status && HARD_STATUSES.has(status)) return 'hard';
  if (status && SOFT_STATUSES.has(status)) return 'soft';
  // another 5.x.x status says what it is (5.7.1 policy, 5.3.4 size): only a generic one defers to the words
  if (status && status !== '5.0.0' && status !== '5.1.0') return null;
  if (code !== undefined && code !== 550 && code !== 551 && code !== 553 && code !== 554) return null;
  if (HARD_TEXT.test(text)) return 'hard';
  if (SOFT_TEXT.test(text)) return 'soft';
  return null;
}

/** The one line kept as an entry's reason: the status and the server's words, bounded. */
export function refusalReason(words: string, max = 300): string {
  const line = words.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** One recipient's refusal, as nodemailer reports it per RCPT (or per DATA on LMTP). */
export interface RecipientRefusal {
  recipient: string;
  responseCode?: number;
  response: string;
}

/**
 * What to put on the list after one attempt: each refused recipient whose refusal is about the
 * address. When the failure names no recipients (a provider that does not say), a hard refusal of a
 * message with a single recipient is that recipient's.
 */
export function suppressionsAfter(
  attempt: { failure?: FailureInfo | null; refused?: readonly RecipientRefusal[]; recipients: readonly string[] },
  o: { messageId: number; now: number; softExpiryMs: number; source?: SuppressionSource },
): SuppressionEntry[] {
  const refused: RecipientRefusal[] = [...(attempt.refused ?? []), ...(attempt.failure?.refused ?? [])];
  if (refused.length === 0 && attempt.failure && attempt.recipients.length === 1 && attempt.failure.phase === 'rcpt') {
    refused.push({
      recipient: attempt.recipients[0],
      responseCode: attempt.failure.responseCode,
      response: attempt.failure.response ?? '',
    });
  }
  const out = new Map<string, SuppressionEntry>();
  for (const r of refused) {
    const kind = recipientRefusal(r);
    if (!kind) continue;
    const address = suppressionKey(r.recipient);
    out.set(address, {
      address,
      reason: refusalReason(r.response),
      source: o.source ?? 'refusal',
      messageId: o.messageId,
      expiresAt: kind === 'soft' ? o.now + o.softExpiryMs : null,
    });
  }
  return [...out.values()];
}
