/**
 * DKIM end to end: `dkim keygen` makes and registers a key, its record goes onto a loopback DNS server,
 * and what the distributor sends to a real SMTP server (a 20 MB attachment, a non-ASCII subject, small
 * messages rendered ahead on the worker thread), what `send` sends now and what the eml provider
 * writes all verify with mailauth; one changed body byte does not. The private key is nowhere but its file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandbox, json, type Sandbox } from '../helpers/cli.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { verifyDkim } from '../helpers/dkim.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const PASSWORD = 'dkim-e2e-pw';
const SUBJECT = 'Facture n° 2026-42 — réglée ✓ 請求書';
let server: TestSmtpServer;
let dns: DnsServer;
const boxes: Sandbox[] = [];

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
  dns = await startDnsServer();
});
afterAll(async () => {
  await server.close();
  await dns.close();
  for (const b of boxes) b.cleanup();
});

async function box(): Promise<Sandbox> {
  const sb = sandbox('sysemail-dkim-e2e-');
  boxes.push(sb);
  sb.env.SYSEMAIL_SMTP_PASSWORD = PASSWORD;
  const set = await sb.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(server.port),
    'smtp.caFile',
    testPki().caFile,
    'smtp.username',
    'app',
    'limits.maxMessageMb',
    '40',
    'eml.outputDir',
    path.join(sb.dir, 'outbox'),
  ]);
  expect(set.exitCode, set.stderr).toBe(0);
  return sb;
}

/** `dkim keygen --out` in the sandbox; its record published on the DNS server. Returns the key file. */
async function keygen(sb: Sandbox, domain: string, selector: string, algorithm: string): Promise<string> {
  const out = path.join(sb.dir, `${selector}.pem`);
  const r = await sb.run(['dkim', 'keygen', '--domain', domain, '--selector', selector, '--algorithm', algorithm, '--out', out, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  const k = json<{ dnsName: string; dnsValue: string; algorithm: string }>(r.stdout);
  expect(k).toMatchObject({ domain, selector, algorithm, dnsName: `${selector}._domainkey.${domain}` });
  expect(fs.statSync(out).mode & 0o777).toBe(0o600);
  dns.set(k.dnsName, { TXT: [k.dnsValue] });
  return out;
}

/** The base64 body of the PEM, the part that must not leak. */
const keyBody = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');

function leaked(dir: string, secret: string, except: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p !== except && fs.readFileSync(p).includes(secret.slice(0, 40))) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

describe('DKIM signing', () => {
  it.each(['rsa-sha256', 'ed25519-sha256'])(
    '%s: queued messages (20 MB attachment, non-ASCII subject, rendered ahead) verify; one body byte changed fails',
    { timeout: 120_000 },
    async (algorithm) => {
      const sb = await box();
      const selector = algorithm === 'rsa-sha256' ? 'r2026' : 'e2026';
      const keyFile = await keygen(sb, 'example.org', selector, algorithm);
      const big = path.join(sb.dir, 'big.bin');
      fs.writeFileSync(big, Buffer.alloc(20 * 1024 * 1024, 7));
      const q = await sb.run([
        'send',
        '--queue',
        '--from',
        'Billing <billing@example.org>',
        '--to',
        'ann@example.net',
        '--subject',
        SUBJECT,
        '--body',
        'see attached',
        '--attach',
        big,
      ]);
      expect(q.exitCode, q.stderr).toBe(0);
      // small messages: the worker thread renders them ahead of sending, and signs them there
      const lines = Array.from({ length: 30 }, (_, i) =>
        JSON.stringify({ to: `w${i}@example.net`, from: 'billing@example.org', subject: `${SUBJECT} ${i}`, text: `message ${i}\n` }),
      );
      lines.push(JSON.stringify({ to: 'x@example.net', from: 'other@unsigned.example', subject: 'no key', text: 'plain' }));
      fs.writeFileSync(path.join(sb.dir, 'batch.jsonl'), lines.join('\n') + '\n');
      expect((await sb.run(['queue', 'import', path.join(sb.dir, 'batch.jsonl')])).exitCode).toBe(0);
      server.reset();
      const r = await sb.run(['queue', 'run', '--write-thread', 'on', '--concurrency', '3', '--json', '-v'], { timeout: 90_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(json(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ sent: 32, failed: 0, remaining: 0, lane: 'thread' });
      const rendered = Number(/(\d+) message\(s\) were rendered there ahead/.exec(r.stderr)?.[1] ?? 0);
      expect(rendered).toBeGreaterThan(0);
      expect(server.messages).toHaveLength(32);

      for (const m of server.messages) {
        const head = m.subarray(0, 8192).toString('latin1');
        const verdicts = await verifyDkim(m, dns);
        if (/^From: other@unsigned\.example/m.test(head)) {
          expect(verdicts.map((v) => v.result)).toEqual(['none']);
          continue;
        }
        expect(verdicts, head.slice(0, 400)).toMatchObject([{ result: 'pass', domain: 'example.org', selector, algo: algorithm }]);
      }
      const large = server.messages.find((m) => m.length > 20 * 1024 * 1024)!;
      expect(large).toBeDefined();
      // one body byte changed, far into the attachment
      const tampered = Buffer.from(large);
      const at = tampered.length - 4096;
      tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
      const [bad] = await verifyDkim(tampered, dns);
      expect(bad.result).not.toBe('pass');

      // the private key is in its file only: not in the database, the outbox, the output
      const secret = keyBody(keyFile);
      expect(r.stdout + r.stderr).not.toContain(secret.slice(0, 40));
      expect(leaked(sb.dir, secret, keyFile)).toEqual([]);
    },
  );

  it('send now and the eml provider: both outputs verify', { timeout: 60_000 }, async () => {
    const sb = await box();
    await keygen(sb, 'example.org', 'both1', 'ed25519-sha256');
    await keygen(sb, 'example.org', 'both2', 'rsa-sha256');
    server.reset();
    const now = await sb.run([
      'send',
      '--provider',
      'smtp',
      '--from',
      'billing@example.org',
      '--to',
      'ann@example.net',
      '--subject',
      SUBJECT,
      '--body',
      'now',
    ]);
    expect(now.exitCode, now.stderr).toBe(0);
    expect(server.messages).toHaveLength(1);
    expect((await verifyDkim(server.messages[0], dns)).map((v) => `${v.selector}:${v.result}`).sort()).toEqual([
      'both1:pass',
      'both2:pass',
    ]);

    const eml = await sb.run([
      'send',
      '--provider',
      'eml',
      '--from',
      'billing@example.org',
      '--to',
      'ann@example.net',
      '--subject',
      SUBJECT,
      '--body',
      'draft',
      '--json',
    ]);
    expect(eml.exitCode, eml.stderr).toBe(0);
    const file = json<{ file: string }>(eml.stdout).file;
    expect((await verifyDkim(fs.readFileSync(file), dns)).map((v) => `${v.selector}:${v.result}`).sort()).toEqual([
      'both1:pass',
      'both2:pass',
    ]);
  });

  it('a key file gone missing stops the run (78) before anything is sent', { timeout: 60_000 }, async () => {
    const sb = await box();
    const keyFile = await keygen(sb, 'example.org', 'gone1', 'rsa-sha256');
    expect(
      (await sb.run(['send', '--queue', '--from', 'billing@example.org', '--to', 'ann@example.net', '--subject', 's', '--body', 'b']))
        .exitCode,
    ).toBe(0);
    fs.rmSync(keyFile);
    server.reset();
    const r = await sb.run(['queue', 'run', '--json']);
    expect(r.exitCode).toBe(78);
    expect(json<{ error: { code: string } }>(r.stderr).error.code).toBe('DKIM_KEY_UNAVAILABLE');
    expect(server.messages).toHaveLength(0);
    const send = await sb.run([
      'send',
      '--provider',
      'smtp',
      '--from',
      'billing@example.org',
      '--to',
      'ann@example.net',
      '--subject',
      's',
      '--body',
      'b',
    ]);
    expect(send.exitCode).toBe(78);
    expect(send.stderr).toContain('gone1.pem');
    expect(server.messages).toHaveLength(0);
  });

  it(
    'one-click unsubscribe: a bulk template without it fails verify; with it, both headers are sent, rendered and signed',
    { timeout: 60_000 },
    async () => {
      const sb = await box();
      await keygen(sb, 'example.org', 'news1', 'rsa-sha256');
      const body = path.join(sb.dir, 'news.txt');
      fs.writeFileSync(body, 'Hello %name%, this month: ...\n');
      const add = await sb.run([
        'template',
        'add',
        'news',
        '--subject',
        'News for %name%',
        '--body-file',
        body,
        '--sender',
        'news@example.org',
        '--bulk',
        'yes',
      ]);
      expect(add.exitCode, add.stderr).toBe(0);
      const bad = await sb.run(['template', 'verify', 'news', '--json']);
      expect(bad.exitCode).toBe(1);
      expect(JSON.stringify(json(bad.stdout))).toContain('UNSUBSCRIBE_MISSING');
      const http = await sb.run(['template', 'set', 'news', '--unsubscribe-url', 'http://example.org/u']);
      expect(http.exitCode).toBe(65);
      expect(http.stderr).toMatch(/https/);
      const set = await sb.run([
        'template',
        'set',
        'news',
        '--unsubscribe-url',
        'https://example.org/unsubscribe?t=%token%',
        '--unsubscribe-mailto',
        'unsubscribe@example.org',
      ]);
      expect(set.exitCode, set.stderr).toBe(0);
      expect((await sb.run(['template', 'verify', 'news'])).exitCode).toBe(0);

      const data = path.join(sb.dir, 'data.json');
      fs.writeFileSync(data, JSON.stringify({ name: 'Zoë', token: 'a b&c' }));
      server.reset();
      const sent = await sb.run(['send', '--provider', 'smtp', '--template', 'news', '--data', data, '--to', 'ann@example.net']);
      expect(sent.exitCode, sent.stderr).toBe(0);
      const m = server.messages[0];
      const head = m
        .toString('latin1')
        .split('\r\n\r\n')[0]
        .replace(/\r\n[ \t]+/g, ' ');
      expect(head).toContain('List-Unsubscribe: <mailto:unsubscribe@example.org>, <https://example.org/unsubscribe?t=a%20b%26c>');
      expect(head).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
      expect(head).toMatch(/h=[^;]*list-unsubscribe:[^;]*list-unsubscribe-post/i);
      expect(await verifyDkim(m, dns)).toMatchObject([{ result: 'pass', selector: 'news1' }]);
      // the headers are covered: removing the one-click header breaks the signature
      const stripped = Buffer.from(m.toString('latin1').replace(/List-Unsubscribe-Post: [^\r]*\r\n/, ''), 'latin1');
      expect((await verifyDkim(stripped, dns))[0].result).not.toBe('pass');
    },
  );
});

describe('test-email and DKIM', () => {
  it('says whether the test message is signed and whether it verifies against the published key', { timeout: 60_000 }, async () => {
    const sb = await box();
    const base = [
      'test-email',
      '--provider',
      'smtp',
      '--from',
      'billing@example.org',
      '--to',
      'ann@example.net',
      '--dns-server',
      dns.address,
      '--json',
    ];
    const none = await sb.run(base);
    expect(none.exitCode, none.stderr).toBe(0);
    expect(json<{ dkim: unknown }>(none.stdout).dkim).toMatchObject({ signed: false, ok: false, signatures: [] });

    await keygen(sb, 'example.org', 'te1', 'ed25519-sha256');
    server.reset();
    const good = await sb.run(base);
    expect(good.exitCode, good.stderr).toBe(0);
    expect(json<{ dkim: unknown }>(good.stdout).dkim).toMatchObject({
      signed: true,
      ok: true,
      signatures: [{ domain: 'example.org', selector: 'te1', algorithm: 'ed25519-sha256', result: 'pass' }],
    });
    // what was sent is what was checked
    expect(await verifyDkim(server.messages[0], dns)).toMatchObject([{ result: 'pass', selector: 'te1' }]);

    // a key registered but its record not published (or another key published): signed, not verified
    dns.set('te1._domainkey.example.org', undefined);
    const missing = await sb.run([...base.slice(0, -1), '--quit-after', 'auth', '--json']);
    expect(missing.exitCode, missing.stderr).toBe(0);
    const r = json<{ dkim: { signed: boolean; ok: boolean; signatures: { result: string }[] } }>(missing.stdout).dkim;
    expect(r).toMatchObject({ signed: true, ok: false });
    expect(r.signatures[0].result).not.toBe('pass');
  });
});
