/**
 * `diagnose sender DOMAIN`: what receivers will think of mail From this domain sent through this
 * configuration. MX, SPF (the record, its lookups, its final "all", and whether smtp.host may send),
 * DKIM (each selector's key record, and whether it is the key sysemail signs with), DMARC (the policy,
 * reports, and alignment of From with the SPF and DKIM domains), MTA-STS and TLS-RPT when published.
 * Every check names its finding (src/core/domain/findings.ts); the rules are in src/core/domain.
 */
import { chooseProvider } from '../../core/providers.js';
import { SysemailError } from '../../core/errors.js';
import type { Settings } from '../../core/precedence.js';
import { isEmptyAnswer, isLookupError, normalName, recordsOf, type DomainDns } from '../../core/domain/dns.js';
import { ipFamily } from '../../core/domain/ip.js';
import { aligned, isDmarcRecord, organizationalDomain, parseDmarc, type DmarcRecord } from '../../core/domain/dmarc.js';
import { parseDkimKeyRecord, parseMtaSts, parseTlsRpt, sameKey, type DkimKeyToCheck } from '../../core/domain/dkim-record.js';
import { allQualifier, checkHost, fetchSpf, MAX_LOOKUPS, MAX_VOID_LOOKUPS, parseSpf, type SpfEvaluation } from '../../core/domain/spf.js';
import { senderFinding, type SenderFindingId } from '../../core/domain/findings.js';
import { pass, skip, type Check, type CheckStatus } from './types.js';

export interface SenderCheckOptions {
  domain: string;
  dns: DomainDns;
  /** How the name servers are named in messages ("127.0.0.1:5353", "the system resolver"). */
  dnsLabel: string;
  settings: Settings;
  /** The keys sysemail signs this domain's mail with, as far as known. */
  keys: DkimKeyToCheck[];
}

/** What the bulk-sender rules need from the sender checks. */
export interface SenderFacts {
  domain: string;
  exists: boolean;
  /** smtp.host's addresses (empty when it is unset or does not resolve). */
  serverIps: string[];
  /** SPF passes for every address of the server (undefined: not known). */
  spfPass?: boolean;
  /** At least one selector's published key is valid and (when known) sysemail's. */
  dkimPass: boolean;
  dkimDomains: string[];
  dmarc?: DmarcRecord;
  /** DMARC would pass for this configuration: SPF or DKIM passing for an aligned domain. */
  dmarcAligned: boolean;
}

export interface SenderReport {
  checks: Check[];
  facts: SenderFacts;
}

/** A check for a finding: its fix from the list unless a more precise one is given. */
export function finding(
  id: string,
  status: Exclude<CheckStatus, 'pass' | 'skip'>,
  f: SenderFindingId,
  detail: string,
  fix?: string,
): Check {
  return { id, status, detail, fix: fix ?? senderFinding(f).fix, diagnosis: f };
}

const PROVIDER_SPF: Record<string, string> = { exchange: 'spf.protection.outlook.com' };

/** The addresses of smtp.host: an IP literal as is, a name through the same DNS as the domain. */
async function serverAddresses(dns: DomainDns, host: string): Promise<{ ips: string[]; error?: string }> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (ipFamily(bare)) return { ips: [bare] };
  const [a, aaaa] = await Promise.all([dns.a(host), dns.aaaa(host)]);
  const ips = [...recordsOf(a), ...recordsOf(aaaa)];
  if (ips.length === 0) {
    const err = [a, aaaa].find(isLookupError);
    return { ips, error: err && !err.ok ? err.detail : `${host} has no A or AAAA record` };
  }
  return { ips };
}

