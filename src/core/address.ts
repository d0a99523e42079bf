/**
 * Email address checks (RFC 5322 addr-spec, with internationalised domains and local parts allowed).
 * Display names are handled by the message layer; these functions look at the bare address.
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

export function isValidDomain(domain: string): boolean {
  if (IP_LITERAL.test(domain)) return true;
  if (domain.length > 253) return false;
  return domain.split('.').every((l) => DOMAIN_LABEL.test(l));
}

export function isValidAddress(address: string): boolean {
  // control characters (CR, LF, NUL, C1) are never part of an address, not even a quoted one
  if (/[\u0000-\u001f\u007f-\u009f]/.test(address)) return false;
  if (address.length > 320 || /[\s<>()\[\],;:\\]/.test(address.replace(/^".*"@/, 'x@').replace(/@\[.*\]$/, '@x'))) {
    if (!LOCAL_QUOTED.test(splitAddress(address)?.local ?? '')) return false;
  }
  const parts = splitAddress(address);
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
