/**
 * SPF (RFC 7208): the record's syntax, and check_host() — whether an address may send for a domain —
 * with the limits of section 4.6.4: at most 10 terms that cause DNS lookups (include, a, mx, ptr,
 * exists, redirect) over the whole evaluation, at most 2 of them void (no records), at most 10 names
 * per mx or ptr. DNS goes through the DomainDns port.
 */
import { isEmptyAnswer, isLookupError, normalName, recordsOf, type DomainDns } from './dns.js';
import { ipFamily, ipv4Bytes, ipv6Bytes, inNetwork } from './ip.js';

export type SpfQualifier = '+' | '-' | '~' | '?';
export type SpfMechanismName = 'all' | 'include' | 'a' | 'mx' | 'ptr' | 'ip4' | 'ip6' | 'exists';

export interface SpfMechanism {
  kind: 'mechanism';
  qualifier: SpfQualifier;
  name: SpfMechanismName;
  /** The domain-spec (include, exists, and optional for a, mx, ptr) or the address (ip4, ip6). */
  value?: string;
  prefix4?: number;
  prefix6?: number;
  /** As written, for messages. */
  text: string;
}

export interface SpfModifier {
  kind: 'modifier';
  name: string;
  value: string;
  text: string;
}

export type SpfTerm = SpfMechanism | SpfModifier;

export interface SpfRecord {
  terms: SpfTerm[];
  mechanisms: SpfMechanism[];
  redirect?: string;
  exp?: string;
}

export type Parsed<T> = { value: T; errors: [] } | { value?: undefined; errors: string[] };

/** Whether a TXT string is an SPF record (RFC 7208 4.5: "v=spf1" then a space or the end). */
export function isSpfRecord(txt: string): boolean {
  return /^v=spf1(?: |$)/i.test(txt);
}

const MECHANISMS = new Set<string>(['all', 'include', 'a', 'mx', 'ptr', 'ip4', 'ip6', 'exists']);
/** Terms that cost a DNS lookup (RFC 7208 4.6.4). */
export const LOOKUP_TERMS = new Set(['include', 'a', 'mx', 'ptr', 'exists', 'redirect']);
export const MAX_LOOKUPS = 10;
export const MAX_VOID_LOOKUPS = 2;
const MAX_NAMES = 10;

/** A domain-spec: a domain name, possibly with macros (%{...}, %%, %_, %-). */
function validDomainSpec(spec: string): boolean {
  if (spec === '') return false;
  const withoutMacros = spec.replace(/%\{[slodiphcrtv]\d*r?[.\-+,/_=]*\}|%%|%_|%-/gi, 'x');
  if (withoutMacros.includes('%')) return false;
  return /^[\x21-\x7e]+$/.test(withoutMacros) && !withoutMacros.startsWith('.') && !withoutMacros.includes('..');
}

function prefixOf(text: string | undefined, max: number): number | undefined | null {
  if (text === undefined) return undefined;
  if (!/^\d{1,3}$/.test(text) || (text.length > 1 && text.startsWith('0'))) return null;
  const n = Number(text);
  return n > max ? null : n;
}