export async function senderChecks(o: SenderCheckOptions): Promise<SenderReport> {
  const domain = normalName(o.domain);
  const { dns } = o;
  const checks: Check[] = [];
  const facts: SenderFacts = { domain, exists: true, serverIps: [], dkimPass: false, dkimDomains: [], dmarcAligned: false };

  // ---- the domain and its MX; the first answer also tells whether the DNS server answers at all ----
  const mx = await dns.mx(domain);
  if (isLookupError(mx) && (mx.failure === 'timeout' || mx.failure === 'unreachable')) {
    throw new SysemailError('tempfail', 'DNS_UNREACHABLE', `the DNS server ${o.dnsLabel} does not answer (${mx.detail})`, {
      fix: 'Check --dns-server (or the name servers in /etc/resolv.conf) and that UDP and TCP port 53 are open to it, then run again',
    });
  }
  if (!mx.ok && mx.failure === 'nxdomain') {
    facts.exists = false;
    checks.push(finding('sender.domain', 'fail', 'DOMAIN_NOT_FOUND', `${domain} does not exist (NXDOMAIN from ${o.dnsLabel})`));
    for (const id of ['sender.mx', 'sender.spf', 'sender.dkim', 'sender.dmarc'])
      checks.push(skip(id, `not tried: ${domain} does not exist`));
    return { checks, facts };
  }
  checks.push(pass('sender.domain', `${domain} (asking ${o.dnsLabel})`));
  checks.push(await mxCheck(dns, domain, mx));

  // ---- SPF ----
  const spf = await spfChecks(o, domain, facts);
  checks.push(...spf);

  // ---- DKIM ----
  checks.push(...(await dkimChecks(dns, domain, o.keys, facts)));

  // ---- DMARC ----
  checks.push(...(await dmarcChecks(dns, domain, facts)));

  // ---- MTA-STS, TLS-RPT (optional) ----
  checks.push(...(await transportChecks(dns, domain)));
  return { checks, facts };
}

async function mxCheck(dns: DomainDns, domain: string, mx: Awaited<ReturnType<DomainDns['mx']>>): Promise<Check> {
  if (isLookupError(mx))
    return finding(
      'sender.mx',
      'warn',
      'MX_MISSING',
      `the MX of ${domain} could not be read (${mx.detail})`,
      'Check the name servers of the domain, then run again.',
    );
  const records = recordsOf(mx).sort((a, b) => a.priority - b.priority);
  if (records.length === 1 && (records[0].exchange === '' || records[0].exchange === '.')) {
    return finding('sender.mx', 'fail', 'MX_NULL', `${domain} publishes the null MX (MX 0 .): it takes no mail`);
  }
  const hosts = records.map((r) => normalName(r.exchange)).filter((h) => h !== '');
  if (hosts.length === 0) {
    const a = await dns.a(domain);
    return recordsOf(a).length > 0
      ? finding(
          'sender.mx',
          'warn',
          'MX_MISSING',
          `${domain} has no MX record; mail to it goes to its A record (${recordsOf(a)[0]}) as a fallback`,
        )
      : finding('sender.mx', 'fail', 'MX_MISSING', `${domain} has no MX record and no address: nothing receives its bounces and replies`);
  }
  const unresolved: string[] = [];
  for (const host of hosts.slice(0, 5)) {
    const [a, aaaa] = await Promise.all([dns.a(host), dns.aaaa(host)]);
    if (recordsOf(a).length + recordsOf(aaaa).length === 0) unresolved.push(host);
  }
  const list = records.map((r) => `${r.priority} ${normalName(r.exchange)}`).join(', ');
  if (unresolved.length === Math.min(hosts.length, 5))
    return finding('sender.mx', 'fail', 'MX_UNRESOLVABLE', `MX ${list}: none resolves (${unresolved.join(', ')})`);
  if (unresolved.length) return finding('sender.mx', 'warn', 'MX_UNRESOLVABLE', `MX ${list}: ${unresolved.join(', ')} does not resolve`);
  return pass('sender.mx', `MX ${list}`);
}

