/**
 * The built binary against servers that misbehave the way real ones do under load or misconfiguration:
 * a server that never finishes its EHLO reply, one that refuses STARTTLS, a Graph that fails with 500.
 * Asserts on exit codes and on what the database says about each message.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startGraphServer } from '../helpers/graph-server.js';
import { startScriptedSmtp } from '../helpers/scripted-smtp.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

interface QueueRow {
  id: number;
  status: string;
  attempts: number;
  reason: string | null;
  lastError: { code: string | null; response: string | null } | null;
}

const sandboxes: Sandbox[] = [];
const servers: { close(): Promise<void> }[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const sb of sandboxes) sb.cleanup();
});

async function box(params: string[], env: Record<string, string> = {}): Promise<Sandbox> {
  const sb = sandbox('sysemail-faults-e2e-');
  sandboxes.push(sb);
  Object.assign(sb.env, env);
  const set = await sb.run(['params', 'set', ...params]);
  expect(set.exitCode, set.stderr).toBe(0);
  return sb;
}

async function enqueue(sb: Sandbox, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await sb.run([
      'send',
      '--queue',
      '--to',
      `r${i}@example.com`,
      '--from',
      'app@example.com',
      '--subject',
      `m${i}`,
      '--body',
      `message ${i}`,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
  }
}

async function rows(sb: Sandbox): Promise<QueueRow[]> {
  const r = await sb.run(['queue', 'list', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return json<QueueRow[]>(r.stdout);
}

describe('queue run against a server that never finishes its session', () => {
  it(
    'a trickled endless EHLO reply: the run ends, the message deferred with the session deadline as reason',
    { timeout: 60_000 },
    async () => {
      const srv = await startScriptedSmtp({ ehlo: 'trickle', trickleMs: 300 });
      servers.push(srv);
      const sb = await box([
        'smtp.host',
        '127.0.0.1',
        'smtp.port',
        String(srv.port),
        'smtp.authRequired',
        'false',
        'smtp.sessionTimeoutSec',
        '5',
      ]);
      await enqueue(sb, 1);
      // without the deadline this run never ends; the harness would kill it after 45 s
      const run = await sb.run(['queue', 'run', '--json'], { timeout: 45_000 });
      expect(run.signal).toBeUndefined();
      expect(run.exitCode, run.stderr).toBe(0);
      expect(json(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ sent: 0, deferred: 1, failed: 0 });
      const [m] = await rows(sb);
      expect(m).toMatchObject({ status: 'deferred', attempts: 1 });
      expect(m.lastError?.code).toBe('SESSION_TIMEOUT');
      expect(m.lastError?.response).toContain('smtp.sessionTimeoutSec');
    },
  );
});

describe('queue run against a server that stalls every session', () => {
  it(
    'once every connection ran past its deadline in a row, the run stops with 75 and gives the rest back untried',
    { timeout: 60_000 },
    async () => {
      const srv = await startScriptedSmtp({ ehlo: 'trickle', trickleMs: 300 });
      servers.push(srv);
      const sb = await box([
        'smtp.host',
        '127.0.0.1',
        'smtp.port',
        String(srv.port),
        'smtp.authRequired',
        'false',
        'smtp.sessionTimeoutSec',
        '5',
      ]);
      await enqueue(sb, 6);
      // without the stop: three rounds of 5 s, every message deferred, exit 0
      const run = await sb.run(['queue', 'run', '--json', '--concurrency', '2'], { timeout: 45_000 });
      expect(run.exitCode, run.stderr).toBe(75);
      expect(run.stderr).toContain('smtp.sessionTimeoutSec');
      const all = await rows(sb);
      // the two that ran out in a row, and at most one that a connection had taken up meanwhile
      const deferred = all.filter((m) => m.status === 'deferred').length;
      expect(deferred).toBeGreaterThanOrEqual(2);
      expect(deferred).toBeLessThanOrEqual(3);
      for (const m of all.filter((x) => x.status !== 'deferred')) expect(m).toMatchObject({ status: 'pending', attempts: 0 });
    },
  );
});

describe('queue run against a server without STARTTLS', () => {
  it(
    '454 "TLS not available" stops the run with 78 naming STARTTLS and smtp.security; every message back untouched',
    { timeout: 60_000 },
    async () => {
      const srv = await startScriptedSmtp({});
      servers.push(srv);
      const sb = await box([
        'smtp.host',
        '127.0.0.1',
        'smtp.port',
        String(srv.port),
        'smtp.authRequired',
        'false',
        'smtp.security',
        'starttls',
      ]);
      await enqueue(sb, 3);
      const run = await sb.run(['queue', 'run']);
      expect(run.exitCode, run.stderr).toBe(78);
      expect(run.stderr).toContain('STARTTLS');
      expect(run.stderr).toContain('smtp.security');
      expect(run.stderr).not.toMatch(/\n\s+at /);
      const all = await rows(sb);
      expect(all).toHaveLength(3);
      for (const m of all) expect(m).toMatchObject({ status: 'pending', attempts: 0 });
      expect(srv.lines.filter((l) => /^MAIL/i.test(l))).toHaveLength(0);
    },
  );
});

describe('queue run against a failing Microsoft Graph', () => {
  it('500 stops the run with 75 like 503: one message deferred, the rest back untouched', { timeout: 60_000 }, async () => {
    const graph = await startGraphServer({ clientId: 'app', clientSecret: 'graph-secret', mailboxes: ['app@example.com'] });
    servers.push(graph);
    for (let i = 0; i < 5; i++)
      graph.script('sendMail', { status: 500, code: 'ErrorInternalServerError', message: 'An internal server error occurred.' });
    const sb = await box(
      [
        'batch.provider',
        'exchange',
        'exchange.tokenUrl',
        graph.tokenUrl,
        'exchange.graphUrl',
        graph.graphUrl,
        'exchange.clientId',
        'app',
        'exchange.mailbox',
        'app@example.com',
      ],
      { SYSEMAIL_EXCHANGE_CLIENT_SECRET: 'graph-secret' },
    );
    await enqueue(sb, 5);
    const run = await sb.run(['queue', 'run', '--concurrency', '1']);
    expect(run.exitCode, run.stderr).toBe(75);
    const sendMails = graph.requests.filter((r) => r.path.endsWith('/sendMail'));
    expect(sendMails).toHaveLength(1);
    const all = await rows(sb);
    expect(all.filter((m) => m.status === 'deferred')).toHaveLength(1);
    expect(all.filter((m) => m.status === 'pending' && m.attempts === 0)).toHaveLength(4);
  });
});

describe('-v shows the SMTP conversation, swaks-style', () => {
  const PASSWORD = 'tr4nscript-s3cret-pw';
  const BODY = 'the quarterly figures are attached';

  async function setUp(authMethods: string[]): Promise<{ sb: Sandbox; srv: TestSmtpServer }> {
    const srv = await startSmtpServer({ users: { app: PASSWORD }, authMethods });
    servers.push(srv);
    const sb = await box(
      ['smtp.host', '127.0.0.1', 'smtp.port', String(srv.port), 'smtp.caFile', testPki().caFile, 'smtp.username', 'app'],
      { SYSEMAIL_SMTP_PASSWORD: PASSWORD },
    );
    return { sb, srv };
  }

  function expectCleanTranscript(stderr: string): void {
    expect(stderr).toMatch(/^-> EHLO /m);
    expect(stderr).toMatch(/^<- 220 /m);
    expect(stderr).toMatch(/^-> STARTTLS$/m);
    expect(stderr).toMatch(/^~> EHLO /m);
    expect(stderr).toMatch(/^<~ 235 /m);
    expect(stderr).not.toContain(PASSWORD);
    expect(stderr).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(stderr).not.toContain(Buffer.from(`\0app\0${PASSWORD}`).toString('base64'));
    expect(stderr).not.toMatch(/secret \*\//);
    expect(stderr).not.toMatch(/^\s+at .*\(.*:\d+:\d+\)$/m);
    expect(stderr).not.toMatch(/\[object Object\]|\{\s*"?tnx/);
  }

  it('test-email -v: AUTH PLAIN shown as ****, every arrow in place', { timeout: 30_000 }, async () => {
    const { sb } = await setUp(['PLAIN']);
    const r = await sb.run(['test-email', '--quit-after', 'auth', '-v']);
    expect(r.exitCode, r.stderr).toBe(0);
    expectCleanTranscript(r.stderr);
    expect(r.stderr).toMatch(/^~> AUTH PLAIN \*\*\*\*$/m);
  });

  it('send -v with AUTH LOGIN: the continuation lines are ****, the body is a line count', { timeout: 30_000 }, async () => {
    const { sb, srv } = await setUp(['LOGIN']);
    const r = await sb.run([
      'send',
      '--provider',
      'smtp',
      '--to',
      'ann@example.com',
      '--from',
      'app@example.com',
      '--subject',
      'Q3',
      '--body',
      `${BODY}\nsecond line`,
      '-v',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(srv.messages).toHaveLength(1);
    expectCleanTranscript(r.stderr);
    expect(r.stderr).toMatch(/^~> AUTH LOGIN$/m);
    expect(r.stderr).toMatch(/^~> \*\*\*\*$/m);
    expect(r.stderr).toMatch(/^~> DATA$/m);
    expect(r.stderr).toMatch(/^~> \[message body: \d+ lines, \d+ bytes, not shown\]$/m);
    expect(r.stderr).not.toContain(BODY);
    expect(r.stderr).not.toMatch(/^~> Subject:/m);
  });

  it('queue run -v: the conversation of the distributor, no password, no body', { timeout: 30_000 }, async () => {
    const { sb, srv } = await setUp(['PLAIN']);
    const q = await sb.run(['send', '--queue', '--to', 'ann@example.com', '--from', 'app@example.com', '--subject', 'Q3', '--body', BODY]);
    expect(q.exitCode, q.stderr).toBe(0);
    const r = await sb.run(['queue', 'run', '-v']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(srv.messages).toHaveLength(1);
    expectCleanTranscript(r.stderr);
    expect(r.stderr).toMatch(/^~> \[message body: /m);
    expect(r.stderr).not.toContain(BODY);
  });

  it('a refused sign-in with -v: the conversation and the causes, never a JavaScript stack', { timeout: 30_000 }, async () => {
    const { sb } = await setUp(['PLAIN']);
    const r = await sb.run(['test-email', '--quit-after', 'auth', '-v'], { env: { SYSEMAIL_SMTP_PASSWORD: 'wrong-pw-value' } });
    expect(r.exitCode).toBe(77);
    expect(r.stderr).toMatch(/^~> AUTH PLAIN \*\*\*\*$/m);
    expect(r.stderr).toMatch(/^<~ 535 /m);
    expect(r.stderr).not.toContain('wrong-pw-value');
    expect(r.stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
  });

  it('without -v nothing of the conversation is printed', { timeout: 30_000 }, async () => {
    const { sb } = await setUp(['PLAIN']);
    const r = await sb.run(['test-email', '--quit-after', 'auth']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^-> /m);
  });
});
