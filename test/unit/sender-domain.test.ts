import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aligned, organizationalDomain, parseDmarc } from '../../src/core/domain/dmarc.js';
import { parseDkimKeyRecord, parseMtaSts, parseTlsRpt, sameKey } from '../../src/core/domain/dkim-record.js';
import {
  renderSenderFindingsMarkdown,
  SENDER_FINDING_IDS,
  senderFindings,
  senderFindingsSectionOf,
  withSenderFindingsSection,
} from '../../src/core/domain/findings.js';
import { inNetwork, ipv6Bytes, reverseName } from '../../src/core/domain/ip.js';
import { allQualifier, parseSpf } from '../../src/core/domain/spf.js';

describe('SPF records (RFC 7208)', () => {
  it('parses mechanisms, qualifiers, prefixes and modifiers', () => {
    const r = parseSpf(
      'v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/28//64 -include:_spf.example.net ~exists:%{i}.bl.example.org redirect=_spf.example.com',
    );
    expect(r.errors).toEqual([]);
    const m = r.value!.mechanisms;
    expect(m.map((x) => `${x.qualifier}${x.name}`)).toEqual(['+ip4', '+ip6', '+a', '+mx', '-include', '~exists']);
    expect(m[0]).toMatchObject({ value: '192.0.2.0', prefix4: 24 });
    expect(m[1]).toMatchObject({ value: '2001:db8::', prefix6: 32 });
    expect(m[3]).toMatchObject({ value: 'mail.example.com', prefix4: 28, prefix6: 64 });
    expect(m[5].value).toBe('%{i}.bl.example.org');
    expect(r.value!.redirect).toBe('_spf.example.com');
    expect(allQualifier(parseSpf('v=spf1 mx ?all').value!)).toBe('?');
    expect(allQualifier(parseSpf('v=spf1 all').value!)).toBe('+');
    expect(allQualifier(parseSpf('v=spf1 mx').value!)).toBeUndefined();
  });

  it.each([
    ['v=spf1 ip4:192.0.2.300', 'ip4'],
    ['v=spf1 ip4:192.0.2.0/33', 'ip4'],
    ['v=spf1 ip6:2001:db8::/129', 'ip6'],
    ['v=spf1 include', 'include'],
    ['v=spf1 include:', 'include'],
    ['v=spf1 a/40', 'prefix'],
    ['v=spf1 all:example.com', 'all'],
    ['v=spf1 mx:example..com', 'mx'],
    ['v=spf1 ipv4:192.0.2.1', 'not an SPF mechanism'],
    ['v=spf1 redirect=a.example redirect=b.example', 'twice'],
    ['v=spf1 exists:%{z}.example.com', 'exists'],
    ['spf1 -all', 'v=spf1'],
  ])('refuses %s (%s)', (record, word) => {
    const r = parseSpf(record);
    expect(r.value).toBeUndefined();
    expect(r.errors.join(' ')).toContain(word);
  });

  it('accepts an unknown modifier and repeated spaces, as receivers must', () => {
    expect(parseSpf('v=spf1  mx   foo=bar -all').errors).toEqual([]);
  });
});