async function spfChecks(o: SenderCheckOptions, domain: string, facts: SenderFacts): Promise<Check[]> {
  const { dns } = o;
  const fetched = await fetchSpf(dns, domain);
  const skipRest = (why: string) => ['sender.spf.lookups', 'sender.spf.all', 'sender.spf.server'].map((id) => skip(id, why));
  if (fetched.kind === 'error')
    return [
      finding('sender.spf', 'warn', 'SPF_DNS_ERROR', `the TXT records of ${domain} could not be read (${fetched.detail})`),
      ...skipRest('not tried: no SPF record could be read'),
    ];
  if (fetched.kind === 'none') {
    facts.spfPass = false;
    return [
      finding('sender.spf', 'fail', 'SPF_MISSING', `${domain} publishes no SPF record (no TXT record starting with "v=spf1")`),
      ...skipRest('not tried: no SPF record'),
    ];
  }
  if (fetched.kind === 'many') {
    facts.spfPass = false;
    return [
      finding(
        'sender.spf',
        'fail',
        'SPF_MULTIPLE',
        `${domain} publishes ${fetched.records.length} SPF records: ${fetched.records.map((r) => `"${r}"`).join(' and ')}`,
      ),
      ...skipRest('not tried: SPF gives a permanent error while there are several records'),
    ];
  }
  const parsed = parseSpf(fetched.record);
  if (!parsed.value) {
    facts.spfPass = false;
    return [
      finding('sender.spf', 'fail', 'SPF_SYNTAX', `"${fetched.record}": ${parsed.errors.join('; ')}`),
      ...skipRest('not tried: the SPF record is malformed'),
    ];
  }
  const out: Check[] = [pass('sender.spf', `"${fetched.record}"`)];

  // every lookup the record can cost, through includes and redirects
  const audit = await checkHost(dns, domain, { sender: `postmaster@${domain}` });
  out.push(lookupsCheck(audit));

  const all = allQualifier(parsed.value);
  if (all === '+')
    out.push(
      finding(
        'sender.spf.all',
        'fail',
        'SPF_PLUS_ALL',
        `the record ends with "${parsed.value.mechanisms.find((m) => m.name === 'all')?.text}": every server may send as ${domain}`,
      ),
    );
  else if (all === '?') out.push(finding('sender.spf.all', 'warn', 'SPF_NEUTRAL_ALL', '"?all": servers not listed get a neutral result'));
  else if (all === '~')
    out.push(
      pass(
        'sender.spf.all',
        '"~all": servers not listed soft-fail (with DMARC quarantine or reject that is enough; "-all" refuses them outright)',
      ),
    );
  else if (all === '-') out.push(pass('sender.spf.all', '"-all": servers not listed fail'));
  else if (parsed.value.redirect !== undefined) out.push(pass('sender.spf.all', `the rest comes from redirect=${parsed.value.redirect}`));
  else
    out.push(
      finding(
        'sender.spf.all',
        'warn',
        'SPF_NO_ALL',
        'the record has no final "all" and no redirect=: servers not listed get a neutral result',
      ),
    );

  out.push(await spfServerCheck(o, domain, audit, facts));
  return out;
}

function lookupsCheck(audit: SpfEvaluation): Check {
  const nested = audit.problems[0];
  if (audit.lookups > MAX_LOOKUPS) {
    return finding(
      'sender.spf.lookups',
      'fail',
      'SPF_TOO_MANY_LOOKUPS',
      `${audit.lookups} DNS lookups (the limit is ${MAX_LOOKUPS}) through ${audit.visited.join(' → ')}: receivers give a permanent error`,
    );
  }
  // an include: or redirect= of a domain without SPF is a permanent error at receivers once it is reached
  const dangling = audit.problems.find((p) => /without an SPF record/.test(p));
  if (dangling)
    return finding('sender.spf.lookups', 'fail', 'SPF_VOID_LOOKUPS', `${dangling}: receivers give a permanent error when they reach it`);
  if (audit.result === 'permerror' && nested) return finding('sender.spf.lookups', 'fail', 'SPF_SYNTAX', `${nested}`);
  if (audit.result === 'temperror') return finding('sender.spf.lookups', 'warn', 'SPF_DNS_ERROR', audit.reason);
  if (audit.voidLookups > MAX_VOID_LOOKUPS) {
    return finding(
      'sender.spf.lookups',
      'fail',
      'SPF_VOID_LOOKUPS',
      `${audit.voidLookups} lookups found nothing (the limit is ${MAX_VOID_LOOKUPS})${nested ? `: ${nested}` : ''}`,
    );
  }
  if (audit.voidLookups > 0) {
    return finding(
      'sender.spf.lookups',
      'warn',
      'SPF_VOID_LOOKUPS',
      `${audit.lookups} of ${MAX_LOOKUPS} DNS lookups; ${audit.voidLookups} found nothing${nested ? ` (${nested})` : ''}`,
    );
  }
  return pass(
    'sender.spf.lookups',
    `${audit.lookups} of ${MAX_LOOKUPS} DNS lookups${audit.visited.length > 1 ? ` (${audit.visited.join(', ')})` : ''}`,
  );
}

