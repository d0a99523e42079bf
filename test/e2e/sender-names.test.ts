import fs from 'node:fs';
import path from 'node:path';
import { simpleParser, type AddressObject } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const PASSWORD = 'sender-names-pw';

let server: TestSmtpServer;
let sb: Sandbox;

async function ok(args: string[]): Promise<string> {
  const r = await sb.run(args);
  expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

function write(name: string, text: string): string {
  const p = path.join(sb.dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const fromOf = (a: AddressObject | AddressObject[] | undefined) => (Array.isArray(a) ? a[0] : a)?.value[0];

/** The raw header block of a message, unfolded. */
const headerBlock = (raw: Buffer) =>
  raw
    .toString('latin1')
    .split(/\r?\n\r?\n/)[0]
    .replace(/\r?\n[ \t]+/g, ' ');

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
  sb = sandbox('sysemail-sender-names-');
  sb.env.SYSEMAIL_SMTP_PASSWORD = PASSWORD;
  await ok([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(server.port),
    'smtp.security',
    'starttls',
    'smtp.caFile',
    testPki().caFile,
    'smtp.username',
    'app',
    'eml.outputDir',
    path.join(sb.dir, 'outbox'),
  ]);
});

afterAll(async () => {
  await server.close();
  sb.cleanup();
});

describe('senders with a display name', () => {
  it(
    'sender.default, template --sender and users --sender-email take one mailbox, name included, and refuse anything else',
    { timeout: 60_000 },
    async () => {
      await ok(['params', 'set', 'sender.default', '"Ops, Team" <ops@example.com>']);
      expect(json(await ok(['params', 'get', 'sender.default', '--json']))).toMatchObject({ value: '"Ops, Team" <ops@example.com>' });
      await ok(['params', 'set', 'sender.default', 'Équipe Ops <ops@example.com>']);

      // every refusal is spelled out in test/unit/sender.test.ts; here, that each command applies it
      const bad = [
        'Ops Team', // a name without an address
        'Ops, Team <ops@example.com>', // the comma would split it in two
        'Ops\r\nBcc: spy@example.net <ops@example.com>',
      ];
      for (const value of bad) {
        for (const args of [
          ['params', 'set', 'sender.default', value],
          ['template', 'add', 't-bad', '--subject', 's', '--body-file', write('b.txt', 'body'), '--sender', value],
          ['users', 'add', 'u-bad', '--email', 'u@example.com', '--sender-email', value],
        ]) {
          const r = await sb.run([...args, '--json']);
          expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(65);
          const err = json<{ error: { message: string } }>(r.stderr).error;
          // (how `params set` shows a refused value in general is the parameters' own business)
          if (args[0] !== 'params') expect(err.message).not.toMatch(/[\r\n]/);
        }
      }
      // nothing of the refused values was kept
      expect(json(await ok(['params', 'get', 'sender.default', '--json']))).toMatchObject({ value: 'Équipe Ops <ops@example.com>' });
      expect((await sb.run(['template', 'show', 't-bad'])).exitCode).toBe(65);
      expect((await sb.run(['users', 'show', 'u-bad'])).exitCode).toBe(65);

      // diagnose takes it as the sender it is
      const diag = await sb.run(['diagnose', '--offline', '--json']);
      const checks = json<{ checks: { id: string; status: string; detail: string }[] }>(diag.stdout).checks;
      expect(checks.find((c) => c.id === 'config.sender')).toMatchObject({ status: 'pass' });

      // the Graph mailbox is a bare address: it names the account in the request URL
      expect((await sb.run(['params', 'set', 'exchange.mailbox', 'Ops <ops@example.com>'])).exitCode).toBe(65);
    },
  );

  it('the From header carries the name encoded, the envelope and the Message-ID use the bare address', { timeout: 60_000 }, async () => {
    await ok(['params', 'set', 'sender.default', 'Équipe Ops <ops@example.com>']);
    await ok([
      'template',
      'add',
      'welcome',
      '--subject',
      'Welcome %name%',
      '--body-file',
      write('w.txt', 'Hello %name%'),
      '--sender',
      '"Ops, Team" <team@example.com>',
    ]);
    await ok(['users', 'add', 'ada', '--email', 'ada@example.com', '--name', 'Ada Lovelace']);
    await ok(['users', 'add', 'bob', '--email', 'bob@example.com', '--sender-email', 'Bob Builder <builder@example.com>']);
    server.reset();

    await ok(['send', '--queue', '--to', 'r1@example.com', '--subject', 'by default', '--body', 'b']);
    await ok(['notify', '--template', 'welcome', '--user', 'ada', '--data', write('d.json', '{"name":"Ada"}')]);
    await ok(['send', '--queue', '--user', 'bob', '--to', 'r2@example.com', '--subject', 'as bob', '--body', 'b']);
    const cycles = (await ok(['queue', 'run', '--json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sent: number });
    expect(cycles.reduce((n, c) => n + c.sent, 0)).toBe(3);
    expect(server.messages).toHaveLength(3);

    const bySubject = new Map<string, { raw: Buffer; envelope: { from: string } }>();
    for (let i = 0; i < server.messages.length; i++) {
      const mail = await simpleParser(server.messages[i]);
      bySubject.set(mail.subject ?? '', { raw: server.messages[i], envelope: server.envelopes[i] });
    }
    const expected: [string, string, string][] = [
      ['by default', 'Équipe Ops', 'ops@example.com'],
      ['Welcome Ada', 'Ops, Team', 'team@example.com'],
      ['as bob', 'Bob Builder', 'builder@example.com'],
    ];
    for (const [subject, name, address] of expected) {
      const m = bySubject.get(subject)!;
      expect(m, subject).toBeDefined();
      expect(m.envelope.from).toBe(address);
      const mail = await simpleParser(m.raw);
      expect(fromOf(mail.from)).toEqual({ name, address });
      const head = headerBlock(m.raw);
      // headers stay 7-bit: a non-ASCII name travels as an encoded word
      expect(/[^\x00-\x7f]/.test(head)).toBe(false);
      expect(mail.messageId).toMatch(new RegExp(`@${address.split('@')[1].replace('.', '\\.')}>?$`));
    }

    const eml = json<{ file: string }>(
      await ok(['send', '--provider', 'eml', '--to', 'r3@example.com', '--subject', 'to a file', '--body', 'b', '--json']),
    );
    const raw = fs.readFileSync(eml.file);
    const parsed = await simpleParser(raw);
    expect(fromOf(parsed.from)).toEqual({ name: 'Équipe Ops', address: 'ops@example.com' });
    expect(/[^\x00-\x7f]/.test(headerBlock(raw))).toBe(false);
    expect(parsed.messageId).toMatch(/@example\.com>?$/);
  });
});
