/**
 * The sender-domain use case with what the command line cannot hand it yet: registered keys with their
 * public halves, templates that carry headers, a DNS server that stays silent.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkChecks } from '../../src/app/diagnose/bulk.js';
import { runDomainChecks } from '../../src/app/diagnose/domain.js';
import { reverseName } from '../../src/core/domain/ip.js';
import { NodeDns } from '../../src/providers/dns.js';
import type { Store, TemplateRow } from '../../src/store/ports.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { settingsOf } from '../helpers/settings.js';

const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = (k: crypto.KeyObject) => k.export({ format: 'der', type: 'spki' }).toString('base64');

let server: DnsServer;
const settings = settingsOf({ 'smtp.host': 'smtp.example.test', 'sender.default': 'app@example.test' });
/** Only runDomainChecks' bulk mode reads the store, and only its templates. */
const noStore = {} as Store;

beforeAll(async () => {
  server = await startDnsServer({
    'example.test': { MX: [{ exchange: 'mx.example.test', priority: 10 }], TXT: ['v=spf1 a:smtp.example.test -all'] },
    'mx.example.test': { A: ['192.0.2.25'] },
    'smtp.example.test': { A: ['192.0.2.10'] },
    [reverseName('192.0.2.10')!]: { PTR: ['smtp.example.test'] },
    'k1._domainkey.example.test': { TXT: [`v=DKIM1; k=rsa; p=${spki(key.publicKey)}`] },
    '_dmarc.example.test': { TXT: ['v=DMARC1; p=quarantine; rua=mailto:d@example.test'] },
    'news.example.test': {
      MX: [{ exchange: 'mx.example.test', priority: 10 }],
      TXT: ['v=spf1 include:example.test include:gone.example.test -all'],
    },
    'quiet.test': { SILENT: true },
  });
});
afterAll(async () => {
  await server?.close();
});

describe('registered keys', () => {
  it('a registered key is checked against its selector: the same key passes, another is DKIM_KEY_MISMATCH', async () => {
    const same = await runDomainChecks({
      mode: 'sender',
      store: noStore,
      settings,
      domain: 'example.test',
      dnsServer: server.address,
      selectors: [],
      registered: [{ selector: 'k1', domain: 'example.test', publicKeyBase64: spki(key.publicKey) }],
    });
    expect(same.ok).toBe(true);
    expect(same.checks.find((c) => c.id === 'sender.dkim.k1')).toMatchObject({ status: 'pass' });
    const other = await runDomainChecks({
      mode: 'sender',
      store: noStore,
      settings,
      domain: 'example.test',
      dnsServer: server.address,
      // the selector named on the command line as well is checked once, with the registered key
      selectors: ['k1'],
      registered: [{ selector: 'k1', domain: 'example.test', publicKeyBase64: spki(otherKey.publicKey) }],
    });
    expect(other.ok).toBe(false);
    const dkim = other.checks.filter((c) => c.id.startsWith('sender.dkim'));
    expect(dkim).toHaveLength(1);
    expect(dkim[0]).toMatchObject({ status: 'fail', diagnosis: 'DKIM_KEY_MISMATCH' });
    // no key that verifies: DMARC still passes on SPF, as receivers would judge it
    expect(other.checks.find((c) => c.id === 'sender.dmarc.alignment')?.status).toBe('pass');
  });
});

describe('a subdomain', () => {
  it("takes the organisational domain's DMARC record, and an include of a domain without SPF fails", async () => {
    const r = await runDomainChecks({
      mode: 'sender',
      store: noStore,
      registered: [],
      settings,
      domain: 'news.example.test',
      dnsServer: server.address,
      selectors: [],
    });
    const byId = new Map(r.checks.map((c) => [c.id, c]));
    expect(byId.get('sender.dmarc')).toMatchObject({ status: 'pass' });
    expect(byId.get('sender.dmarc')!.detail).toContain(
      '_dmarc.example.test (organisational domain of news.example.test): p=quarantine (from sp=)',
    );
    expect(byId.get('sender.spf.lookups')).toMatchObject({ status: 'fail', diagnosis: 'SPF_VOID_LOOKUPS' });
    expect(byId.get('sender.spf.lookups')!.detail).toContain('include:gone.example.test');
    // smtp.host passes through the first include before the dangling one is reached
    expect(byId.get('sender.spf.server')).toMatchObject({ status: 'pass' });
  });
});

describe('one-click unsubscribe in templates', () => {
  const template = (id: string, bulk: boolean, unsubscribeUrl: string | null, unsubscribeMailto: string | null = null): TemplateRow => ({
    id,
    org: '',
    subject: 's',
    html: null,
    text: 't',
    sender: null,
    description: null,
    bulk,
    unsubscribeUrl,
    unsubscribeMailto,
    priority: null,
    createdAt: 0,
    updatedAt: 0,
  });
  const run = async (templates: TemplateRow[]) => {
    const dns = new NodeDns({ server: server.address, timeoutMs: 1000 });
    const r = await bulkChecks({ domain: 'example.test', dns, dnsLabel: server.address, settings, keys: [{ selector: 'k1' }], templates });
    return r.checks.find((c) => c.id === 'bulk.unsubscribe')!;
  };

  it('passes when every bulk template has an https unsubscribe URL, and names the ones that do not', async () => {
    expect(await run([template('news', true, 'https://example.test/u?t={{id}}'), template('invoice', false, null)])).toMatchObject({
      status: 'pass',
    });
    const missing = await run([template('news', true, 'https://example.test/u'), template('promo', true, null, 'mailto:u@example.test')]);
    expect(missing).toMatchObject({ status: 'fail', diagnosis: 'BULK_ONE_CLICK_UNSUBSCRIBE' });
    expect(missing.detail).toContain('promo');
    expect(missing.detail).not.toContain('news');
  });

  it('no template marked bulk: skip, with the fix', async () => {
    const r = await run([template('invoice', false, null)]);
    expect(r).toMatchObject({ status: 'skip', diagnosis: 'BULK_ONE_CLICK_UNSUBSCRIBE' });
    expect(r.fix).toContain('--bulk yes');
  });
});

describe('a DNS server that never answers', () => {
  it('ends with DNS_UNREACHABLE (tempfail) within the timeouts', async () => {
    // the silent name is asked first (its MX), so the server looks unanswering
    const err = await runDomainChecks({
      mode: 'sender',
      store: noStore,
      registered: [],
      settings,
      domain: 'quiet.test',
      dnsServer: server.address,
      selectors: [],
      timeouts: { dnsQueryMs: 100 },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'tempfail', code: 'DNS_UNREACHABLE' });
    expect((err as Error).message).toContain(server.address);
  });
});
