import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reverseName } from '../../src/core/domain/ip.js';
import { checkHost } from '../../src/core/domain/spf.js';
import { NodeDns } from '../../src/providers/dns.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';

let server: DnsServer;
let dns: NodeDns;

beforeAll(async () => {
  server = await startDnsServer({
    'example.test': {
      TXT: ['v=spf1 include:_spf.provider.test mx a:web.example.test/30 ip6:2001:db8:5::/48 -all'],
      MX: [{ exchange: 'mx.example.test', priority: 5 }],
    },
    'mx.example.test': { A: ['198.51.100.25'] },
    'web.example.test': { A: ['203.0.113.8'] },
    '_spf.provider.test': { TXT: ['v=spf1 ip4:192.0.2.0/25 ?all'] },
    'redirected.test': { TXT: ['v=spf1 redirect=example.test'] },
    'macro.test': { TXT: ['v=spf1 exists:%{ir}.%{l1r-}.allow.macro.test ~all'] },
    '10.2.0.192.billing.allow.macro.test': { A: ['127.0.0.2'] },
    'ptr.test': { TXT: ['v=spf1 ptr:relay.test -all'] },
    [reverseName('192.0.2.200')!]: { PTR: ['out1.relay.test'] },
    'out1.relay.test': { A: ['192.0.2.200'] },
    'voids.test': { TXT: ['v=spf1 a:gone1.voids.test a:gone2.voids.test a:gone3.voids.test ip4:192.0.2.1 -all'] },
    'deadinclude.test': { TXT: ['v=spf1 include:nothing-here.test -all'] },
    'loop.test': { TXT: ['v=spf1 include:loop.test -all'] },
    'broken-include.test': { TXT: ['v=spf1 include:bad.test -all'] },
    'bad.test': { TXT: ['v=spf1 ip4:1.2.3 -all'] },
    'servfail.test': { TXT: ['v=spf1 include:sf.test -all'] },
    'sf.test': { SERVFAIL: true },
    'silent.test': { TXT: ['v=spf1 include:quiet.test -all'] },
    'quiet.test': { SILENT: true },
  });
  dns = new NodeDns({ server: server.address, timeoutMs: 300 });
});
afterAll(async () => {
  await server?.close();
});

const sender = 'billing@example.test';

describe('check_host() against a real DNS server', () => {
  it.each([
    ['192.0.2.9', 'example.test', 'pass', 'include:_spf.provider.test'],
    ['192.0.2.200', 'example.test', 'fail', '-all'],
    ['198.51.100.25', 'example.test', 'pass', 'mx'],
    ['203.0.113.9', 'example.test', 'pass', 'a:web.example.test/30'],
    ['203.0.113.12', 'example.test', 'fail', '-all'],
    ['2001:db8:5:1::7', 'example.test', 'pass', 'ip6:'],
    ['192.0.2.9', 'redirected.test', 'pass', 'include:_spf.provider.test'],
    ['192.0.2.10', 'macro.test', 'pass', 'exists:'],
    ['192.0.2.11', 'macro.test', 'softfail', '~all'],
    ['192.0.2.200', 'ptr.test', 'pass', 'ptr:relay.test'],
    ['192.0.2.201', 'ptr.test', 'fail', '-all'],
    ['192.0.2.1', 'nothing-at-all.test', 'none', 'no SPF record'],
  ])('%s for %s → %s (%s)', async (ip, domain, result, reason) => {
    const r = await checkHost(dns, domain, { ip, sender });
    expect(r.result, r.reason).toBe(result);
    expect(r.reason).toContain(reason);
  });

  it('gives permerror past the limits and for broken includes', async () => {
    expect((await checkHost(dns, 'voids.test', { ip: '192.0.2.1', sender })).result).toBe('permerror');
    expect((await checkHost(dns, 'deadinclude.test', { ip: '192.0.2.1', sender })).result).toBe('permerror');
    const loop = await checkHost(dns, 'loop.test', { ip: '192.0.2.1', sender });
    expect(loop.result).toBe('permerror');
    expect(loop.reason).toContain('more than 10 DNS lookups');
    expect((await checkHost(dns, 'broken-include.test', { ip: '192.0.2.1', sender })).result).toBe('permerror');
  });

  it('gives temperror when a name server fails or stays silent, within the timeout', async () => {
    expect((await checkHost(dns, 'servfail.test', { ip: '192.0.2.1', sender })).result).toBe('temperror');
    const quiet = await checkHost(dns, 'silent.test', { ip: '192.0.2.1', sender });
    expect(quiet.result).toBe('temperror');
    expect(quiet.reason).toContain('no answer in time');
  });

  it('counts every lookup of the tree when auditing without an address', async () => {
    const audit = await checkHost(dns, 'example.test', { sender });
    // include, mx, a
    expect(audit.lookups).toBe(3);
    expect(audit.visited).toEqual(['example.test', '_spf.provider.test']);
    const voids = await checkHost(dns, 'voids.test', { sender });
    expect(voids).toMatchObject({ result: 'permerror', voidLookups: 3 });
  });
});
