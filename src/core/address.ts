/**
 * Email address checks (RFC 5322 addr-spec, with internationalised domains and local parts allowed),
 * and mailboxes: an address with an optional display name, `Ops Team <ops@example.com>`.
 */

// dot-atom local part; non-ASCII allowed (SMTPUTF8 / RFC 6531)
const LOCAL_DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+)*$/;
const LOCAL_QUOTED = /^"([\x20\x21\x23-\x5B\x5D-\x7E\u0080-\uFFFF]|\\[\x20-\x7E])*"$/;
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/u;
const IP_LITERAL = /^\[(IPv6:[0-9A-Fa-f:.]+|\d{1,3}(\.\d{1,3}){3})\]$/;

export function splitAddress(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const ADDRESS_SPECIALS = /[\s<>()[\],;:\\]/;

/** An ASCII label (letters, digits, inner dashes, 1-63 long) checked without a regex: what DOMAIN_LABEL says for ASCII. */
function isAsciiLabel(label: string): boolean | undefined {
  const n = label.length;
  if (n === 0 || n > 63) return n === 0 ? false : undefined;
  for (let i = 0; i < n; i++) {
    const c = label.charCodeAt(i);
    if (c >= 0x80) return undefined; // an internationalised label: the regex decides
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && !(c === 45 && i > 0 && i < n - 1)) return false;
  }
  return true;
}

export function isValidDomain(domain: string): boolean {
  if (domain.charCodeAt(0) === 91 /* [ */ && IP_LITERAL.test(domain)) return true;
  if (domain.length > 253) return false;
  // a domain is checked for every recipient of every imported line: labels one by one, no array
  for (let start = 0; ;) {
    const dot = domain.indexOf('.', start);
    const label = dot === -1 ? domain.slice(start) : domain.slice(start, dot);
    if (!(isAsciiLabel(label) ?? DOMAIN_LABEL.test(label))) return false;
    if (dot === -1) return true;
    start = dot + 1;
  }
}

export function isValidAddress(address: string): boolean {
  // control characters (CR, LF, NUL, C1) are never part of an address, not even a quoted one
  if (CONTROL.test(address)) return false;
  const parts = splitAddress(address);
  // a quoted local part and an address literal may hold specials; only the rest is looked at
  let plain = address;
  if (address.charCodeAt(0) === 34 /* " */) plain = plain.replace(/^".*"@/, 'x@');
  if (plain.includes('@[')) plain = plain.replace(/@\[.*\]$/, '@x');
  if (address.length > 320 || ADDRESS_SPECIALS.test(plain)) {
    if (!LOCAL_QUOTED.test(parts?.local ?? '')) return false;
  }
  if (!parts) return false;
  if (parts.local.length > 64) return false;
  if (!LOCAL_DOT_ATOM.test(parts.local) && !LOCAL_QUOTED.test(parts.local)) return false;
  return isValidDomain(parts.domain);
}

/** `user@contoso` (a domain without a dot) — Microsoft 365 refuses such recipients. */
export function isSingleLabelDomain(address: string): boolean {
  const parts = splitAddress(address);
  return !!parts && !IP_LITERAL.test(parts.domain) && !parts.domain.includes('.');
}

/** A mailbox split into its parts: `"Ann Lee" <ann@example.com>` → {name: 'Ann Lee', address: 'ann@example.com'}. */
export interface Mailbox {
  name?: string;
  address: string;
}

/**
 * Parses one mailbox: `a@b`, `<a@b>`, `Name <a@b>`, `"Last, First" <a@b>`. undefined when malformed.
 * Lenient about the name (recipients pasted from a mail client often carry `ann@x <ann@x>`);
 * formatMailbox quotes it as needed. Senders are checked strictly by parseSender.
 */
