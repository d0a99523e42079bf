/**
 * `diagnose --bulk`: the rules Gmail and Yahoo (February 2024) and Outlook.com (May 2025) set for
 * senders of 5,000 or more messages a day, one check each, each citing the guideline it comes from.
 * The domain rules come from the sender checks of sender.default's domain; the rest from the
 * configuration (TLS, the From) and the templates (one-click unsubscribe).
 */
import { chooseProvider } from '../../core/providers.js';
import { parseSender } from '../../core/address.js';
import { normalName, recordsOf, type DomainDns } from '../../core/domain/dns.js';
import type { DkimKeyToCheck } from '../../core/domain/dkim-record.js';
import { senderFinding, type SenderFindingId } from '../../core/domain/findings.js';
import { ipFamily } from '../../core/domain/ip.js';
import type { Settings } from '../../core/precedence.js';
import type { TemplateRow } from '../../store/ports.js';
import { senderChecks, type SenderFacts } from './sender.js';
import type { Check, CheckStatus } from './types.js';

export interface BulkCheckOptions {
  domain: string;
  dns: DomainDns;
  dnsLabel: string;
  settings: Settings;
  keys: DkimKeyToCheck[];
  templates: TemplateRow[];
}

export interface BulkReport {
  domain: string;
  checks: Check[];
  /** The sender checks the domain rules were judged on, for `-v`. */
  senderChecks: Check[];
}

function rule(id: string, status: CheckStatus, f: SenderFindingId, detail: string, fix?: string): Check {
  const entry = senderFinding(f);
  return {
    id,
    status,
    detail,
    fix: status === 'pass' ? '' : (fix ?? entry.fix),
    ...(status === 'pass' ? {} : { diagnosis: f }),
    ...(entry.rule ? { rule: entry.rule } : {}),
  };
}

/** Findings of the sender checks by check id, for the details of a rule. */
function problems(checks: Check[], prefix: string): string {
  return checks
    .filter((c) => c.id.startsWith(prefix) && (c.status === 'fail' || c.status === 'warn'))
    .map((c) => `${c.id}: ${c.diagnosis ?? c.status}`)
    .join(', ');
}

async function reverseDns(dns: DomainDns, facts: SenderFacts, s: Settings): Promise<Check> {
  const provider = chooseProvider({ settings: s });
  if (provider === 'exchange')
    return rule(
      'bulk.reverse-dns',
      'pass',
      'BULK_REVERSE_DNS',
      "Exchange Online sends from Microsoft's servers, which have forward and reverse DNS",
    );
  const host = s.string('smtp.host');
  if (!host)
    return rule(
      'bulk.reverse-dns',
      'skip',
      'BULK_REVERSE_DNS',
      'smtp.host is not set: no sending address to check',
      '`sysemail params set smtp.host HOST`, then run again.',
    );
  if (facts.serverIps.length === 0) return rule('bulk.reverse-dns', 'fail', 'BULK_REVERSE_DNS', `smtp.host ${host} has no address`);
  const bad: string[] = [];
  const good: string[] = [];
  for (const ip of facts.serverIps) {
    const names = recordsOf(await dns.ptr(ip)).map(normalName);
    if (names.length === 0) {
      bad.push(`${ip} has no PTR record`);
      continue;
    }
    let confirmed: string | undefined;
    for (const name of names.slice(0, 5)) {
      const back = recordsOf(await (ipFamily(ip) === 6 ? dns.aaaa(name) : dns.a(name)));
      if (back.includes(ip)) confirmed = name;
      if (confirmed) break;
    }
    if (confirmed) good.push(`${ip} ↔ ${confirmed}`);
    else bad.push(`${ip} → ${names.join(', ')}, which does not resolve back to ${ip}`);
  }
  const note = ' (the addresses of smtp.host; a relay sending on from other addresses must meet this for those)';
  if (bad.length)
    return rule('bulk.reverse-dns', 'fail', 'BULK_REVERSE_DNS', `${bad.join('; ')}${good.length ? `; ${good.join(', ')} is fine` : ''}`);
  return rule('bulk.reverse-dns', 'pass', 'BULK_REVERSE_DNS', `${good.join(', ')}${note}`);
}

function tlsRule(s: Settings): Check {
  const provider = chooseProvider({ settings: s });
  if (provider === 'exchange')
    return rule('bulk.tls', 'pass', 'BULK_TLS', 'Exchange Online: Microsoft Graph over HTTPS, and Microsoft delivers onward over TLS');
  if (provider === 'eml') return rule('bulk.tls', 'skip', 'BULK_TLS', 'batch.provider eml writes files: whatever sends them must use TLS');
  const security = s.string('smtp.security') ?? 'starttls';
  const host = s.string('smtp.host') ?? '';
  if (security === 'none') {
    const local = /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$/i.test(host);
    return rule(
      'bulk.tls',
      local ? 'warn' : 'fail',
      'BULK_TLS',
      local
        ? `smtp.security none to the local relay ${host}: the relay must send on over TLS`
        : `smtp.security none: mail to ${host || 'the server'} travels unencrypted`,
    );
  }
  return rule('bulk.tls', 'pass', 'BULK_TLS', `smtp.security ${security}: TLS is required for every connection (no plaintext fallback)`);
}

