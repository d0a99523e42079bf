import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const stderr = (r: { stderr?: unknown }) => String((r.stderr as string | undefined) ?? '');
const stdout = (r: { stdout?: unknown }) => String((r.stdout as string | undefined) ?? '');
const PASSWORD = 'notify-e2e-pw';

let server: TestSmtpServer;
let sb: Sandbox;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await sb.run(args, input === undefined ? {} : { input });
  expect(r.exitCode, `${args.join(' ')}: ${stderr(r)}`).toBe(0);
  return stdout(r);
}

function write(name: string, text: string): string {
  const p = path.join(sb.dir, name);
  fs.writeFileSync(p, text);
  return p;
}

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
  sb = sandbox('sysemail-notify-e2e-');
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
    'batch.provider',
    'smtp',
  ]);
  await ok([
    'template',
    'add',
    'approval',
    '--subject',
    'Approve %doc%',
    '--body-file',
    write('sys.txt', 'system wording %doc%'),
    '--sender',
    'workflow@example.com',
  ]);
  await ok([
    'template',
    'add',
    'approval',
    '--org',
    'usmf',
    '--subject',
    '[USMF] %doc% awaits %approver.name%',
    '--html-file',
    write('usmf.html', '<p>Dear %approver.name%, <b>%doc%</b> (%amount%) waits. 100%% sure.</p>'),
    '--text-file',
    write('usmf.txt', 'Dear %approver.name%, %doc% (%amount%) waits. 100%% sure.'),
    '--sender',
    'usmf-workflow@example.com',
  ]);
  await ok(['users', 'add', 'ada', '--email', 'ada@example.com', '--name', 'Ada Lovelace', '--sender-email', 'finance@example.com']);
  await ok(['users', 'add', 'bob', '--email', 'bob@example.com', '--notify-email', 'no']);
});

afterAll(async () => {
  await server.close();
  sb.cleanup();
});

describe('notify → queue run → a real SMTP server', () => {
  it("delivers the organisation's template rendered for the user, HTML-escaped, From the template's sender", async () => {
    server.reset();
    const data = write('data.json', JSON.stringify({ doc: 'PO-1042', amount: '€ 1,200 & tax', approver: { name: 'Ada <AL>' } }));
    const queued = json<{ id: number; status: string }>(
      await ok(['notify', '--template', 'approval', '--user', 'ada', '--org', 'usmf', '--data', data, '--json']),
    );
    expect(queued.status).toBe('queued');
    // bob opted out: nothing is queued for him, so the run below delivers exactly one message
    expect(json(await ok(['notify', '--template', 'approval', '--user', 'bob', '--org', 'usmf', '--data', data, '--json']))).toMatchObject({
      skipped: true,
    });
    expect(server.messages).toHaveLength(0);

    const cycles = (await ok(['queue', 'run', '--json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sent: number; failed: number });
    expect(cycles.reduce((n, c) => n + c.sent, 0)).toBe(1);
    expect(server.messages).toHaveLength(1);
    expect(server.envelopes[0]).toEqual({ from: 'usmf-workflow@example.com', to: ['ada@example.com'] });

    const mail = await simpleParser(server.messages[0]);
    expect(mail.subject).toBe('[USMF] PO-1042 awaits Ada <AL>');
    expect(mail.from?.value[0]).toMatchObject({ address: 'usmf-workflow@example.com' });
    const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
    expect(to?.value[0]).toMatchObject({ address: 'ada@example.com', name: 'Ada Lovelace' });
    expect(mail.html).toContain('<p>Dear Ada &lt;AL&gt;, <b>PO-1042</b> (€ 1,200 &amp; tax) waits. 100% sure.</p>');
    expect(mail.text?.trim()).toBe('Dear Ada <AL>, PO-1042 (€ 1,200 & tax) waits. 100% sure.');

    const status = json<{ counts: Record<string, number> }>(await ok(['queue', 'status', '--json']));
    expect(status.counts).toMatchObject({ sent: 1, pending: 0 });
  });

  it('--now sends at once through the batch provider', async () => {
    server.reset();
    const r = json<{ status: string; provider: string }>(
      await ok(['notify', '--template', 'approval', '--user', 'ada', '--data', '-', '--now', '--json'], '{"doc":"PO-7"}'),
    );
    expect(r).toMatchObject({ status: 'sent', provider: 'smtp' });
    expect(server.messages).toHaveLength(1);
    const mail = await simpleParser(server.messages[0]);
    expect(mail.subject).toBe('Approve PO-7');
    expect(mail.text?.trim()).toBe('system wording PO-7');
  });

  it('send --template renders for arbitrary recipients', async () => {
    server.reset();
    const out = json<{ status: string }>(
      await ok([
        'send',
        '--to',
        'carol@example.com',
        '--template',
        'approval',
        '--org',
        'usmf',
        '--data',
        write('c.json', '{"doc":"PO-9","amount":"1","approver":{"name":"Carol"}}'),
        '--provider',
        'smtp',
        '--json',
      ]),
    );
    expect(out.status).toBe('sent');
    const mail = await simpleParser(server.messages[0]);
    expect(mail.subject).toBe('[USMF] PO-9 awaits Carol');
    expect(mail.from?.value[0].address).toBe('usmf-workflow@example.com');
  });
});
