/**
 * What `test-email` says about DKIM: is the message it sends signed (a key is registered for its From
 * domain), and does each signature verify against the key published in DNS? The verifier is mailauth,
 * an implementation independent of the signer, asking DNS through Node's resolver (or the server
 * named with --dns-server).
 */
import { Resolver } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { dkimKeysFor, domainOfAddress, type DkimSigningKey } from '../core/dkim.js';
import type { ProviderName } from '../core/failure.js';

export interface DkimSignatureCheck {
  domain: string;
  selector: string;
  algorithm: string;
  /** mailauth's verdict: pass, fail, neutral (body changed), temperror (DNS unreachable), permerror (no or bad record). */
  result: string;
  detail: string;
}

export interface DkimReport {
  /** Whether the message is signed by sysemail. */
  signed: boolean;
  /** Every signature made for it, as the verifier judged it against DNS. */
  signatures: DkimSignatureCheck[];
  /** One line for people: what was found and what to do. */
  detail: string;
  /** True when signed and every signature passes. */
  ok: boolean;
}

interface MailauthResult {
  signingDomain?: string;
  selector?: string;
  algo?: string;
  status?: { result?: string; comment?: string };
}

type DkimVerify = (
  input: Buffer,
  options: { resolver: (name: string, type: string) => Promise<unknown> },
) => Promise<{ results: MailauthResult[] }>;

function loadVerifier(): DkimVerify {
  const require = createRequire(import.meta.url);
  return (require('mailauth/lib/dkim/verify.js') as { dkimVerify: DkimVerify }).dkimVerify;
}

/** `HOST[:PORT]` as Resolver.setServers takes it. */
export function resolverFor(dnsServer?: string): (name: string, type: string) => Promise<unknown> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (dnsServer) resolver.setServers([dnsServer]);
  return (name, type) => resolver.resolve(name, type as 'TXT');
}

const EXPLAIN: Record<string, string> = {
  pass: 'verifies against the published key',
  fail: 'does not verify: the published key is not the one it was signed with',
  neutral: 'does not verify',
  permerror: 'cannot be checked: the DNS record is missing or malformed',
  temperror: 'cannot be checked now: DNS did not answer',
  policy: 'is refused by the verifier (key too short?)',
};

/** Signs `raw` as the provider will and verifies the signatures against DNS. */
export async function checkDkim(
  raw: Buffer,
  o: { provider: ProviderName; from: string; keys: readonly DkimSigningKey[]; dnsServer?: string },
): Promise<{ signed: Buffer; report: DkimReport }> {
  const domain = domainOfAddress(o.from);
  if (o.provider === 'exchange') {
    return {
      signed: raw,
      report: {
        signed: false,
        ok: true,
        signatures: [],
        detail: `Exchange (Graph) builds the message, so Microsoft 365 signs it with the DKIM keys set up for ${domain} there, not sysemail`,
      },
    };
  }
  const keys = dkimKeysFor(o.keys, o.from);
  if (keys.length === 0) {
    return {
      signed: raw,
      report: {
        signed: false,
        ok: false,
        signatures: [],
        detail: `not signed: no DKIM key is registered for ${domain || 'the sender'}; make one with sysemail dkim keygen --domain ${domain || 'DOMAIN'} --selector s1`,
      },
    };
  }
  const { signMessageBuffer } = await import('../providers/dkim.js');
  const signed = await signMessageBuffer(raw, keys);
  const verdict = await loadVerifier()(signed, { resolver: resolverFor(o.dnsServer) });
  const signatures: DkimSignatureCheck[] = verdict.results
    .filter((r) => r.signingDomain)
    .map((r) => {
      const result = r.status?.result ?? 'none';
      const why = EXPLAIN[result] ?? result;
      return {
        domain: r.signingDomain ?? '',
        selector: r.selector ?? '',
        algorithm: r.algo ?? '',
        result,
        detail: `${r.selector}._domainkey.${r.signingDomain} (${r.algo}): ${why}${r.status?.comment && result !== 'pass' ? ` (${r.status.comment})` : ''}`,
      };
    });
  const ok = signatures.length > 0 && signatures.every((s) => s.result === 'pass');
  return {
    signed,
    report: {
      signed: true,
      ok,
      signatures,
      detail: ok
        ? `signed and verified: ${signatures.map((s) => s.detail).join('; ')}`
        : `signed, but ${signatures
            .filter((s) => s.result !== 'pass')
            .map((s) => s.detail)
            .join('; ')}; publish the record that \`sysemail dkim list\` shows`,
    },
  };
}
