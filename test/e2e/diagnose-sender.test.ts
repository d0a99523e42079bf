import crypto from 'node:crypto';
import dgram from 'node:dgram';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { senderFinding, type SenderFindingId } from '../../src/core/domain/findings.js';
import { reverseName } from '../../src/core/domain/ip.js';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startDnsServer, type DnsServer, type Zone } from '../helpers/dns-server.js';

interface CheckJson {
  id: string;
  status: 'pass' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string;
  diagnosis?: string;
  rule?: string;
}
interface Doc {
  domain: string;
  ok: boolean;
  checks: CheckJson[];
}

const SERVER_IP = '192.0.2.10';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = crypto.generateKeyPairSync('ed25519');
const spki = (k: crypto.KeyObject) => k.export({ format: 'der', type: 'spki' }).toString('base64');
const edRaw = ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');

/** A domain that does everything right, under any name. */
function goodDomain(d: string, extra: Zone = {}): Zone {
  return {
    [d]: { MX: [{ exchange: `mx.${d}`, priority: 10 }], TXT: ['google-site-verification=abc', 'v=spf1 mx include:_spf.relay.test -all'] },
    [`mx.${d}`]: { A: ['192.0.2.25'] },
    [`s1._domainkey.${d}`]: { TXT: [`v=DKIM1; k=rsa; p=${spki(rsa.publicKey)}`] },
    [`e1._domainkey.${d}`]: { TXT: [`v=DKIM1; k=ed25519; p=${edRaw}`] },
    [`_dmarc.${d}`]: { TXT: [`v=DMARC1; p=reject; rua=mailto:dmarc@${d}`] },
    [`_mta-sts.${d}`]: { TXT: ['v=STSv1; id=20240501T0000'] },
    [`_smtp._tls.${d}`]: { TXT: [`v=TLSRPTv1; rua=mailto:tls@${d}`] },
    ...extra,
  };
}