export function parseSpf(record: string): Parsed<SpfRecord> {
  if (!isSpfRecord(record)) return { errors: ['the record does not start with "v=spf1"'] };
  const errors: string[] = [];
  const terms: SpfTerm[] = [];
  for (const text of record
    .slice(6)
    .split(' ')
    .filter((t) => t !== '')) {
    const modifier = /^([a-z][a-z0-9_.-]*)=(.*)$/i.exec(text);
    if (modifier) {
      const name = modifier[1].toLowerCase();
      const value = modifier[2];
      if ((name === 'redirect' || name === 'exp') && !validDomainSpec(value)) errors.push(`"${text}": ${name}= needs a domain`);
      else if (terms.some((t) => t.kind === 'modifier' && t.name === name && (name === 'redirect' || name === 'exp')))
        errors.push(`"${text}": ${name}= appears twice`);
      terms.push({ kind: 'modifier', name, value, text });
      continue;
    }
    const m = /^([+\-~?]?)([a-z0-9]+)(.*)$/i.exec(text);
    const name = m?.[2].toLowerCase();
    if (!m || !name || !MECHANISMS.has(name)) {
      errors.push(`"${text}" is not an SPF mechanism or modifier`);
      continue;
    }
    const qualifier = (m[1] || '+') as SpfQualifier;
    const rest = m[3];
    const mech: SpfMechanism = { kind: 'mechanism', qualifier, name: name as SpfMechanismName, text };
    const bad = (why: string) => errors.push(`"${text}": ${why}`);
    switch (name) {
      case 'all':
        if (rest !== '') bad('all takes no argument');
        break;
      case 'include':
      case 'exists': {
        const value = /^:(.+)$/.exec(rest)?.[1];
        if (value === undefined || !validDomainSpec(value)) bad(`${name} needs a domain (${name}:example.com)`);
        else mech.value = value;
        break;
      }
      case 'ptr': {
        const v = /^(?::(.+))?$/.exec(rest);
        if (!v || (v[1] !== undefined && !validDomainSpec(v[1]))) bad('ptr: bad domain');
        else if (v[1] !== undefined) mech.value = v[1];
        break;
      }
      case 'a':
      case 'mx': {
        const v = /^(?::([^/]+))?(?:\/(\d+))?(?:\/\/(\d+))?$/.exec(rest);
        const p4 = prefixOf(v?.[2], 32);
        const p6 = prefixOf(v?.[3], 128);
        if (!v || (v[1] !== undefined && !validDomainSpec(v[1]))) bad(`${name}: bad domain`);
        else if (p4 === null || p6 === null) bad('bad prefix length');
        else {
          if (v[1] !== undefined) mech.value = v[1];
          if (p4 !== undefined) mech.prefix4 = p4;
          if (p6 !== undefined) mech.prefix6 = p6;
        }
        break;
      }
      case 'ip4':
      case 'ip6': {
        const v = /^:([^/]+)(?:\/(\d+))?$/.exec(rest);
        const p = prefixOf(v?.[2], name === 'ip4' ? 32 : 128);
        const ok = v && (name === 'ip4' ? ipv4Bytes(v[1]) : ipv6Bytes(v[1]));
        if (!v || !ok || p === null)
          bad(name === 'ip4' ? 'ip4 needs an IPv4 address, optionally /0-32' : 'ip6 needs an IPv6 address, optionally /0-128');
        else {
          mech.value = v[1];
          if (p !== undefined) {
            if (name === 'ip4') mech.prefix4 = p;
            else mech.prefix6 = p;
          }
        }
        break;
      }
    }
    terms.push(mech);
  }
  if (errors.length) return { errors };
  const mechanisms = terms.filter((t): t is SpfMechanism => t.kind === 'mechanism');
  const mod = (n: string) => terms.find((t): t is SpfModifier => t.kind === 'modifier' && t.name === n)?.value;
  const out: SpfRecord = { terms, mechanisms };
  const redirect = mod('redirect');
  const exp = mod('exp');
  if (redirect !== undefined) out.redirect = redirect;
  if (exp !== undefined) out.exp = exp;
  return { value: out, errors: [] };
}

// ---- macros (RFC 7208 section 7) ----------------------------------------------------------------

export interface SpfContext {
  /** The client address. Without one the evaluation walks every term to count lookups and matches nothing. */
  ip?: string;
  /** The envelope sender (MAIL FROM) address; its domain is the first `domain`. */
  sender: string;
  /** The HELO name, for %{h}. */
  helo?: string;
}

