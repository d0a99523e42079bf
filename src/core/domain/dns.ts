/**
 * The DNS port the sender-domain checks use. src/core states what it needs; the adapter
 * (src/providers/dns.ts) answers it through Node's resolver, and tests through a loopback server.
 */

/** Why a lookup gave no records. `nxdomain` and `nodata` are answers (and count as SPF void lookups); the rest are failures. */
export type DnsFailure = 'nxdomain' | 'nodata' | 'servfail' | 'timeout' | 'refused' | 'unreachable' | 'error';

export type DnsAnswer<T> = { ok: true; records: T[] } | { ok: false; failure: DnsFailure; detail: string };

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface DomainDns {
  /** Each TXT record with its character-strings joined. */
  txt(name: string): Promise<DnsAnswer<string>>;
  a(name: string): Promise<DnsAnswer<string>>;
  aaaa(name: string): Promise<DnsAnswer<string>>;
  mx(name: string): Promise<DnsAnswer<MxRecord>>;
  /** PTR names of an address. */
  ptr(ip: string): Promise<DnsAnswer<string>>;
}

/** An answer that says the name or the type does not exist (as opposed to a failure to ask). */
export function isEmptyAnswer(answer: DnsAnswer<unknown>): boolean {
  return answer.ok ? answer.records.length === 0 : answer.failure === 'nxdomain' || answer.failure === 'nodata';
}

/** The records of an answer, none for an empty answer or a failure. */
export function recordsOf<T>(answer: DnsAnswer<T>): T[] {
  return answer.ok ? answer.records : [];
}

/** A failure that is not an answer: the server could not be asked or could not answer. */
export function isLookupError(answer: DnsAnswer<unknown>): answer is { ok: false; failure: DnsFailure; detail: string } {
  return !answer.ok && answer.failure !== 'nxdomain' && answer.failure !== 'nodata';
}

/** A domain name normalised for comparison: lower case, no trailing dot. */
export function normalName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** Whether a text is a plausible domain name (labels of letters, digits and hyphens, at least one dot). */
export function isDomainName(name: string): boolean {
  const n = normalName(name);
  if (n.length === 0 || n.length > 253 || !n.includes('.')) return false;
  return n.split('.').every((l) => /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/.test(l));
}