const zone: Zone = {
  'smtp.relay.test': { A: [SERVER_IP] },
  '_spf.relay.test': { TXT: ['v=spf1 ip4:192.0.2.0/28 ~all'] },
  [reverseName(SERVER_IP)!]: { PTR: ['smtp.relay.test'] },
  ...goodDomain('good.test'),
  // broken, one thing each
  ...goodDomain('nospf.test', { 'nospf.test': { MX: [{ exchange: 'mx.nospf.test', priority: 10 }], TXT: ['hello'] } }),
  ...goodDomain('twospf.test', {
    'twospf.test': { MX: [{ exchange: 'mx.twospf.test', priority: 10 }], TXT: ['v=spf1 include:_spf.relay.test -all', 'v=spf1 a -all'] },
  }),
  ...goodDomain('lookups.test', {
    'lookups.test': {
      MX: [{ exchange: 'mx.lookups.test', priority: 10 }],
      TXT: [`v=spf1 include:_spf.relay.test ${Array.from({ length: 10 }, (_, i) => `include:i${i}.lookups.test`).join(' ')} -all`],
    },
    ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`i${i}.lookups.test`, { TXT: ['v=spf1 -all'] }])),
  }),
  ...goodDomain('plusall.test', { 'plusall.test': { MX: [{ exchange: 'mx.plusall.test', priority: 10 }], TXT: ['v=spf1 +all'] } }),
  ...goodDomain('notallowed.test', {
    'notallowed.test': { MX: [{ exchange: 'mx.notallowed.test', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] },
  }),
  ...goodDomain('nodkim.test', { 's1._domainkey.nodkim.test': undefined as never }),
  ...goodDomain('otherkey.test', { 's1._domainkey.otherkey.test': { TXT: [`v=DKIM1; k=rsa; p=${spki(other.publicKey)}`] } }),
  ...goodDomain('nodmarc.test', { '_dmarc.nodmarc.test': undefined as never }),
  ...goodDomain('nomx.test', { 'nomx.test': { TXT: ['v=spf1 include:_spf.relay.test -all'] } }),
  ...goodDomain('nullmx.test', { 'nullmx.test': { MX: [{ exchange: '', priority: 0 }], TXT: ['v=spf1 include:_spf.relay.test -all'] } }),
  // From misaligned: the key is the ESP's (d=esp.test), SPF does not allow the server, DMARC only monitors
  ...goodDomain('shop.test', {
    'shop.test': { MX: [{ exchange: 'mx.shop.test', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.7 -all'] },
    '_dmarc.shop.test': { TXT: ['v=DMARC1; p=none'] },
  }),
  's1._domainkey.esp.test': { TXT: [`v=DKIM1; k=rsa; p=${spki(rsa.publicKey)}`] },
};
for (const [k, v] of Object.entries(zone)) if (v === undefined) delete zone[k];

let dns: DnsServer;
let box: Sandbox;

beforeAll(async () => {
  dns = await startDnsServer(zone);
  box = sandbox('sysemail-e2e-sender-');
  const set = await box.run(['params', 'set', 'smtp.host', 'smtp.relay.test', 'sender.default', 'Billing <billing@good.test>']);
  expect(set.exitCode, set.stderr).toBe(0);
});
afterAll(async () => {
  await dns?.close();
  box?.cleanup();
});

async function sender(
  domain: string | undefined,
  ...args: string[]
): Promise<{ exitCode: number; doc: Doc; byId: Map<string, CheckJson>; stderr: string }> {
  const r = await box.run(['diagnose', 'sender', ...(domain ? [domain] : []), '--dns-server', dns.address, '--json', ...args]);
  const doc = json<Doc>(r.stdout);
  return { exitCode: r.exitCode, doc, byId: new Map(doc.checks.map((c) => [c.id, c])), stderr: r.stderr };
}

describe('diagnose sender DOMAIN', () => {
  it('passes a domain that does everything right, with the JSON shape of diagnose', async () => {
    const { exitCode, doc, byId } = await sender('good.test', '--selector', 's1', '--selector', 'e1');
    expect(exitCode).toBe(0);
    expect(doc.domain).toBe('good.test');
    expect(doc.ok).toBe(true);
    expect([...byId.keys()]).toEqual([
      'sender.domain',
      'sender.mx',
      'sender.spf',
      'sender.spf.lookups',
      'sender.spf.all',
      'sender.spf.server',
      'sender.dkim.s1',
      'sender.dkim.e1',
      'sender.dmarc',
      'sender.dmarc.rua',
      'sender.dmarc.alignment',
      'sender.mta-sts',
      'sender.tls-rpt',
    ]);
    for (const c of doc.checks) {
      expect(c.status, `${c.id}: ${c.detail}`).toBe('pass');
      expect(Object.keys(c).sort()).toEqual(['detail', 'fix', 'id', 'status']);
    }
    expect(byId.get('sender.spf.lookups')!.detail).toMatch(/^2 of 10 DNS lookups/);
    expect(byId.get('sender.dkim.s1')!.detail).toContain('rsa 2048-bit');
    expect(byId.get('sender.dkim.e1')!.detail).toContain('ed25519');
    expect(byId.get('sender.spf.server')!.detail).toContain(SERVER_IP);
  });

  it.each([
    ['nospf.test', 'sender.spf', 'SPF_MISSING'],
    ['twospf.test', 'sender.spf', 'SPF_MULTIPLE'],
    ['lookups.test', 'sender.spf.lookups', 'SPF_TOO_MANY_LOOKUPS'],
    ['plusall.test', 'sender.spf.all', 'SPF_PLUS_ALL'],
    ['notallowed.test', 'sender.spf.server', 'SPF_SERVER_NOT_ALLOWED'],
    ['nodkim.test', 'sender.dkim.s1', 'DKIM_RECORD_MISSING'],
    ['nodmarc.test', 'sender.dmarc', 'DMARC_MISSING'],
    ['nomx.test', 'sender.mx', 'MX_MISSING'],
    ['nullmx.test', 'sender.mx', 'MX_NULL'],
    ['no-such-domain.test', 'sender.domain', 'DOMAIN_NOT_FOUND'],
  ])('%s: %s fails with %s and its fix, exit 1', async (domain, id, finding) => {
    const { exitCode, doc, byId } = await sender(domain, '--selector', 's1');
    expect(exitCode).toBe(1);
    expect(doc.ok).toBe(false);
    const check = byId.get(id);
    expect(check, JSON.stringify(doc.checks)).toMatchObject({ status: 'fail', diagnosis: finding });
    // the finding's own fix (the list's, made more precise where the check knows more)
    expect(check!.fix.startsWith(senderFinding(finding as SenderFindingId).fix), check!.fix).toBe(true);
    // one thing wrong: every other failure is that one's consequence or absent
    const others = doc.checks.filter((c) => c.status === 'fail' && c.id !== id && c.id !== 'sender.dmarc.alignment');
    expect(others, JSON.stringify(others)).toEqual([]);
  });

  it('a mismatched key, a missing record, 11 SPF lookups, p=none without alignment, no MX: each its own finding and fix', async () => {
    const { dkimChecks } = await import('../../src/app/diagnose/sender.js');
    const { NodeDns } = await import('../../src/providers/dns.js');
    const [mismatch] = await dkimChecks(new NodeDns({ server: dns.address, timeoutMs: 2000 }), 'otherkey.test', [
      { selector: 's1', publicKeyBase64: spki(rsa.publicKey) },
    ]);
    const failing = async (domain: string, ...ids: string[]) => {
      const { byId } = await sender(domain, '--selector', 's1', ...(domain === 'shop.test' ? ['--dkim-domain', 'esp.test'] : []));
      return ids.map((id) => byId.get(id)!);
    };
    const found = [
      mismatch,
      ...(await failing('nodkim.test', 'sender.dkim.s1')),
      ...(await failing('lookups.test', 'sender.spf.lookups')),
      ...(await failing('shop.test', 'sender.dmarc', 'sender.dmarc.alignment')),
      ...(await failing('nomx.test', 'sender.mx')),
    ];
    expect(found.map((c) => c.diagnosis)).toEqual([
      'DKIM_KEY_MISMATCH',
      'DKIM_RECORD_MISSING',
      'SPF_TOO_MANY_LOOKUPS',
      'DMARC_POLICY_NONE',
      'DMARC_NOT_ALIGNED',
      'MX_MISSING',
    ]);
    for (const c of found) {
      expect(c.status, c.id).not.toBe('pass');
      expect(c.fix, c.id).toBe(senderFinding(c.diagnosis as SenderFindingId).fix);
    }
    expect(new Set(found.map((c) => c.fix)).size).toBe(found.length);
  });

  it('11 lookups are counted through the includes and named', async () => {
    const { byId } = await sender('lookups.test', '--selector', 's1');
    expect(byId.get('sender.spf.lookups')!.detail).toMatch(/^11 DNS lookups \(the limit is 10\)/);
  });

  it('a published key other than the registered one is DKIM_KEY_MISMATCH', async () => {
    const { dkimChecks } = await import('../../src/app/diagnose/sender.js');
    const { NodeDns } = await import('../../src/providers/dns.js');
    const resolver = new NodeDns({ server: dns.address, timeoutMs: 2000 });
    const mismatch = await dkimChecks(resolver, 'otherkey.test', [{ selector: 's1', publicKeyBase64: spki(rsa.publicKey) }]);
    expect(mismatch[0]).toMatchObject({ id: 'sender.dkim.s1', status: 'fail', diagnosis: 'DKIM_KEY_MISMATCH' });
    const match = await dkimChecks(resolver, 'good.test', [
      { selector: 's1', publicKeyBase64: spki(rsa.publicKey) },
      { selector: 'e1', publicKeyBase64: edRaw },
    ]);
    expect(match.map((c) => c.status)).toEqual(['pass', 'pass']);
    expect(match[0].detail).toContain('the key sysemail signs with');
  });

  it('keys registered with dkim keygen are checked without --selector: the published key passes, another is DKIM_KEY_MISMATCH', async () => {
    const reg = sandbox('sysemail-e2e-sender-dkim-');
    const gen = await reg.run([
      'dkim',
      'keygen',
      '--domain',
      'good.test',
      '--selector',
      'reg1',
      '--out',
      path.join(reg.dir, 'reg1.pem'),
      '--json',
    ]);
    expect(gen.exitCode, gen.stderr).toBe(0);
    const { dnsName, dnsValue } = json<{ dnsName: string; dnsValue: string }>(gen.stdout);
    dns.set(dnsName, { TXT: [dnsValue] });
    const check = async () => {
      const r = await reg.run(['diagnose', 'sender', 'good.test', '--dns-server', dns.address, '--json']);
      return json<Doc>(r.stdout).checks.find((c) => c.id === 'sender.dkim.reg1');
    };
    expect(await check()).toMatchObject({ status: 'pass' });
    // the fix of either failure is the exact record to publish; published as given, DKIM passes again
    const record = `${dnsName} TXT "${dnsValue}"`;
    dns.set(dnsName, { TXT: [`v=DKIM1; k=rsa; p=${spki(other.publicKey)}`] });
    const mismatch = await check();
    expect(mismatch).toMatchObject({ status: 'fail', diagnosis: 'DKIM_KEY_MISMATCH' });
    expect(mismatch!.fix).toContain(record);
    dns.set(dnsName, undefined);
    const missing = await check();
    expect(missing).toMatchObject({ status: 'fail', diagnosis: 'DKIM_RECORD_MISSING' });
    expect(missing!.fix).toContain(record);
    const [, value] = /TXT "([^"]+)"/.exec(missing!.fix)!;
    dns.set(dnsName, { TXT: [value] });
    expect(await check()).toMatchObject({ status: 'pass' });
    reg.cleanup();
  });

  it('a From misaligned with the DKIM d= and SPF under p=none: DMARC_POLICY_NONE and DMARC_NOT_ALIGNED', async () => {
    const { exitCode, byId } = await sender('shop.test', '--selector', 's1', '--dkim-domain', 'esp.test');
    expect(exitCode).toBe(1);
    expect(byId.get('sender.dkim.s1')).toMatchObject({ status: 'pass' });
    expect(byId.get('sender.dmarc')).toMatchObject({ status: 'warn', diagnosis: 'DMARC_POLICY_NONE' });
    expect(byId.get('sender.dmarc.rua')).toMatchObject({ status: 'warn', diagnosis: 'DMARC_NO_RUA' });
    const alignment = byId.get('sender.dmarc.alignment')!;
    expect(alignment).toMatchObject({ status: 'fail', diagnosis: 'DMARC_NOT_ALIGNED' });
    expect(alignment.detail).toContain('d=esp.test not aligned');
    expect(byId.get('sender.dmarc')!.fix).toBe(senderFinding('DMARC_POLICY_NONE').fix);
    expect(alignment.fix).toBe(senderFinding('DMARC_NOT_ALIGNED').fix);
    // the same key under the From domain aligns
    const ok = await sender('good.test', '--selector', 's1', '--dkim-domain', 'good.test');
    expect(ok.byId.get('sender.dmarc.alignment')!.status).toBe('pass');
  });

  it('without a selector DKIM is a warning that says how to name one', async () => {
    const { exitCode, byId } = await sender('good.test');
    expect(exitCode).toBe(0);
    expect(byId.get('sender.dkim')).toMatchObject({ status: 'warn', diagnosis: 'DKIM_NO_SELECTOR' });
    expect(byId.get('sender.dkim')!.fix).toContain('--selector');
  });

  it("without DOMAIN checks sender.default's domain", async () => {
    const { exitCode, doc } = await sender(undefined, '--selector', 's1');
    expect(exitCode).toBe(0);
    expect(doc.domain).toBe('good.test');
  });

  it('prints each finding with its fix for people', async () => {
    const r = await box.run(['diagnose', 'sender', 'twospf.test', '--dns-server', dns.address, '--selector', 's1']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/✖ sender\.spf .*\[SPF_MULTIPLE\]/);
    expect(r.stdout).toContain('fix: Merge them into one record');
  });

  it('a DNS server that does not answer: exit 75 and one clear line', async () => {
    // a UDP port with nothing behind it: the resolver is refused at once
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const { port } = sock.address();
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    const r = await box.run(['diagnose', 'sender', 'good.test', '--dns-server', `127.0.0.1:${port}`, '--json']);
    expect(r.exitCode).toBe(75);
    expect(r.stdout).toBe('');
    const err = json<{ error: { code: string; message: string; exitCode: number } }>(r.stderr).error;
    expect(err).toMatchObject({ code: 'DNS_UNREACHABLE', exitCode: 75 });
    expect(err.message).toContain(`127.0.0.1:${port}`);
    const human = await box.run(['diagnose', 'sender', 'good.test', '--dns-server', `127.0.0.1:${port}`]);
    expect(human.exitCode).toBe(75);
    expect(human.stderr.trim().split('\n')).toHaveLength(1);
    expect(human.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['diagnose', 'sender', 'good.test', '--dns-server', 'dns.example.com'], 64, 'USAGE'],
    [['diagnose', 'sender', 'good.test', '--dns-server', '127.0.0.1:99999'], 64, 'USAGE'],
    [['diagnose', 'sender', 'not a domain', '--dns-server', '127.0.0.1'], 65, 'SENDER_DOMAIN_INVALID'],
    [['diagnose', 'sender', 'good.test', '--selector', 'bad selector', '--dns-server', '127.0.0.1'], 64, 'USAGE'],
    [['diagnose', '--selector', 's1'], 64, 'USAGE'],
    [['diagnose', 'sender', 'good.test', '--offline'], 64, 'USAGE'],
  ])('%j → exit %i (%s), before any DNS question', async (args, code, errorCode) => {
    const before = dns.queries.length;
    const r = await box.run([...args, '--json']);
    expect(r.exitCode, r.stderr).toBe(code);
    expect(json<{ error: { code: string } }>(r.stderr).error.code).toBe(errorCode);
    expect(dns.queries.length).toBe(before);
  });
});

describe('diagnose --bulk', () => {
  it('cites each rule, one check each; a good configuration passes what can be checked here', async () => {
    const r = await box.run(['diagnose', '--bulk', '--dns-server', dns.address, '--selector', 's1', '--json']);
    expect(r.exitCode, r.stdout).toBe(0);
    const doc = json<Doc>(r.stdout);
    expect(doc.domain).toBe('good.test');
    const status = Object.fromEntries(doc.checks.map((c) => [c.id, c.status]));
    expect(status).toEqual({
      'bulk.spf-dkim': 'pass',
      'bulk.dmarc': 'pass',
      'bulk.from-aligned': 'pass',
      'bulk.reverse-dns': 'pass',
      'bulk.tls': 'pass',
      'bulk.unsubscribe': 'skip',
      'bulk.format': 'pass',
      'bulk.spam-rate': 'skip',
    });
    for (const c of doc.checks) expect(c.rule, c.id).toMatch(/Google|Yahoo|Microsoft/);
    expect(doc.checks.find((c) => c.id === 'bulk.spf-dkim')!.rule).toContain('5.7.515');
    expect(doc.checks.find((c) => c.id === 'bulk.spam-rate')!.fix).toContain('Postmaster Tools');
    expect(doc.checks.find((c) => c.id === 'bulk.reverse-dns')!.detail).toContain(`${SERVER_IP} ↔ smtp.relay.test`);
  });

  it('a sender domain and server that break the rules: each rule fails on its own, exit 1', async () => {
    const b = sandbox('sysemail-e2e-bulk-');
    try {
      await b.run([
        'params',
        'set',
        'smtp.host',
        'smtp.relay.test',
        'smtp.security',
        'none',
        'smtp.authRequired',
        'false',
        'sender.default',
        'news@shop.test',
      ]);
      const r = await b.run(['diagnose', '--bulk', '--dns-server', dns.address, '--json']);
      expect(r.exitCode).toBe(1);
      const byId = new Map(json<Doc>(r.stdout).checks.map((c) => [c.id, c]));
      expect(byId.get('bulk.spf-dkim')).toMatchObject({ status: 'fail', diagnosis: 'BULK_SPF_AND_DKIM' });
      expect(byId.get('bulk.spf-dkim')!.fix).toContain('--selector');
      expect(byId.get('bulk.dmarc')).toMatchObject({ status: 'pass' });
      expect(byId.get('bulk.from-aligned')).toMatchObject({ status: 'fail', diagnosis: 'BULK_FROM_ALIGNED' });
      expect(byId.get('bulk.tls')).toMatchObject({ status: 'fail', diagnosis: 'BULK_TLS' });
      expect(byId.get('bulk.format')).toMatchObject({ status: 'pass' });
    } finally {
      b.cleanup();
    }
  });

  it('a sending address without forward-confirmed reverse DNS fails bulk.reverse-dns', async () => {
    dns.set('smtp2.relay.test', { A: ['192.0.2.11'] });
    dns.set(reverseName('192.0.2.11')!, { PTR: ['unrelated.relay.test'] });
    const b = sandbox('sysemail-e2e-bulk-ptr-');
    try {
      await b.run(['params', 'set', 'smtp.host', 'smtp2.relay.test', 'sender.default', 'billing@good.test']);
      const r = await b.run(['diagnose', '--bulk', '--dns-server', dns.address, '--selector', 's1', '--json']);
      expect(r.exitCode).toBe(1);
      const check = json<Doc>(r.stdout).checks.find((c) => c.id === 'bulk.reverse-dns')!;
      expect(check).toMatchObject({ status: 'fail', diagnosis: 'BULK_REVERSE_DNS' });
      expect(check.detail).toContain('does not resolve back');
    } finally {
      b.cleanup();
    }
  });
});