async function spfServerCheck(o: SenderCheckOptions, domain: string, audit: SpfEvaluation, facts: SenderFacts): Promise<Check> {
  const provider = chooseProvider({ settings: o.settings });
  const host = o.settings.string('smtp.host');
  if (provider !== 'smtp' && !host) {
    const include = PROVIDER_SPF[provider];
    if (!include) return skip('sender.spf.server', `batch.provider ${provider}: no server of ours to check`);
    const ok = audit.visited.includes(include);
    facts.spfPass = ok;
    return ok
      ? pass('sender.spf.server', `Exchange Online sends from Microsoft's servers, and the record includes ${include}`)
      : finding(
          'sender.spf.server',
          'fail',
          'SPF_SERVER_NOT_ALLOWED',
          `Exchange Online sends from Microsoft's servers, and the record does not include ${include}`,
          `Add include:${include} to the SPF record of ${domain}.`,
        );
  }
  if (!host) return skip('sender.spf.server', 'smtp.host is not set: no server to check (`sysemail params set smtp.host HOST`)');
  const { ips, error } = await serverAddresses(o.dns, host);
  if (ips.length === 0)
    return finding(
      'sender.spf.server',
      'warn',
      'SPF_SERVER_NOT_ALLOWED',
      `smtp.host ${host} has no address to check (${error})`,
      'Check smtp.host: `sysemail diagnose` shows whether it resolves.',
    );
  facts.serverIps = ips;
  const results = await Promise.all(
    ips.map(async (ip) => ({ ip, r: await checkHost(o.dns, domain, { ip, sender: `postmaster@${domain}` }) })),
  );
  const bad = results.filter((x) => x.r.result !== 'pass');
  if (bad.length === 0) {
    facts.spfPass = true;
    return pass('sender.spf.server', `smtp.host ${host} (${ips.join(', ')}) passes: ${results[0].r.reason}`);
  }
  const temp = bad.every((x) => x.r.result === 'temperror');
  facts.spfPass = temp ? undefined : false;
  const detail = `smtp.host ${host}: ${bad.map((x) => `${x.ip} → ${x.r.result} (${x.r.reason})`).join('; ')}`;
  if (temp) return finding('sender.spf.server', 'warn', 'SPF_DNS_ERROR', detail);
  return finding(
    'sender.spf.server',
    'fail',
    'SPF_SERVER_NOT_ALLOWED',
    `${detail}${bad.length < results.length ? `; ${results.length - bad.length} other address(es) pass` : ''}`,
    `${senderFinding('SPF_SERVER_NOT_ALLOWED').fix} For this server: ${bad.map((x) => `${ipFamily(x.ip) === 6 ? 'ip6' : 'ip4'}:${x.ip}`).join(' ')}.`,
  );
}

