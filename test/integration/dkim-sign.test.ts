/**
 * The signer on its own: nodemailer's message bytes signed with RSA (nodemailer's DKIM) and Ed25519
 * (Node's crypto), judged by mailauth against keys on a loopback DNS server.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMessageBuffer, signMessageStream, BODY_IN_MEMORY_BYTES } from '../../src/providers/dkim.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { publish, testKey, verifyDkim } from '../helpers/dkim.js';

let dns: DnsServer;
const rsa = testKey('example.org', 'rsa1', 'rsa-sha256');
const ed = testKey('example.org', 'ed1', 'ed25519-sha256');

beforeAll(async () => {
  dns = await startDnsServer();
  publish(dns, rsa);
  publish(dns, ed);
});
afterAll(() => dns?.close());

async function compose(extra: Record<string, unknown> = {}): Promise<Buffer> {
  const { default: MailComposer } = await import('nodemailer/lib/mail-composer');
  return new MailComposer({
    from: 'Billing <billing@example.org>',
    to: 'ann@example.net',
    subject: 'Facture n° 42 — réglée ✓',
    text: 'Hello  \r\n\r\nline with trailing space \r\n\r\n\r\n',
    headers: { 'List-Unsubscribe': '<https://example.org/u/1>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    ...extra,
  })
    .compile()
    .build();
}

describe('DKIM signer', () => {
  it.each([
    ['rsa-sha256', [rsa]],
    ['ed25519-sha256', [ed]],
  ] as const)('%s: the signature verifies, covers List-Unsubscribe-Post, and one changed body byte fails it', async (algo, keys) => {
    const signed = await signMessageBuffer(await compose(), keys);
    const verdicts = await verifyDkim(signed, dns);
    expect(verdicts).toMatchObject([{ result: 'pass', domain: 'example.org', selector: keys[0].selector, algo }]);
    const head = signed.toString('latin1').split('\r\n\r\n')[0];
    expect(head).toMatch(/h=[^;]*list-unsubscribe-post/i);
    const tampered = Buffer.from(signed.toString('latin1').replace('trailing', 'trailinG'), 'latin1');
    const [bad] = await verifyDkim(tampered, dns);
    // mailauth says "neutral" for a body hash that does not match: anything but pass is a failed check
    expect(bad.result).not.toBe('pass');
    expect(bad.comment).toMatch(/body hash/i);
  });

  it('both keys of a domain sign; a large body goes through the cache and still verifies', async () => {
    const big = Buffer.alloc(BODY_IN_MEMORY_BYTES * 3, 'abc def\r\n');
    const raw = await compose({ attachments: [{ filename: 'big.txt', content: big }] });
    const signed = await signMessageStream(Readable.from([raw]), [rsa, ed]);
    const chunks: Buffer[] = [];
    for await (const c of signed) chunks.push(c as Buffer);
    const verdicts = await verifyDkim(Buffer.concat(chunks), dns);
    expect(verdicts.map((v) => `${v.algo}:${v.result}`).sort()).toEqual(['ed25519-sha256:pass', 'rsa-sha256:pass']);
  });
});
