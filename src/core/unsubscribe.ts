/**
 * One-click unsubscribe (RFC 8058, RFC 2369): the List-Unsubscribe header with an https address (which
 * must accept a POST of `List-Unsubscribe=One-Click`) and optionally a mailto address, and the
 * List-Unsubscribe-Post header that says the https address takes one click. Gmail, Yahoo and
 * Outlook.com require them of bulk senders; the DKIM signature covers both (core/dkim.ts).
 */
import { SysemailError, quoted } from './errors.js';

export const ONE_CLICK = 'List-Unsubscribe=One-Click';

export interface UnsubscribeFields {
  /** https URL, may hold %placeholders% (a per-recipient token). */
  url?: string | null;
  /** An address or a mailto: URI, may hold %placeholders%. */
  mailto?: string | null;
}

/** Placeholders stand for a value that is not known yet: checked with a harmless stand-in. */
const withStandIns = (s: string) => s.replace(/%[A-Za-z0-9_.]+%/g, 'x');

/** Why an unsubscribe URL is not usable, or undefined when it is. */
export function unsubscribeUrlProblem(url: string): string | undefined {
  if (/[\r\n<>\s]/.test(url)) return `the unsubscribe URL ${quoted(url)} holds a space, a line break or < >`;
  let parsed: URL;
  try {
    parsed = new URL(withStandIns(url));
  } catch {
    return `the unsubscribe URL ${quoted(url)} is not a URL`;
  }
  if (parsed.protocol !== 'https:') return `the unsubscribe URL ${quoted(url)} is not https (one-click unsubscribe needs https)`;
  return undefined;
}

/** `unsub@example.com` or `mailto:unsub@example.com?subject=...` as a mailto URI; undefined when unusable. */
export function mailtoUri(value: string): string | undefined {
  const v = value.trim();
  if (/[\r\n<>\s]/.test(v)) return undefined;
  const uri = /^mailto:/i.test(v) ? v : `mailto:${v}`;
  const addr = uri.slice('mailto:'.length).split('?')[0];
  return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(withStandIns(addr)) ? uri : undefined;
}

export function unsubscribeError(message: string, fix: string): SysemailError {
  return new SysemailError('data', 'UNSUBSCRIBE_INVALID', message, { fix });
}

/** Checks both fields (each optional); 65 naming the one that is wrong. */
export function checkUnsubscribe(f: UnsubscribeFields, flag: { url: string; mailto: string }): void {
  if (f.url) {
    const problem = unsubscribeUrlProblem(f.url);
    if (problem) throw unsubscribeError(problem, `Give ${flag.url} https://... (it must accept a POST of ${ONE_CLICK})`);
  }
  if (f.mailto && !mailtoUri(f.mailto)) {
    throw unsubscribeError(
      `the unsubscribe address ${quoted(f.mailto)} is not an address or a mailto: URI`,
      `Give ${flag.mailto} unsubscribe@example.com`,
    );
  }
}

/** The two headers for the (rendered) fields; none when neither is given. */
export function unsubscribeHeaders(f: UnsubscribeFields): Record<string, string> {
  const uris: string[] = [];
  if (f.mailto) uris.push(mailtoUri(f.mailto) ?? `mailto:${f.mailto}`);
  if (f.url) uris.push(f.url);
  if (uris.length === 0) return {};
  return {
    'List-Unsubscribe': uris.map((u) => `<${u}>`).join(', '),
    ...(f.url ? { 'List-Unsubscribe-Post': ONE_CLICK } : {}),
  };
}