/** The DKIM checks for the given keys: one check per selector. Exported so the key registry can feed it. */
export async function dkimChecks(dns: DomainDns, domain: string, keys: DkimKeyToCheck[], facts?: SenderFacts): Promise<Check[]> {
  if (keys.length === 0) return [finding('sender.dkim', 'warn', 'DKIM_NO_SELECTOR', `no DKIM selector given or registered for ${domain}`)];
  const out: Check[] = [];
  for (const key of keys) {
    const d = normalName(key.domain ?? domain);
    const name = `${key.selector}._domainkey.${d}`;
    const id = `sender.dkim.${key.selector}`;
    // a registered key: the fix is the exact record to publish
    const publishFix = key.record ? `Publish the record of the registered key: ${name} TXT "${key.record}"` : undefined;
    const answer = await dns.txt(name);
    if (isLookupError(answer)) {
      out.push(
        finding(
          id,
          'warn',
          'DKIM_RECORD_MISSING',
          `${name} could not be read (${answer.detail})`,
          'Check the name servers of the domain, then run again.',
        ),
      );
      continue;
    }
    const records = recordsOf(answer).filter((t) => /(^|;)\s*(v=DKIM1|p=|k=)/i.test(t));
    if (isEmptyAnswer(answer) || records.length === 0) {
      out.push(finding(id, 'fail', 'DKIM_RECORD_MISSING', `no DKIM key record at ${name}`, publishFix));
      continue;
    }
    if (records.length > 1) {
      out.push(
        finding(
          id,
          'fail',
          'DKIM_RECORD_INVALID',
          `${name} holds ${records.length} key records; receivers may pick either`,
          'Keep one key record per selector.',
        ),
      );
      continue;
    }
    const parsed = parseDkimKeyRecord(records[0]);
    if (!parsed.value) {
      out.push(finding(id, 'fail', 'DKIM_RECORD_INVALID', `${name}: ${parsed.errors.join('; ')}`));
      continue;
    }
    const rec = parsed.value;
    if (rec.publicKeyBase64 === '') {
      out.push(finding(id, 'fail', 'DKIM_KEY_REVOKED', `${name}: p= is empty (the key is revoked)`));
      continue;
    }
    const what = `${name}: ${rec.keyType}${rec.bits ? ` ${rec.bits}-bit` : ''} key`;
    if (key.publicKeyBase64 !== undefined && !sameKey(rec, key.publicKeyBase64)) {
      out.push(
        finding(
          id,
          'fail',
          'DKIM_KEY_MISMATCH',
          `${what}, but not the key registered for signing with selector ${key.selector}`,
          publishFix && `${publishFix} in place of the one there, or register the key that record belongs to.`,
        ),
      );
      continue;
    }
    if (rec.bits !== undefined && rec.bits < 1024) {
      out.push(finding(id, 'fail', 'DKIM_KEY_WEAK', `${what}: under 1024 bits, receivers refuse it`));
      continue;
    }
    facts?.dkimDomains.push(d);
    if (facts) facts.dkimPass = true;
    const matchNote = key.publicKeyBase64 !== undefined ? ', the key sysemail signs with' : '';
    if (rec.bits !== undefined && rec.bits < 2048)
      out.push(finding(id, 'warn', 'DKIM_KEY_WEAK', `${what}${matchNote}: 2048 bits is recommended`));
    else if (rec.testing) out.push(finding(id, 'warn', 'DKIM_TESTING', `${what}${matchNote}, in test mode (t=y)`));
    else out.push(pass(id, `${what}${matchNote}`));
  }
  return out;
}

async function findDmarc(dns: DomainDns, domain: string): Promise<{ at: string; records: string[] } | { error: string } | undefined> {
  const org = organizationalDomain(domain);
  for (const at of org === domain ? [domain] : [domain, org]) {
    const answer = await dns.txt(`_dmarc.${at}`);
    if (isLookupError(answer)) return { error: answer.detail };
    const records = recordsOf(answer).filter(isDmarcRecord);
    if (records.length) return { at, records };
  }
  return undefined;
}

