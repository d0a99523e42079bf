/**
 * The suppression list: addresses sysemail does not send to. Entries come from permanent refusals
 * (the distributor and `send`), hard bounces (`bounces import`), and the operator (`suppress add`,
 * `suppress import`); `send` and `notify` refuse a suppressed recipient, and the distributor fails a
 * queued message to one at claim time, before any provider sees it.
 */
import { isValidAddress } from '../core/address.js';
import { parseDuration } from '../core/duration.js';
import { SysemailError } from '../core/errors.js';
import { addressOf } from '../core/message.js';
import { suppressionKey, type SuppressionEntry, type SuppressionSource } from '../core/suppression.js';
import { quoted } from '../core/text.js';
import type { Store, SuppressionRow } from '../store/ports.js';

/** A row as `suppress list --json` prints it. */
export interface SuppressionView {
  address: string;
  reason: string;
  source: SuppressionSource;
  messageId: number | null;
  createdAt: string;
  expiresAt: string | null;
}

export function viewOf(r: SuppressionRow): SuppressionView {
  return {
    address: r.address,
    reason: r.reason,
    source: r.source,
    messageId: r.messageId,
    createdAt: new Date(r.createdAt).toISOString(),
    expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(),
  };
}

function checkedAddress(text: string, where: string): string {
  const address = addressOf(text.trim());
  if (!isValidAddress(address)) {
    throw new SysemailError('data', 'ADDRESS_INVALID', `${where}: ${quoted(text)} is not an email address`, {
      fix: 'Give a bare address such as ann@example.com',
    });
  }
  return suppressionKey(address);
}

/** `--expires`: a duration from now (30d, 12h) or an ISO 8601 time in the future. */
export function parseExpiry(text: string | undefined, now: number): number | null {
  if (text === undefined) return null;
  if (/^\s*\d+(\.\d+)?\s*[smhdw]?\s*$/i.test(text)) return now + parseDuration(text, '--expires');
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || at <= now) {
    throw new SysemailError('usage', 'EXPIRES_INVALID', `--expires ${quoted(text)} is neither a duration nor a time in the future`, {
      fix: 'Give a duration such as --expires 30d, or a time such as --expires 2027-01-31T00:00Z',
    });
  }
  return at;
}

export async function listSuppressions(store: Store, now: number): Promise<SuppressionView[]> {
  return (await store.suppressions.list(now)).map(viewOf);
}

export async function addSuppression(
  store: Store,
  req: { address: string; reason?: string; expires?: string },
  now: number,
): Promise<SuppressionView> {
  const address = checkedAddress(req.address, 'suppress add');
  const expiresAt = parseExpiry(req.expires, now);
  const reason = req.reason?.trim() || 'added by the operator';
  if (/[\r\n\0]/.test(reason)) {
    throw new SysemailError('data', 'VALUE_NOT_ONE_LINE', '--reason must be one line', { fix: 'Give the reason without line breaks' });
  }
  await store.suppressions.add([{ address, reason, source: 'manual', expiresAt }], now);
  const [row] = await store.suppressions.find([address], now);
  return viewOf(row);
}

export async function removeSuppression(store: Store, address: string): Promise<{ address: string; removed: true }> {
  const key = suppressionKey(addressOf(address.trim()));
  if (!(await store.suppressions.remove(key))) {
    throw new SysemailError('data', 'SUPPRESSION_NOT_FOUND', `${quoted(key)} is not on the suppression list`, {
      fix: 'See the list with `sysemail suppress list`; the mailbox part is compared as written, the domain in any case',
    });
  }
  return { address: key, removed: true };
}

/**
 * `suppress import`: one address per line, or CSV `address,reason` (a header line `address,...` is
 * skipped; `#` starts a comment). Every line is checked first; one bad line imports nothing.
 */
export function parseSuppressionList(text: string, o: { reason?: string; expiresAt: number | null }): SuppressionEntry[] {
  const entries = new Map<string, SuppressionEntry>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [first, ...rest] = splitCsv(line);
    if (i === 0 && /^e?-?mail|^address$/i.test(first)) return;
    const address = addressOf(first);
    if (!isValidAddress(address)) {
      problems.push(`line ${i + 1}: ${quoted(first)} is not an email address`);
      return;
    }
    const reason = rest.join(',').trim() || o.reason || 'imported';
    const key = suppressionKey(address);
    entries.set(key, { address: key, reason, source: 'import', expiresAt: o.expiresAt });
  });
  if (problems.length > 0) {
    throw new SysemailError(
      'data',
      'SUPPRESS_IMPORT_INVALID',
      `${problems.length} bad line(s), nothing imported: ${problems.slice(0, 5).join('; ')}`,
      {
        fix: 'Put one address per line, or address,reason',
        data: { problems },
      },
    );
  }
  return [...entries.values()];
}

/** One CSV line's fields (double quotes may hold commas; "" is a quote). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quotedField = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quotedField) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quotedField = false;
      else cur += ch;
    } else if (ch === '"') quotedField = true;
    else if (ch === ',' || ch === ';' || ch === '\t') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

export async function importSuppressions(
  store: Store,
  text: string,
  o: { reason?: string; expires?: string; now: number },
): Promise<{ imported: number; addresses: number }> {
  const entries = parseSuppressionList(text, { reason: o.reason, expiresAt: parseExpiry(o.expires, o.now) });
  const imported = entries.length === 0 ? 0 : await store.suppressions.add(entries, o.now);
  return { imported, addresses: entries.length };
}

/** The first suppressed recipient among these, with its entry; undefined when none is. */
export async function suppressedAmong(store: Store, recipients: readonly string[], now: number): Promise<SuppressionRow | undefined> {
  if (recipients.length === 0) return undefined;
  const keys = recipients.map((r) => suppressionKey(addressOf(r)));
  const found = new Map((await store.suppressions.find(keys, now)).map((e) => [e.address, e]));
  for (const k of keys) if (found.has(k)) return found.get(k);
  return undefined;
}

/** The error `send` (and `notify` without --json) stops with: 65, naming the entry. */
export function suppressedError(e: SuppressionView): SysemailError {
  return new SysemailError('data', 'RECIPIENT_SUPPRESSED', suppressedLine(e), {
    fix: `If the address works again, lift it with \`sysemail suppress remove ${e.address}\``,
    data: { suppression: e },
  });
}

/** `ann@example.com is on the suppression list since ... (smtp, message 12: 550 5.1.1 ...)`. */
export function suppressedLine(e: SuppressionView): string {
  const why = `${e.source}${e.messageId !== null ? `, message ${e.messageId}` : ''}: ${e.reason}`;
  return `${e.address} is on the suppression list since ${e.createdAt} (${why})`;
}

/** Refuses (65) when any recipient is suppressed; nothing is stored or sent. */
export async function assertNotSuppressed(store: Store, recipients: readonly string[], now: number): Promise<void> {
  const hit = await suppressedAmong(store, recipients, now);
  if (hit) throw suppressedError(viewOf(hit));
}
