import { SysemailError } from './errors.js';
import { quoted } from './text.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** "7d", "12h", "30m", "90s", "2w"; a bare number means days. `what` names the option in the error. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])?\s*$/i.exec(text);
  if (!m) {
    throw new SysemailError('usage', 'DURATION_INVALID', `${what} must be a duration like 7d, 12h or 30m (got ${quoted(text)})`, {
      fix: `Example: ${what} 7d`,
    });
  }
  const unit = (m[2] ?? 'd').toLowerCase() as keyof typeof UNIT_MS;
  return Math.round(Number(m[1]) * UNIT_MS[unit]);
}
