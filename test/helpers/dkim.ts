/**
 * DKIM in tests: a key pair for a domain, its TXT record on the loopback DNS server, and verification
 * with mailauth (an independent verifier) asking that server through Node's resolver.
 */
import { createPrivateKey } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
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
  /** c=, e.g. `relaxed/relaxed`. */
  format: string;
  /** The header fields the signature covers (h=), lower-cased. */
  signed: string[];
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
    format: r.format,
    signed: ((r.signingHeaders?.keys ?? '') as string)
      .split(':')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
    ...(r.status?.comment ? { comment: r.status.comment } : {}),
  }));
}

/** One recognisable piece of a private key, and the form it would leak in. */
export interface KeyFragment {
  form: string;
  bytes: Buffer;
}

/**
 * Pieces of a private key that only the key contains, in every form it could leak in: the PEM text
 * (20-character runs inside one line, so a PEM shown with or without line breaks or JSON-escaped is
 * found), the DER bytes, hex and base64/base64url (a JWK) of each private component. Only the private
 * part: the PKCS#8 header is the same for every key and the public key is published on purpose.
 */
export function keyFragments(pem: string): KeyFragment[] {
  const key = createPrivateKey(pem);
  const jwk = key.export({ format: 'jwk' }) as Record<string, string | undefined>;
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const components = ['d', 'p', 'q', 'dp', 'dq', 'qi'].flatMap((n) => (jwk[n] ? [Buffer.from(jwk[n], 'base64url')] : []));
  const out: KeyFragment[] = [];
  for (const c of components) {
    const piece = c.subarray(1, 1 + Math.min(24, c.length - 2));
    out.push(
      { form: 'binary', bytes: piece },
      { form: 'hex', bytes: Buffer.from(piece.toString('hex')) },
      { form: 'base64url', bytes: Buffer.from(c.toString('base64url').slice(4, 28)) },
      { form: 'base64', bytes: Buffer.from(c.toString('base64').slice(4, 28)) },
    );
  }
  // the PEM characters that encode only private bytes: from the first private component to the end
  const start = Math.ceil(der.indexOf(components[0]) / 3) * 4;
  const lines = pem.split(/\r?\n/).filter((l) => l && !l.startsWith('-----'));
  let at = 0;
  for (const line of lines) {
    for (let i = Math.max(0, start - at); i + 20 <= line.length; i += 20)
      out.push({ form: 'PEM', bytes: Buffer.from(line.slice(i, i + 20)) });
    at += line.length;
  }
  if (!out.some((f) => f.form === 'PEM')) throw new Error('keyFragments: no private PEM text found');
  return out;
}

/** Which forms of the key `data` holds (empty: none). */
export function keyLeaks(data: Buffer | string, fragments: KeyFragment[]): string[] {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return [...new Set(fragments.filter((f) => buf.includes(f.bytes)).map((f) => f.form))];
}

/** Every file under `dir` (but `except`) that holds any form of the key, as `file: forms`. */
export function keyLeaksUnder(dir: string, fragments: KeyFragment[], except: string[] = []): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !except.includes(p)) {
        const forms = keyLeaks(fs.readFileSync(p), fragments);
        if (forms.length) hits.push(`${p}: ${forms.join(', ')}`);
      }
    }
  };
  walk(dir);
  return hits;
}