/**
 * One-click unsubscribe (RFC 8058) on the templates marked bulk: an https unsubscribe URL gives the
 * message List-Unsubscribe and List-Unsubscribe-Post: List-Unsubscribe=One-Click; a mail address alone
 * gives List-Unsubscribe only, which is not one-click.
 */
function unsubscribeRule(templates: TemplateRow[]): Check {
  const bulk = templates.filter((t) => t.bulk);
  const name = (t: TemplateRow) => (t.org ? `${t.id} (${t.org})` : t.id);
  if (bulk.length === 0) {
    return rule(
      'bulk.unsubscribe',
      'skip',
      'BULK_ONE_CLICK_UNSUBSCRIBE',
      templates.length === 0
        ? 'no template to check; messages without a template carry no List-Unsubscribe header unless send is given --unsubscribe-url'
        : `${templates.length} template(s), none marked bulk (template set ID --bulk yes)`,
      `${senderFinding('BULK_ONE_CLICK_UNSUBSCRIBE').fix} Mark bulk templates with --bulk yes so that template verify checks them.`,
    );
  }
  const missing = bulk.filter((t) => !t.unsubscribeUrl || !/^https:/i.test(t.unsubscribeUrl));
  if (missing.length) {
    return rule(
      'bulk.unsubscribe',
      'fail',
      'BULK_ONE_CLICK_UNSUBSCRIBE',
      `${missing.length} of ${bulk.length} bulk template(s) lack a one-click (https) unsubscribe URL: ${missing.slice(0, 10).map(name).join(', ')}`,
    );
  }
  return rule(
    'bulk.unsubscribe',
    'pass',
    'BULK_ONE_CLICK_UNSUBSCRIBE',
    `${bulk.length} bulk template(s) carry List-Unsubscribe and List-Unsubscribe-Post: List-Unsubscribe=One-Click`,
  );
}

function formatRule(s: Settings): Check {
  const sender = s.string('sender.default');
  if (sender === undefined)
    return rule(
      'bulk.format',
      'fail',
      'BULK_MESSAGE_FORMAT',
      'sender.default is not set: messages without --from or a user sender have no From',
    );
  const parsed = parseSender(sender);
  if (!parsed.value)
    return rule('bulk.format', 'fail', 'BULK_MESSAGE_FORMAT', `sender.default ${parsed.error ?? 'is not one valid mailbox'}`);
  return rule(
    'bulk.format',
    'pass',
    'BULK_MESSAGE_FORMAT',
    `one From (${parsed.value.address}); sysemail writes Date and Message-ID on every message`,
  );
}

export async function bulkChecks(o: BulkCheckOptions): Promise<BulkReport> {
  const { checks: sender, facts } = await senderChecks(o);
  const checks: Check[] = [];
  const d = facts.domain;

  const spfOk = facts.spfPass === true;
  const both = spfOk && facts.dkimPass;
  const dkimWhy = problems(sender, 'sender.dkim') || (o.keys.length ? '' : 'no selector');
  checks.push(
    rule(
      'bulk.spf-dkim',
      both ? 'pass' : 'fail',
      'BULK_SPF_AND_DKIM',
      `${d}: SPF ${spfOk ? 'passes' : `does not pass${problems(sender, 'sender.spf') ? ` (${problems(sender, 'sender.spf')})` : ''}`}; DKIM ${facts.dkimPass ? 'passes' : `does not pass (${dkimWhy || 'not verified'})`}`,
      !facts.dkimPass && o.keys.length === 0
        ? `Name the DKIM selector with --selector S (or register the key with \`sysemail dkim add\`); ${senderFinding('BULK_SPF_AND_DKIM').fix}`
        : undefined,
    ),
  );

  const dmarc = facts.dmarc;
  checks.push(
    dmarc
      ? rule('bulk.dmarc', 'pass', 'BULK_DMARC', `DMARC published for ${d}: p=${dmarc.p}`)
      : rule(
          'bulk.dmarc',
          'fail',
          'BULK_DMARC',
          `no valid DMARC record for ${d}${problems(sender, 'sender.dmarc') ? ` (${problems(sender, 'sender.dmarc')})` : ''}`,
        ),
  );
  const alignment = sender.find((c) => c.id === 'sender.dmarc.alignment');
  checks.push(
    rule('bulk.from-aligned', facts.dmarcAligned ? 'pass' : 'fail', 'BULK_FROM_ALIGNED', alignment?.detail ?? `${d}: not checked`),
  );
  checks.push(await reverseDns(o.dns, facts, o.settings));
  checks.push(tlsRule(o.settings));
  checks.push(unsubscribeRule(o.templates));
  checks.push(formatRule(o.settings));
  checks.push(
    rule(
      'bulk.spam-rate',
      'skip',
      'BULK_SPAM_RATE',
      'not measurable from here: only the receivers know how many recipients mark the mail as spam',
      senderFinding('BULK_SPAM_RATE').fix,
    ),
  );
  return { domain: d, checks, senderChecks: sender };
}