describe('addresses and networks', () => {
  it('matches CIDR ranges for IPv4 and IPv6, and IPv4-mapped addresses as IPv4', () => {
    expect(inNetwork('192.0.2.77', '192.0.2.64', 26)).toBe(true);
    expect(inNetwork('192.0.2.128', '192.0.2.64', 26)).toBe(false);
    expect(inNetwork('2001:db8:1::5', '2001:db8::', 32)).toBe(true);
    expect(inNetwork('2001:db9::5', '2001:db8::', 32)).toBe(false);
    expect(inNetwork('::ffff:192.0.2.1', '192.0.2.0', 24)).toBe(true);
    expect(inNetwork('192.0.2.1', '2001:db8::', 32)).toBe(false);
    expect(inNetwork('10.0.0.1', '0.0.0.0', 0)).toBe(true);
  });
  it('parses IPv6 forms and refuses bad ones', () => {
    expect(ipv6Bytes('::1')).toEqual([...Array<number>(15).fill(0), 1]);
    expect(ipv6Bytes('1:2:3:4:5:6:7:8')).toHaveLength(16);
    expect(ipv6Bytes('1::2::3')).toBeUndefined();
    expect(ipv6Bytes('1:2:3:4:5:6:7')).toBeUndefined();
    expect(ipv6Bytes('12345::')).toBeUndefined();
  });
  it('names reverse zones', () => {
    expect(reverseName('192.0.2.10')).toBe('10.2.0.192.in-addr.arpa');
    expect(reverseName('2001:db8::1')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });
});

describe('DMARC (RFC 7489)', () => {
  it('reads the tags with their defaults', () => {
    const r = parseDmarc('v=DMARC1; p=quarantine; rua=mailto:d@example.com,mailto:x@example.net!10m; adkim=s');
    expect(r.errors).toEqual([]);
    expect(r.value).toMatchObject({
      p: 'quarantine',
      sp: 'quarantine',
      pct: 100,
      adkim: 's',
      aspf: 'r',
      rua: ['mailto:d@example.com', 'mailto:x@example.net!10m'],
    });
    expect(parseDmarc('v=DMARC1; p=reject; sp=none; pct=25').value).toMatchObject({ sp: 'none', pct: 25, rua: [] });
  });
  it('applies p=none when p= is missing but rua= is valid (6.6.3), and refuses it otherwise', () => {
    expect(parseDmarc('v=DMARC1; rua=mailto:d@example.com').value).toMatchObject({ p: 'none', pAssumed: true });
    expect(parseDmarc('v=DMARC1').errors.join()).toContain('p=');
  });
  it.each([
    ['v=DMARC1; p=block', 'p=block'],
    ['v=DMARC1; p=none; pct=150', 'pct'],
    ['v=DMARC1; p=none; adkim=x', 'adkim'],
    ['p=none; v=DMARC1', 'v=DMARC1'],
    ['v=DMARC1; p=none; sp=maybe', 'sp'],
  ])('refuses %s', (text, word) => {
    const r = parseDmarc(text);
    expect(r.value).toBeUndefined();
    expect(r.errors.join(' ')).toContain(word);
  });
  it('finds organisational domains with the small public-suffix rule', () => {
    expect(organizationalDomain('mail.news.example.com')).toBe('example.com');
    expect(organizationalDomain('shop.example.co.uk')).toBe('example.co.uk');
    expect(organizationalDomain('example.com')).toBe('example.com');
    expect(organizationalDomain('Example.COM.')).toBe('example.com');
  });
  it('aligns relaxed by organisational domain and strict by equality', () => {
    expect(aligned('news.example.com', 'example.com', 'r')).toBe(true);
    expect(aligned('news.example.com', 'example.com', 's')).toBe(false);
    expect(aligned('example.com', 'EXAMPLE.com', 's')).toBe(true);
    expect(aligned('example.net', 'example.com', 'r')).toBe(false);
    expect(aligned('a.example.co.uk', 'b.example.co.uk', 'r')).toBe(true);
    expect(aligned('a.co.uk', 'b.co.uk', 'r')).toBe(false);
  });
});

describe('DKIM key records (RFC 6376 3.6.1, RFC 8463)', () => {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ed = crypto.generateKeyPairSync('ed25519');
  const spki = (k: crypto.KeyObject) => k.export({ format: 'der', type: 'spki' }).toString('base64');
  it('reads the key type, size and test flag', () => {
    const r = parseDkimKeyRecord(`v=DKIM1; k=rsa; t=y; p=${spki(rsa.publicKey)}`);
    expect(r.value).toMatchObject({ keyType: 'rsa', bits: 1024, testing: true });
    const e = parseDkimKeyRecord(`v=DKIM1; k=ed25519; p=${spki(ed.publicKey).slice(0)}`);
    expect(e.value?.keyType).toBe('ed25519');
    expect(parseDkimKeyRecord('v=DKIM1; p=').value?.publicKeyBase64).toBe('');
  });
  it('compares keys whatever form they are given in', () => {
    const raw = ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
    const rec = parseDkimKeyRecord(`v=DKIM1; k=ed25519; p=${raw}`).value!;
    expect(sameKey(rec, spki(ed.publicKey))).toBe(true);
    expect(sameKey(rec, spki(crypto.generateKeyPairSync('ed25519').publicKey))).toBe(false);
    const rsaRec = parseDkimKeyRecord(`p=${spki(rsa.publicKey).replace(/(.{40})/g, '$1 ')}`).value!;
    expect(sameKey(rsaRec, spki(rsa.publicKey))).toBe(true);
  });
  it.each([
    ['k=rsa; v=DKIM1; p=AAAA', 'first'],
    ['v=DKIM1; k=dsa; p=AAAA', 'k=dsa'],
    ['v=DKIM1; k=rsa', 'p='],
    ['v=DKIM1; k=rsa; p=not*base64', 'base64'],
    ['v=DKIM1; k=rsa; p=QUJD', 'not an rsa public key'],
  ])('refuses %s', (text, word) => {
    const r = parseDkimKeyRecord(text);
    expect(r.value).toBeUndefined();
    expect(r.errors.join(' ')).toContain(word);
  });
  it('reads MTA-STS and TLS-RPT records', () => {
    expect(parseMtaSts('v=STSv1; id=20240501')).toEqual({ id: '20240501', errors: [] });
    expect(parseMtaSts('v=STSv1; id=2024-05-01').errors).toHaveLength(1);
    expect(parseTlsRpt('v=TLSRPTv1; rua=mailto:tls@example.com').errors).toEqual([]);
    expect(parseTlsRpt('v=TLSRPTv1;').errors.join()).toContain('rua=');
  });
});

describe('the sender-domain findings', () => {
  it('lists every id once, each with its title, explanation and fix', () => {
    expect(senderFindings.map((f) => f.id)).toEqual([...SENDER_FINDING_IDS]);
    for (const f of senderFindings) {
      expect(f.title.length, f.id).toBeGreaterThan(10);
      expect(f.explanation.length, f.id).toBeGreaterThan(40);
      expect(f.fix.length, f.id).toBeGreaterThan(15);
      if (f.id.startsWith('BULK_')) expect(f.rule, f.id).toMatch(/Google|Yahoo|Microsoft/);
    }
  });
  it('is in step with docs/diagnosis.md (run `npm run build && npm run docs` after editing it)', () => {
    const doc = fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', 'docs', 'diagnosis.md'), 'utf8');
    expect(senderFindingsSectionOf(doc)).toBe(renderSenderFindingsMarkdown(senderFindings));
    const section = renderSenderFindingsMarkdown(senderFindings);
    const appended = withSenderFindingsSection('# t\n', section);
    expect(withSenderFindingsSection(appended.replace('#### MX_NULL', '#### STALE'), section)).toBe(appended);
  });
});