function expandMacros(spec: string, domain: string, ctx: SpfContext): string {
  const [local, senderDomain] = ctx.sender.includes('@')
    ? [ctx.sender.slice(0, ctx.sender.lastIndexOf('@')), ctx.sender.slice(ctx.sender.lastIndexOf('@') + 1)]
    : ['postmaster', ctx.sender];
  const ip = ctx.ip ?? '0.0.0.0';
  const v6 = ipv6Bytes(ip);
  const letters: Record<string, string> = {
    s: `${local}@${senderDomain}`,
    l: local,
    o: senderDomain,
    d: domain,
    i: ipv4Bytes(ip)
      ? ip
      : v6
        ? v6
            .flatMap((b) => [b >> 4, b & 0xf])
            .map((n) => n.toString(16))
            .join('.')
        : ip,
    p: 'unknown',
    v: ipFamily(ip) === 6 ? 'ip6' : 'in-addr',
    h: ctx.helo ?? domain,
    c: ip,
    r: 'unknown',
    t: '0',
  };
  return spec.replace(
    /%\{([a-z])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-/gi,
    (whole, letter: string | undefined, digits: string, reverse: string, delims: string) => {
      if (whole === '%%') return '%';
      if (whole === '%_') return ' ';
      if (whole === '%-') return '%20';
      let parts = (letters[letter!.toLowerCase()] ?? '').split(new RegExp(`[${(delims || '.').replace(/[-\\\]]/g, '\\$&')}]`));
      if (reverse) parts = parts.reverse();
      if (digits) parts = parts.slice(-Math.max(1, Number(digits)));
      return parts.join('.');
    },
  );
}

// ---- check_host() -------------------------------------------------------------------------------

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

const QUALIFIER_RESULT: Record<SpfQualifier, SpfResult> = { '+': 'pass', '-': 'fail', '~': 'softfail', '?': 'neutral' };

export interface SpfEvaluation {
  result: SpfResult;
  /** Why: the mechanism that matched (with the domain whose record holds it), or the error. */
  reason: string;
  /** DNS-querying terms counted (include, a, mx, ptr, exists, redirect), across every record visited. */
  lookups: number;
  /** Of those, the ones that found no records. */
  voidLookups: number;
  /** Records that could not be read or parsed, by domain. */
  problems: string[];
  /** Every domain whose SPF record was read, in order. */
  visited: string[];
}

class SpfAbort extends Error {
  constructor(
    readonly result: 'permerror' | 'temperror',
    message: string,
  ) {
    super(message);
  }
}

interface State {
  lookups: number;
  voidLookups: number;
  problems: string[];
  visited: string[];
  /** Audit mode (no ip): keep counting past the limits instead of stopping. */
  audit: boolean;
}

const AUDIT_CAP = 60;

/**
 * check_host(ip, domain, sender). Without `ctx.ip` it is an audit: no mechanism matches, so every term
 * of every record reachable is visited and the lookups are counted in full (past the limit), which is
 * what a record's author needs to know.
 */
export async function checkHost(dns: DomainDns, domain: string, ctx: SpfContext): Promise<SpfEvaluation> {
  const state: State = { lookups: 0, voidLookups: 0, problems: [], visited: [], audit: ctx.ip === undefined };
  const done = (result: SpfResult, reason: string): SpfEvaluation => ({
    result,
    reason,
    lookups: state.lookups,
    voidLookups: state.voidLookups,
    problems: state.problems,
    visited: state.visited,
  });
  try {
    const r = await evaluate(dns, normalName(domain), ctx, state, 0);
    if (state.audit && state.lookups > MAX_LOOKUPS)
      return done('permerror', `${state.lookups} DNS lookups, over the limit of ${MAX_LOOKUPS}`);
    if (state.audit && state.voidLookups > MAX_VOID_LOOKUPS)
      return done('permerror', `${state.voidLookups} lookups found nothing, over the limit of ${MAX_VOID_LOOKUPS}`);
    return done(r.result, r.reason);
  } catch (err) {
    if (err instanceof SpfAbort) return done(err.result, err.message);
    throw err;
  }
}

function countLookup(state: State, term: string): void {
  state.lookups++;
  if (state.lookups > (state.audit ? AUDIT_CAP : MAX_LOOKUPS)) {
    throw new SpfAbort('permerror', `more than ${MAX_LOOKUPS} DNS lookups (at ${term})`);
  }
}

function countVoid(state: State, term: string): void {
  state.voidLookups++;
  if (!state.audit && state.voidLookups > MAX_VOID_LOOKUPS) {
    throw new SpfAbort('permerror', `more than ${MAX_VOID_LOOKUPS} lookups found nothing (at ${term})`);
  }
}

/** The one SPF record of a domain: none, several (permerror), unreadable (temperror). */
export async function fetchSpf(
  dns: DomainDns,
  domain: string,
): Promise<
  | { kind: 'none' }
  | { kind: 'error'; detail: string }
  | { kind: 'many'; records: string[] }
  | { kind: 'one'; record: string; empty: boolean }
> {
  const answer = await dns.txt(domain);
  if (isLookupError(answer)) return { kind: 'error', detail: answer.detail };
  const records = recordsOf(answer).filter(isSpfRecord);
  if (records.length === 0) return { kind: 'none' };
  if (records.length > 1) return { kind: 'many', records };
  return { kind: 'one', record: records[0], empty: isEmptyAnswer(answer) };
}

async function evaluate(
  dns: DomainDns,
  domain: string,
  ctx: SpfContext,
  state: State,
  depth: number,
): Promise<{ result: SpfResult; reason: string }> {
  state.visited.push(domain);
  const fetched = await fetchSpf(dns, domain);
  if (fetched.kind === 'error') throw new SpfAbort('temperror', `the SPF record of ${domain} could not be read (${fetched.detail})`);
  if (fetched.kind === 'none') return { result: 'none', reason: `${domain} has no SPF record` };
  if (fetched.kind === 'many') {
    state.problems.push(`${domain} has ${fetched.records.length} SPF records`);
    throw new SpfAbort('permerror', `${domain} has ${fetched.records.length} SPF records (one is allowed)`);
  }
  const parsed = parseSpf(fetched.record);
  if (!parsed.value) {
    state.problems.push(`${domain}: ${parsed.errors.join('; ')}`);
    throw new SpfAbort('permerror', `the SPF record of ${domain} is malformed: ${parsed.errors[0]}`);
  }
  const record = parsed.value;
  for (const mech of record.mechanisms) {
    const matched = await matches(dns, mech, domain, ctx, state, depth);
    if (matched) return { result: QUALIFIER_RESULT[mech.qualifier], reason: `${mech.text} in the record of ${domain}` };
  }
  const hasAll = record.mechanisms.some((m) => m.name === 'all');
  if (record.redirect !== undefined && !hasAll) {
    countLookup(state, `redirect=${record.redirect}`);
    const target = normalName(expandMacros(record.redirect, domain, ctx));
    const r = await evaluate(dns, target, ctx, state, depth + 1);
    if (r.result === 'none') {
      state.problems.push(`redirect=${record.redirect} of ${domain} points at a domain without an SPF record`);
      throw new SpfAbort('permerror', `redirect=${target} has no SPF record`);
    }
    return r;
  }
  return { result: 'neutral', reason: `nothing in the record of ${domain} matched (no "all" at the end: neutral)` };
}

async function addresses(
  dns: DomainDns,
  name: string,
  family: 4 | 6 | undefined,
): Promise<{ ips: string[]; empty: boolean; error?: string }> {
  const asks = family === 4 ? [dns.a(name)] : family === 6 ? [dns.aaaa(name)] : [dns.a(name), dns.aaaa(name)];
  const answers = await Promise.all(asks);
  const error = answers.find(isLookupError);
  if (error && !error.ok) return { ips: [], empty: false, error: error.detail };
  const ips = answers.flatMap(recordsOf);
  return { ips, empty: ips.length === 0 };
}

function ipMatches(ip: string | undefined, candidates: string[], mech: SpfMechanism): boolean {
  if (ip === undefined) return false;
  const fam = ipFamily(ip);
  return candidates.some((c) => ipFamily(c) === fam && inNetwork(ip, c, fam === 4 ? mech.prefix4 : mech.prefix6));
}

async function matches(dns: DomainDns, mech: SpfMechanism, domain: string, ctx: SpfContext, state: State, depth: number): Promise<boolean> {
  const target = () => normalName(mech.value !== undefined ? expandMacros(mech.value, domain, ctx) : domain);
  const family = ctx.ip === undefined ? undefined : ipFamily(ctx.ip);
  switch (mech.name) {
    case 'all':
      return !state.audit;
    case 'ip4':
      return ctx.ip !== undefined && mech.value !== undefined && inNetwork(ctx.ip, mech.value, mech.prefix4);
    case 'ip6':
      return ctx.ip !== undefined && mech.value !== undefined && ipFamily(ctx.ip) === 6 && inNetwork(ctx.ip, mech.value, mech.prefix6);
    case 'a': {
      countLookup(state, mech.text);
      const r = await addresses(dns, target(), family);
      if (r.error) throw new SpfAbort('temperror', `${mech.text}: ${r.error}`);
      if (r.empty) countVoid(state, mech.text);
      return ipMatches(ctx.ip, r.ips, mech);
    }
    case 'mx': {
      countLookup(state, mech.text);
      const answer = await dns.mx(target());
      if (isLookupError(answer)) throw new SpfAbort('temperror', `${mech.text}: ${answer.detail}`);
      const hosts = recordsOf(answer).filter((m) => m.exchange !== '' && m.exchange !== '.');
      if (hosts.length === 0) countVoid(state, mech.text);
      if (hosts.length > MAX_NAMES) throw new SpfAbort('permerror', `${mech.text}: more than ${MAX_NAMES} MX hosts`);
      for (const host of hosts) {
        const r = await addresses(dns, normalName(host.exchange), family);
        if (r.error) throw new SpfAbort('temperror', `${mech.text}: ${r.error}`);
        if (ipMatches(ctx.ip, r.ips, mech)) return true;
      }
      return false;
    }
    case 'ptr': {
      countLookup(state, mech.text);
      if (ctx.ip === undefined) return false;
      const answer = await dns.ptr(ctx.ip);
      if (isEmptyAnswer(answer)) countVoid(state, mech.text);
      const want = target();
      for (const name of recordsOf(answer).slice(0, MAX_NAMES).map(normalName)) {
        if (name !== want && !name.endsWith(`.${want}`)) continue;
        const r = await addresses(dns, name, family);
        if (r.ips.includes(ctx.ip)) return true;
      }
      return false;
    }
    case 'exists': {
      countLookup(state, mech.text);
      const answer = await dns.a(target());
      if (isLookupError(answer)) throw new SpfAbort('temperror', `${mech.text}: ${answer.detail}`);
      if (isEmptyAnswer(answer)) {
        countVoid(state, mech.text);
        return false;
      }
      return !state.audit;
    }
    case 'include': {
      countLookup(state, mech.text);
      const name = target();
      const r = await evaluate(dns, name, ctx, state, depth + 1);
      if (r.result === 'pass') return true;
      if (r.result === 'none') {
        state.problems.push(`${mech.text} in the record of ${domain} names a domain without an SPF record`);
        countVoid(state, mech.text);
        if (!state.audit) throw new SpfAbort('permerror', `${mech.text}: ${name} has no SPF record`);
      }
      return false;
    }
  }
}

/** The top-level "all" of a record (its qualifier), if any. */
export function allQualifier(record: SpfRecord): SpfQualifier | undefined {
  return record.mechanisms.find((m) => m.name === 'all')?.qualifier;
}
