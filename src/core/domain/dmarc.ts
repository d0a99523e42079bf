/**
 * DMARC (RFC 7489): the record's tags, where a receiver finds it (the From domain, else its
 * organisational domain), and identifier alignment.
 *
 * The organisational domain is found with a small public-suffix rule, not the whole Public Suffix
 * List: the last two labels, or three when the last two are one of the common second-level registries
 * below (co.uk, com.au, ...). It is right for ordinary company domains; for a domain under a private
 * suffix (a hosting provider's, such as github.io) or an uncommon registry it may name one label too
 * few, and the check says which organisational domain it assumed.
 */
import { normalName } from './dns.js';

/** Two-label public suffixes common enough to matter; see the limits above. */
const TWO_LABEL_SUFFIXES = new Set([
  'co.uk',
  'org.uk',
  'ac.uk',
  'gov.uk',
  'ltd.uk',
  'plc.uk',
  'me.uk',
  'net.uk',
  'sch.uk',
  'com.au',
  'net.au',
  'org.au',
  'edu.au',
  'gov.au',
  'asn.au',
  'id.au',
  'co.nz',
  'org.nz',
  'net.nz',
  'govt.nz',
  'ac.nz',
  'co.jp',
  'ne.jp',
  'or.jp',
  'ac.jp',
  'go.jp',
  'co.kr',
  'or.kr',
  'co.in',
  'net.in',
  'org.in',
  'gov.in',
  'ac.in',
  'co.za',
  'org.za',
  'gov.za',
  'com.br',
  'net.br',
  'org.br',
  'gov.br',
  'com.cn',
  'net.cn',
  'org.cn',
  'gov.cn',
  'com.hk',
  'com.tw',
  'com.sg',
  'com.my',
  'com.mx',
  'com.ar',
  'com.tr',
  'com.ua',
  'com.pl',
  'co.il',
  'co.id',
  'co.th',
  'com.ph',
  'com.vn',
  'com.eg',
  'com.sa',
]);

/** The organisational domain (RFC 7489 3.2) by the small rule above. */
export function organizationalDomain(domain: string): string {
  const labels = normalName(domain).split('.');
  if (labels.length <= 2) return labels.join('.');
  const lastTwo = labels.slice(-2).join('.');
  return TWO_LABEL_SUFFIXES.has(lastTwo) ? labels.slice(-3).join('.') : lastTwo;
}

export type AlignmentMode = 'r' | 's';

/** Whether two domains are aligned: equal (strict), or of one organisational domain (relaxed). */
export function aligned(a: string, b: string, mode: AlignmentMode): boolean {
  const x = normalName(a);
  const y = normalName(b);
  return mode === 's' ? x === y : organizationalDomain(x) === organizationalDomain(y);
}

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export interface DmarcRecord {
  p: DmarcPolicy;
  /** Policy for subdomains; p when absent. */
  sp: DmarcPolicy;
  pct: number;
  adkim: AlignmentMode;
  aspf: AlignmentMode;
  rua: string[];
  ruf: string[];
  /** p= was missing or invalid but rua= was valid: RFC 7489 6.6.3 says to apply p=none. */
  pAssumed: boolean;
  tags: Record<string, string>;
}

const POLICIES = new Set(['none', 'quarantine', 'reject']);

export function isDmarcRecord(txt: string): boolean {
  return /^v\s*=\s*DMARC1\s*(;|$)/i.test(txt);
}

function uris(value: string | undefined): { list: string[]; bad: string[] } {
  const list: string[] = [];
  const bad: string[] = [];
  for (const u of (value ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (/^mailto:[^@\s]+@[^@\s]+$/i.test(u.replace(/!\d+[kmgt]?$/i, '')) || /^https?:\/\//i.test(u)) list.push(u);
    else bad.push(u);
  }
  return { list, bad };
}

export function parseDmarc(text: string): { value?: DmarcRecord; errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!isDmarcRecord(text)) return { errors: ['the record does not start with "v=DMARC1"'], warnings };
  const tags: Record<string, string> = {};
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq === -1) {
      errors.push(`"${part}" is not a tag=value pair`);
      continue;
    }
    const k = part.slice(0, eq).trim().toLowerCase();
    const v = part.slice(eq + 1).trim();
    if (k in tags) warnings.push(`${k}= appears twice`);
    else tags[k] = v;
  }
  const rua = uris(tags.rua);
  const ruf = uris(tags.ruf);
  for (const b of [...rua.bad, ...ruf.bad]) warnings.push(`report address "${b}" is not a mailto: URI`);
  let p = tags.p?.toLowerCase();
  let pAssumed = false;
  if (p === undefined || !POLICIES.has(p)) {
    if (rua.list.length > 0) {
      warnings.push(
        p === undefined ? 'p= is missing: receivers apply p=none' : `p=${p} is not none, quarantine or reject: receivers apply p=none`,
      );
      p = 'none';
      pAssumed = true;
    } else errors.push(p === undefined ? 'p= (the policy) is missing' : `p=${p} is not none, quarantine or reject`);
  }
  const sp = tags.sp?.toLowerCase();
  if (sp !== undefined && !POLICIES.has(sp)) errors.push(`sp=${sp} is not none, quarantine or reject`);
  const pct = tags.pct === undefined ? 100 : Number(tags.pct);
  if (!/^\d{1,3}$/.test(tags.pct ?? '100') || pct > 100) errors.push(`pct=${tags.pct} is not a whole number 0-100`);
  for (const k of ['adkim', 'aspf'] as const) {
    if (tags[k] !== undefined && !/^[rs]$/i.test(tags[k])) errors.push(`${k}=${tags[k]} is not r (relaxed) or s (strict)`);
  }
  if (errors.length || p === undefined) return { errors, warnings };
  return {
    value: {
      p: p as DmarcPolicy,
      sp: (sp ?? p) as DmarcPolicy,
      pct,
      adkim: (tags.adkim?.toLowerCase() ?? 'r') as AlignmentMode,
      aspf: (tags.aspf?.toLowerCase() ?? 'r') as AlignmentMode,
      rua: rua.list,
      ruf: ruf.list,
      pAssumed,
      tags,
    },
    errors,
    warnings,
  };
}