async function dmarcChecks(dns: DomainDns, domain: string, facts: SenderFacts): Promise<Check[]> {
  const org = organizationalDomain(domain);
  const found = await findDmarc(dns, domain);
  const out: Check[] = [];
  let record: DmarcRecord | undefined;
  if (found === undefined) {
    out.push(
      finding(
        'sender.dmarc',
        'fail',
        'DMARC_MISSING',
        `no DMARC record at _dmarc.${domain}${org !== domain ? ` nor at _dmarc.${org} (organisational domain)` : ''}`,
      ),
    );
  } else if ('error' in found) {
    out.push(
      finding(
        'sender.dmarc',
        'warn',
        'DMARC_MISSING',
        `the DMARC record could not be read (${found.error})`,
        'Check the name servers of the domain, then run again.',
      ),
    );
  } else if (found.records.length > 1) {
    out.push(finding('sender.dmarc', 'fail', 'DMARC_MULTIPLE', `_dmarc.${found.at} holds ${found.records.length} DMARC records`));
  } else {
    const parsed = parseDmarc(found.records[0]);
    const where = `_dmarc.${found.at}${found.at !== domain ? ` (organisational domain of ${domain})` : ''}`;
    if (!parsed.value)
      out.push(finding('sender.dmarc', 'fail', 'DMARC_INVALID', `${where} "${found.records[0]}": ${parsed.errors.join('; ')}`));
    else {
      record = parsed.value;
      facts.dmarc = record;
      // a subdomain that has no record of its own gets the organisational domain's sp=
      const policy = found.at !== domain ? record.sp : record.p;
      const desc = `${where}: p=${policy}${found.at !== domain ? ' (from sp=)' : ''}, pct=${record.pct}, adkim=${record.adkim}, aspf=${record.aspf}${parsed.warnings.length ? `; ${parsed.warnings.join('; ')}` : ''}`;
      if (policy === 'none') out.push(finding('sender.dmarc', 'warn', 'DMARC_POLICY_NONE', desc));
      else if (record.pct < 100) out.push(finding('sender.dmarc', 'warn', 'DMARC_PCT_PARTIAL', desc));
      else out.push(pass('sender.dmarc', desc));
      out.push(
        record.rua.length
          ? pass('sender.dmarc.rua', `aggregate reports go to ${record.rua.join(', ')}`)
          : finding(
              'sender.dmarc.rua',
              'warn',
              'DMARC_NO_RUA',
              `${where} has no rua=: no aggregate reports are sent`,
              `${senderFinding('DMARC_NO_RUA').fix} e.g. rua=mailto:dmarc-reports@${org}`,
            ),
      );
    }
  }

  // alignment: sysemail's envelope sender (MAIL FROM) is the From address, so the SPF domain is the From domain
  const adkim = record?.adkim ?? 'r';
  const aspf = record?.aspf ?? 'r';
  const dkimAligned = facts.dkimDomains.filter((d) => aligned(d, domain, adkim));
  const spfAligned = facts.spfPass === true && aligned(domain, domain, aspf);
  facts.dmarcAligned = dkimAligned.length > 0 || spfAligned;
  const mode = (m: string) => (m === 's' ? 'strict' : 'relaxed');
  const dkimPart = facts.dkimDomains.length
    ? `DKIM d=${facts.dkimDomains.join(', d=')} ${dkimAligned.length ? 'aligned' : 'not aligned'} (${mode(adkim)})`
    : 'no verifiable DKIM key';
  const spfPart = `SPF for ${domain} (the envelope sender is the From address) ${facts.spfPass === true ? 'passes' : facts.spfPass === false ? 'does not pass' : 'is not known'} for smtp.host`;
  const detail = `From ${domain}: ${dkimPart}; ${spfPart}`;
  if (facts.dmarcAligned) out.push(pass('sender.dmarc.alignment', `${detail}: DMARC passes`));
  else if (record)
    out.push(
      finding('sender.dmarc.alignment', 'fail', 'DMARC_NOT_ALIGNED', `${detail}: DMARC fails, so p=${record.p} applies to every message`),
    );
  else out.push(finding('sender.dmarc.alignment', 'warn', 'DMARC_NOT_ALIGNED', `${detail}: DMARC would fail once published`));
  return out;
}

async function transportChecks(dns: DomainDns, domain: string): Promise<Check[]> {
  const out: Check[] = [];
  const sts = await dns.txt(`_mta-sts.${domain}`);
  const stsRecords = recordsOf(sts).filter((t) => /^v=STS/i.test(t));
  if (stsRecords.length === 0)
    out.push(skip('sender.mta-sts', `no MTA-STS record at _mta-sts.${domain} (optional: it protects mail sent to ${domain}, not from it)`));
  else {
    const p = parseMtaSts(stsRecords[0]);
    if (stsRecords.length > 1)
      out.push(
        finding(
          'sender.mta-sts',
          'warn',
          'MTA_STS_INVALID',
          `_mta-sts.${domain} holds ${stsRecords.length} records`,
          'Keep one "v=STSv1; id=..." record.',
        ),
      );
    else if (p.errors.length)
      out.push(finding('sender.mta-sts', 'warn', 'MTA_STS_INVALID', `_mta-sts.${domain} "${stsRecords[0]}": ${p.errors.join('; ')}`));
    else
      out.push(pass('sender.mta-sts', `id=${p.id}; the policy itself (https://mta-sts.${domain}/.well-known/mta-sts.txt) is not fetched`));
  }
  const rpt = await dns.txt(`_smtp._tls.${domain}`);
  const rptRecords = recordsOf(rpt).filter((t) => /^v=TLSRPT/i.test(t));
  if (rptRecords.length === 0) out.push(skip('sender.tls-rpt', `no TLS-RPT record at _smtp._tls.${domain} (optional)`));
  else {
    const p = parseTlsRpt(rptRecords[0]);
    if (p.errors.length)
      out.push(finding('sender.tls-rpt', 'warn', 'TLS_RPT_INVALID', `_smtp._tls.${domain} "${rptRecords[0]}": ${p.errors.join('; ')}`));
    else out.push(pass('sender.tls-rpt', `TLS reports go to ${p.rua.join(', ')}`));
  }
  return out;
}
