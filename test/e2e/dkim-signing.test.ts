/**
 * DKIM end to end: `dkim keygen` makes and registers a key, its record goes onto a loopback DNS server,
 * and what the distributor sends to a real SMTP server (a 20 MB attachment, a non-ASCII subject, small
 * messages rendered ahead on the worker thread), what `send` sends now and what the eml provider
 * writes all verify with mailauth; one changed body byte does not. The private key is nowhere but its file.
 */
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandbox, json, type Sandbox } from '../helpers/cli.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { keyFragments, keyLeaks, keyLeaksUnder, publish, testKey, verifyDkim } from '../helpers/dkim.js';
import { keychainAvailable } from '../helpers/keychain.js';
import { dnsPublicKey } from '../../src/secrets/dkim.js';
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

/** `send --provider smtp` of a small message from the signed domain, now. */
const sendNow = (sb: Sandbox) =>
  sb.run(['send', '--provider', 'smtp', '--from', 'billing@example.org', '--to', 'ann@example.net', '--subject', 's', '--body', 'b']);

/** `test-email` of a message from the signed domain, checked against the loopback DNS server, `--json` last. */
const testEmail = () => [
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
        expect(verdicts, head.slice(0, 400)).toMatchObject([
          { result: 'pass', domain: 'example.org', selector, algo: algorithm, format: 'relaxed/relaxed' },
        ]);
        // signed once every header was final: the signature covers the Message-ID and Date that were sent
        expect(verdicts[0].signed).toEqual(expect.arrayContaining(['from', 'to', 'subject', 'date', 'message-id']));
      }
      const large = server.messages.find((m) => m.length > 20 * 1024 * 1024)!;
      expect(large).toBeDefined();
      // one body byte changed, far into the attachment
      const tampered = Buffer.from(large);
      const at = tampered.length - 4096;
      tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
      expect(await verifyDkim(tampered, dns)).toMatchObject([{ result: 'neutral', comment: 'body hash did not verify' }]);

      // the private key is in its file only: not in the database, the outbox, the output
      const fragments = keyFragments(fs.readFileSync(keyFile, 'utf8'));
      expect(keyLeaks(r.stdout + r.stderr, fragments)).toEqual([]);
      expect(keyLeaksUnder(sb.dir, fragments, [keyFile])).toEqual([]);
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
    const send = await sendNow(sb);
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

