/** The send governor's keys as `governor list` and `queue status` print them. */
import type { GovernorKeyView } from '../app/governor.js';
import type { Output } from './output.js';

export const limitText = (n: number, source: 'set' | 'default') => `${n === 0 ? 'none' : n}${source === 'set' ? '' : ' (default)'}`;

/** The governor's keys as a table: limits, their use right now, and pauses. */
export async function governorTable(output: Output, keys: readonly GovernorKeyView[]): Promise<void> {
  await output.table(
    ['key', 'per minute', 'sent last 60 s', 'concurrency', 'sending now', 'recipients / 24 h', 'last 24 h', 'paused until'],
    keys.map((k) => [
      k.key,
      limitText(k.limits.perMinute, k.source.perMinute),
      k.use.lastMinute,
      limitText(k.limits.concurrency, k.source.concurrency),
      k.use.connections,
      limitText(k.limits.perDay, k.source.perDay),
      k.use.last24hRecipients,
      k.pausedUntil ? `${k.pausedUntil} (${k.pauseReason ?? 'slow down'})` : '',
    ]),
  );
}