export function parseMailbox(text: string): Mailbox | undefined {
  const s = text.trim();
  // without a closing '>' at the end there is no <address> part (the common case: a bare address)
  const angled = s.endsWith('>') ? /^(.*?)\s*<([^<>]*)>$/s.exec(s) : null;
  if (!angled) return isValidAddress(s) ? { address: s } : undefined;
  let name = angled[1].trim();
  const address = angled[2].trim();
  if (!isValidAddress(address)) return undefined;
  if (/^".*"$/s.test(name)) name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  else if (/["<>]/.test(name)) return undefined;
  return name ? { name, address } : { address };
}

/** The header form of a mailbox, quoting the name when it holds specials. */
export function formatMailbox(m: Mailbox): string {
  if (!m.name) return m.address;
  const name =
    /^[\p{L}\p{N} !#$%&'*+\-/=?^_`{|}~.]+$/u.test(m.name) && !/^\.|\.$/.test(m.name) ? m.name : `"${m.name.replace(/(["\\])/g, '\\$1')}"`;
  return `${name} <${m.address}>`;
}

/** Characters that end an atom (RFC 5322 specials, less the dot that obs-phrase allows in names). */
const PHRASE_SPECIALS = /[()<>[\]:;@\\,"]/;

/**
 * A sender (From): exactly one RFC 5322 mailbox, a bare address or `Name <address>`, where the name is
 * words and quoted strings (any script). Refuses what would put another address in the header or
 * split it in two: line breaks, a second address, a comma outside quotes, a name with no address.
 */
export function parseSender(text: string): { value?: Mailbox; error?: string } {
  if (/[\r\n\0]/.test(text)) return { error: 'contains a line break, which could add headers' };
  const s = text.trim();
  if (s === '') return { error: 'is empty' };
  // where the angle-bracketed address starts, skipping quoted strings
  let quoted = false;
  const opens: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quoted && ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') opens.push(i);
  }
  if (quoted) return { error: 'has a double quote that is not closed' };
  if (opens.length > 1) return { error: 'holds more than one address; a sender is one mailbox' };
  if (opens.length === 0) {
    if (isValidAddress(s)) return { value: { address: s } };
    if (!s.includes('@')) return { error: 'has no address, only a name' };
    if (/[,;]/.test(s) || (s.match(/@/g) ?? []).length > 1) return { error: 'holds more than one address; a sender is one mailbox' };
    return { error: 'is not a valid email address' };
  }
  const lt = opens[0];
  if (s.indexOf('>', lt) === -1) return { error: "has a '<' that is not closed with '>'" };
  if (!s.endsWith('>') || s.indexOf('>', lt) !== s.length - 1) return { error: 'has text after the <address>' };
  const address = s.slice(lt + 1, -1).trim();
  if (!isValidAddress(address)) return { error: `'<${address}>' is not a valid email address` };
  const rawName = s.slice(0, lt).trim();
  let name = '';
  for (const part of rawName.match(/"(?:[^"\\]|\\.)*"|[^"]+/g) ?? []) {
    if (part.startsWith('"')) {
      name += part.slice(1, -1).replace(/\\(.)/g, '$1');
      continue;
    }
    if (/[,;]/.test(part))
      return {
        error: `has a comma or semicolon outside quotes, which separates addresses; quote the name: "${rawName.replace(/"/g, '')}" <${address}>`,
      };
    if (part.includes('@')) return { error: 'has an address in its name; a sender is one mailbox (quote the name if it must hold an @)' };
    if (PHRASE_SPECIALS.test(part)) return { error: `has a name with special characters ( ) < > [ ] : \\; put the name in double quotes` };
    name += part.replace(/\s+/g, ' ');
  }
  name = name.trim();
  return { value: name ? { name, address } : { address } };
}

/** The domain for Message-IDs made for this sender: the bare address's, reduced to what an id may hold. */
export function messageIdDomain(from: string): string {
  const address = parseMailbox(from)?.address ?? from;
  return splitAddress(address)?.domain.replace(/[^\w.-]/g, '') || 'localhost';
}
