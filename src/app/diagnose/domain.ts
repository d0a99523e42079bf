/**
 * The entry of `diagnose sender` and `diagnose --bulk`: which domain (the argument, else
 * sender.default's), which name servers, which DKIM selectors; then the checks.
 */
import { parseSender } from '../../core/address.js';
import { dkimDnsValue } from '../../core/dkim.js';
import { isDomainName, normalName } from '../../core/domain/dns.js';
import type { DkimKeyToCheck } from '../../core/domain/dkim-record.js';
import { SysemailError } from '../../core/errors.js';
import type { Settings } from '../../core/precedence.js';
import { quoted } from '../../core/text.js';
import { resolveTimeouts, type TimeoutOverrides } from '../../core/timeouts.js';
import { NodeDns, parseDnsServer } from '../../providers/dns.js';
import type { Store } from '../../store/ports.js';
import { bulkChecks } from './bulk.js';
import { senderChecks } from './sender.js';
import type { Check } from './types.js';

export interface DomainCheckOptions {
  mode: 'sender' | 'bulk';
  store: Store;
  settings: Settings;
  /** A domain, or an address whose domain is meant; sender.default's domain when absent. */
  domain?: string;
  /** `HOST[:PORT]`; the system resolver when absent. */
  dnsServer?: string;
  selectors: string[];
  /** The d= domain of the selectors; the checked domain when absent. */
  dkimDomain?: string;
  /**
   * The keys registered for signing this domain's mail (the key registry of `dkim add`), with their
   * public keys: each is checked against what its selector publishes. Selectors named with --selector
   * are checked as well.
   */
  registered?: DkimKeyToCheck[];
  timeouts?: TimeoutOverrides;
}

export interface DomainCheckResult {
  domain: string;
  ok: boolean;
  checks: Check[];
}

function domainOf(text: string, what: string): string {
  const d = normalName(text.includes('@') ? text.slice(text.lastIndexOf('@') + 1) : text);
  if (!isDomainName(d)) {
    throw new SysemailError('data', 'SENDER_DOMAIN_INVALID', `${what} ${quoted(text)} is not a domain name`, {
      fix: 'Give a domain such as example.com (or an address at it)',
    });
  }
  return d;
}

function senderDomain(s: Settings): string {
  const sender = s.string('sender.default');
  const address = sender === undefined ? undefined : parseSender(sender).value?.address;
  if (!address) {
    throw new SysemailError(
      'config',
      'SENDER_DOMAIN_INVALID',
      sender === undefined ? 'no domain given and sender.default is not set' : 'sender.default is not one valid address',
      {
        fix: 'Name the domain (`sysemail diagnose sender example.com`), or set the sender: `sysemail params set sender.default ADDR`',
      },
    );
  }
  return domainOf(address, 'sender.default');
}

/** The keys to check: the selectors named, for the d= domain given or the checked domain. */
function signingKeys(selectors: string[], dkimDomain: string | undefined): DkimKeyToCheck[] {
  const d = dkimDomain === undefined ? undefined : domainOf(dkimDomain, '--dkim-domain');
  return [...new Set(selectors)].map((selector) => {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/.test(selector)) {
      throw new SysemailError('usage', 'USAGE', `--selector ${quoted(selector)} is not a DKIM selector`, {
        fix: 'Give the s= of the signature, e.g. --selector s1 (letters, digits, dots and hyphens)',
      });
    }
    return { selector, ...(d ? { domain: d } : {}) };
  });
}

export async function runDomainChecks(o: DomainCheckOptions): Promise<DomainCheckResult> {
  const domain = o.domain !== undefined ? domainOf(o.domain, o.mode === 'sender' ? 'the domain' : '--domain') : senderDomain(o.settings);
  const server = o.dnsServer === undefined ? undefined : parseDnsServer(o.dnsServer);
  const named = signingKeys(o.selectors, o.dkimDomain);
  const registered =
    o.registered ??
    (await o.store.dkim.list(domain)).map((k) => ({
      selector: k.selector,
      domain: k.domain,
      publicKeyBase64: k.publicKey,
      record: dkimDnsValue(k.algorithm, k.publicKey),
    }));
  const keys = [
    ...registered,
    ...named.filter(
      (k) => !registered.some((r) => r.selector === k.selector && normalName(r.domain ?? domain) === normalName(k.domain ?? domain)),
    ),
  ];
  const timeouts = resolveTimeouts(o.settings, o.timeouts);
  const dns = new NodeDns({ ...(server ? { server } : {}), timeoutMs: timeouts.dnsQueryMs });
  const dnsLabel = server ?? `the system resolver (${dns.servers().join(', ') || 'no name server configured'})`;
  const common = { domain, dns, dnsLabel, settings: o.settings, keys };
  const checks =
    o.mode === 'sender'
      ? (await senderChecks(common)).checks
      : (await bulkChecks({ ...common, templates: await o.store.templates.list() })).checks;
  return { domain, ok: !checks.some((c) => c.status === 'fail'), checks };
}
