/**
 * DKIM in tests: a key pair for a domain, its TXT record on the loopback DNS server, and verification
 * with mailauth (an independent verifier) asking that server through Node's resolver.
 */
import { Resolver } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { generateDkimKey } from '../../src/secrets/dkim.js';
import { dkimDnsName, dkimDnsValue, type DkimAlgorithm, type DkimSigningKey } from '../../src/core/dkim.js';
import type { DnsServer } from './dns-server.js';

const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any -- mailauth is CommonJS without types for this entry */
const { dkimVerify } = require('mailauth/lib/dkim/verify.js') as { dkimVerify: (input: Buffer, o: any) => Promise<any> };

export interface DkimVerdict {
  result: string;
  domain: string;
  selector: string;
  algo: string;
  comment?: string;
}

export function testKey(domain: string, selector: string, algorithm: DkimAlgorithm): DkimSigningKey & { publicKey: string } {
  const { privateKey, publicKey } = generateDkimKey(algorithm);
  return { domain, selector, algorithm, privateKey, publicKey };
}

/** Publishes a key's record (`S._domainkey.D TXT "v=DKIM1; k=...; p=..."`). */
export function publish(dns: DnsServer, key: { domain: string; selector: string; algorithm: DkimAlgorithm; publicKey: string }): void {
  dns.set(dkimDnsName(key.selector, key.domain), { TXT: [dkimDnsValue(key.algorithm, key.publicKey)] });
}

/** Every DKIM signature of the message, as mailauth judges it against the loopback DNS server. */
export async function verifyDkim(message: Buffer, dns: DnsServer): Promise<DkimVerdict[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([dns.address]);
  const out = await dkimVerify(message, {
    resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT'),
  });
  return (out.results as any[]).map((r) => ({
    result: r.status?.result,
    domain: r.signingDomain,
    selector: r.selector,
    algo: r.algo,
    ...(r.status?.comment ? { comment: r.status.comment } : {}),
  }));
}
