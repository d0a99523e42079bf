/** The loopback DNS server the domain checks use answers TXT (split past 255 bytes), MX, A and NXDOMAIN. */
import { Resolver } from 'node:dns/promises';
import { expect, test } from 'vitest';
import { startDnsServer } from '../helpers/dns-server.js';
test('dns', async () => {
  const long = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(400);
  const dns = await startDnsServer({
    'example.test': { TXT: ['v=spf1 -all', long], MX: [{ exchange: 'mx.example.test', priority: 10 }], A: ['127.0.0.1'] },
  });
  const r = new Resolver();
  r.setServers([dns.address]);
  const txt = await r.resolveTxt('example.test');
  expect(txt.map((c) => c.join(''))).toEqual(['v=spf1 -all', long]);
  // Node 24 adds the record type to each answer
  expect((await r.resolveMx('example.test')).map(({ exchange, priority }) => ({ exchange, priority }))).toEqual([
    { exchange: 'mx.example.test', priority: 10 },
  ]);
  expect(await r.resolve4('example.test')).toEqual(['127.0.0.1']);
  await expect(r.resolveTxt('nope.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  dns.set('x.test', { TXT: ['hello'] });
  expect(await r.resolveTxt('X.test')).toEqual([['hello']]);
  await dns.close();
});