describe('dkim keygen', () => {
  it.each(['rsa-sha256', 'ed25519-sha256'])(
    '%s: prints the exact TXT record; published as printed, what is sent verifies',
    { timeout: 60_000 },
    async (algorithm) => {
      const sb = await box();
      const selector = algorithm === 'rsa-sha256' ? 'pr1' : 'pe1';
      const out = path.join(sb.dir, `${selector}.pem`);
      const gen = await sb.run([
        'dkim',
        'keygen',
        '--domain',
        'example.org',
        '--selector',
        selector,
        '--algorithm',
        algorithm,
        '--out',
        out,
      ]);
      expect(gen.exitCode, gen.stderr).toBe(0);
      expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      // the zone-file line: NAME. IN TXT "..." "...", each character-string at most 255 bytes
      const line = gen.stdout.split('\n').find((l) => l.includes(' IN TXT '));
      expect(line, gen.stdout).toMatch(new RegExp(`^${selector}\\._domainkey\\.example\\.org\\. IN TXT ("[^"]{1,255}" ?)+$`));
      const value = [...line!.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
      expect(value).toMatch(
        algorithm === 'rsa-sha256' ? /^v=DKIM1; k=rsa; p=MII[A-Za-z0-9+/=]+$/ : /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/,
      );
      dns.set(`${selector}._domainkey.example.org`, { TXT: [value] });
      server.reset();
      const sent = await sendNow(sb);
      expect(sent.exitCode, sent.stderr).toBe(0);
      expect(await verifyDkim(server.messages[0], dns)).toMatchObject([{ result: 'pass', selector, algo: algorithm }]);
    },
  );
});

describe('the private key, nowhere but its source', () => {
  it('the scan finds a key in each form it could leak in, and nothing in another key', () => {
    const { privateKey } = testKey('example.org', 's', 'rsa-sha256');
    const fragments = keyFragments(privateKey);
    const key = createPrivateKey(privateKey);
    const jwk = key.export({ format: 'jwk' });
    expect(keyLeaks(privateKey, fragments)).toContain('PEM');
    expect(keyLeaks(JSON.stringify({ key: privateKey }), fragments)).toContain('PEM');
    expect(keyLeaks(privateKey.replace(/\n/g, ''), fragments)).toContain('PEM');
    // a few lines of it, as an error message quoting the file would
    expect(keyLeaks(privateKey.split('\n').slice(10, 12).join('\n'), fragments)).toContain('PEM');
    expect(keyLeaks(key.export({ format: 'der', type: 'pkcs8' }), fragments)).toContain('binary');
    expect(keyLeaks(JSON.stringify(jwk), fragments)).toContain('base64url');
    expect(keyLeaks(Buffer.from(jwk.d!, 'base64url').toString('hex'), fragments)).toContain('hex');
    const ed = testKey('example.org', 's', 'ed25519-sha256').privateKey;
    expect(keyLeaks(ed.split('\n')[1], keyFragments(ed))).toEqual(['PEM']);
    expect(keyLeaks(JSON.stringify(createPrivateKey(ed).export({ format: 'jwk' })), keyFragments(ed))).toContain('base64url');
    // not the parts every key shares, nor the public key that DNS publishes
    const otherKey = testKey('example.org', 's', 'rsa-sha256');
    expect(keyLeaks(otherKey.privateKey, fragments)).toEqual([]);
    expect(keyLeaks(dnsPublicKey(key), fragments)).toEqual([]);
  });

  it.each(['rsa-sha256', 'ed25519-sha256'] as const)(
    '%s: not in the database, the .eml files, the output, -v transcripts, JSON or any error message',
    { timeout: 120_000 },
    async (algorithm) => {
      const sb = await box();
      const outputs: string[] = [];
      const run = async (args: string[], options?: Parameters<Sandbox['run']>[1]) => {
        const r = await sb.run(args, options);
        outputs.push(`$ ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
        return r;
      };
      const tag = algorithm === 'rsa-sha256' ? 'r' : 'e';
      const writeKey = (name: string, pem: string, mode = 0o600) => {
        const file = path.join(sb.dir, name);
        fs.writeFileSync(file, pem, { mode });
        fs.chmodSync(file, mode);
        return file;
      };

      // a key file made by keygen, a key command, the keychain (stdin)
      const fileKey = path.join(sb.dir, 'keygen.pem');
      const gen = await run([
        'dkim',
        'keygen',
        '--domain',
        'example.org',
        '--selector',
        `${tag}file`,
        '--algorithm',
        algorithm,
        '--out',
        fileKey,
        '--json',
      ]);
      expect(gen.exitCode, gen.stderr).toBe(0);
      const { dnsName, dnsValue } = json<{ dnsName: string; dnsValue: string }>(gen.stdout);
      dns.set(dnsName, { TXT: [dnsValue] });
      const cmdKey = testKey('example.org', `${tag}cmd`, algorithm);
      const cmdFile = writeKey('command.pem', cmdKey.privateKey);
      const add = await run([
        'dkim',
        'add',
        '--domain',
        'example.org',
        '--selector',
        `${tag}cmd`,
        '--key-command',
        `cat '${cmdFile}'`,
        '--json',
      ]);
      expect(add.exitCode, add.stderr).toBe(0);
      publish(dns, cmdKey);
      const kcKey = testKey('kc.example.org', `${tag}kc`, algorithm);
      const kc = await run(['dkim', 'add', '--domain', 'kc.example.org', '--selector', `${tag}kc`, '--stdin', '--json', '-v'], {
        input: kcKey.privateKey,
      });
      if (await keychainAvailable()) expect(kc.exitCode, kc.stderr).toBe(0);
      else {
        expect(kc.exitCode).toBe(78);
        expect(json<{ error: { code: string } }>(kc.stderr).error.code).toBe('KEYCHAIN_UNAVAILABLE');
      }
      const sources = [fileKey, cmdFile];
      // the domain exists, so diagnose sender goes on to check the registered keys
      dns.set('example.org', { MX: [{ exchange: 'mx.example.org', priority: 10 }], TXT: ['v=spf1 -all'] });
      const keys = [fs.readFileSync(fileKey, 'utf8'), cmdKey.privateKey, kcKey.privateKey];

      try {
        // everything that shows, lists or writes what was sent
        for (const args of [
          ['dkim', 'list'],
          ['dkim', 'list', '--json'],
          ['params', 'list', '--json'],
          ['params', 'export'],
        ])
          expect((await run(args)).exitCode).toBe(0);
        server.reset();
        const base = ['--from', 'Billing <billing@example.org>', '--to', 'ann@example.net', '--subject', SUBJECT, '--body', 'body'];
        expect((await run(['send', '--queue', ...base])).exitCode).toBe(0);
        expect((await run(['send', '--queue', ...base, '--from', 'x@kc.example.org'])).exitCode).toBe(0);
        expect((await run(['queue', 'run', '-v', '--json'])).exitCode).toBe(0);
        expect((await run(['send', '--provider', 'smtp', '-v', '--json', ...base])).exitCode).toBe(0);
        const eml = await run(['send', '--provider', 'eml', '--json', ...base]);
        expect(eml.exitCode, eml.stderr).toBe(0);
        expect(await verifyDkim(fs.readFileSync(json<{ file: string }>(eml.stdout).file), dns)).toMatchObject([
          { result: 'pass' },
          { result: 'pass' },
        ]);
        const te = await run([...testEmail(), '-v']);
        expect(te.exitCode, te.stderr).toBe(0);
        expect(json<{ dkim: { ok: boolean } }>(te.stdout).dkim.ok).toBe(true);
        for (const args of [
          ['history', '--json'],
          ['history'],
          ['history', 'show', '1', '--json'],
          ['queue', 'list', '--status', 'failed', '--json'],
          ['queue', 'status', '--json'],
          ['diagnose', 'sender', 'example.org', '--dns-server', dns.address, '--json'],
          ['diagnose', 'sender', 'example.org', '--dns-server', dns.address],
        ])
          await run(args);
        expect(server.messages.length).toBeGreaterThanOrEqual(3);

        // errors around a key: each says what is wrong without showing it
        fs.chmodSync(fileKey, 0o644);
        const open = await run(['send', '--provider', 'smtp', '-v', '--json', ...base]);
        expect(open.exitCode).toBe(78);
        fs.chmodSync(fileKey, 0o600);
        const other = testKey('example.org', 'x', algorithm).privateKey;
        keys.push(other);
        writeKey('command.pem', other); // the command now prints another key than the registered one
        expect((await run(['send', '--provider', 'smtp', '-v', ...base])).exitCode).toBe(78);
        const lines = cmdKey.privateKey.trimEnd().split('\n');
        writeKey('command.pem', lines.slice(0, Math.ceil(lines.length / 2)).join('\n') + '\n'); // cut short: not a key
        expect((await run(['send', '--provider', 'smtp', '-v', '--json', ...base])).exitCode).toBe(78);
        writeKey('command.pem', cmdKey.privateKey);
        const failing = await run([
          'dkim',
          'add',
          '--domain',
          'example.org',
          '--selector',
          'fails',
          '--key-command',
          `cat '${cmdFile}'; exit 3`,
          '-v',
        ]);
        expect(failing.exitCode).not.toBe(0);
        const readable = testKey('example.org', 'ro', algorithm).privateKey;
        keys.push(readable);
        sources.push(writeKey('readable.pem', readable, 0o644));
        expect(
          (await run(['dkim', 'add', '--domain', 'example.org', '--selector', 'ro', '--key-file', sources.at(-1)!, '-v', '--json']))
            .exitCode,
        ).toBe(65);
        const bad = await run(['dkim', 'add', '--domain', 'not a domain', '--selector', 's', '--stdin', '-v'], { input: kcKey.privateKey });
        expect(bad.exitCode).not.toBe(0);
        // a key file given by mistake where a data file goes: not JSON, never echoed
        for (const args of [
          ['params', 'import', fileKey, '-v'],
          ['queue', 'import', fileKey, '-v'],
        ])
          expect((await run(args)).exitCode).toBe(65);

        for (const pem of keys) {
          const fragments = keyFragments(pem);
          expect(
            keyLeaks(outputs.join('\n'), fragments),
            outputs.find((o) => keyLeaks(o, fragments).length),
          ).toEqual([]);
          expect(keyLeaksUnder(sb.dir, fragments, sources)).toEqual([]);
          for (const m of server.messages) expect(keyLeaks(m, fragments)).toEqual([]);
        }
      } finally {
        await sb.run(['dkim', 'remove', '--domain', 'kc.example.org']);
      }
    },
  );
});

describe('test-email and DKIM', () => {
  it('says whether the test message is signed and whether it verifies against the published key', { timeout: 60_000 }, async () => {
    const sb = await box();
    const base = testEmail();
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
