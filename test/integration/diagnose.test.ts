/**
 * `diagnose` against real servers set up wrong in each way the checklist detects: a real smtp-server
 * (STARTTLS off, AUTH only after STARTTLS, scripted refusals, untrusted certificates, implicit TLS),
 * the local Graph/token server, and real SQLite files for the distributor's health.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecklist, type Check, type ChecklistOptions } from '../../src/app/diagnose/index.js';
import { diagnoseHistory } from '../../src/app/diagnose/error.js';
import { CRON_LINE } from '../../src/app/diagnose/health.js';
import { Store } from '../../src/store/index.js';
import { markFailed, recordAttempt } from '../helpers/store-fixtures.js';
import { fixedClock } from '../helpers/fixed-clock.js';
import { startGraphServer, type TestGraphServer } from '../helpers/graph-server.js';
import { settingsOf } from '../helpers/settings.js';
import { startSmtpServer, type TestSmtpServer, type TestSmtpServerOptions } from '../helpers/smtp-server.js';
import { startScriptedSmtp, type ScriptedSmtp, type ScriptedSmtpOptions } from '../helpers/scripted-smtp.js';
import { testPki } from '../helpers/tls.js';

const USER = 'ann@example.com';
const PASSWORD = 'correct horse';
const TIMEOUTS = { dnsMs: 2_000, tcpMs: 2_000, connectionMs: 3_000, greetingMs: 3_000, socketMs: 5_000, probeMs: 1_500 };

let dir: string;
let dbCount = 0;
const servers: { close(): Promise<void> }[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-diagnose-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function openStore(): Promise<Store> {
  const store = await Store.open(path.join(dir, `db-${++dbCount}.sqlite`));
  if (!store) throw new Error('store not opened');
  return store;
}

async function scripted(options: ScriptedSmtpOptions): Promise<ScriptedSmtp> {
  const srv = await startScriptedSmtp(options);
  servers.push(srv);
  return srv;
}

async function smtp(options: TestSmtpServerOptions): Promise<TestSmtpServer> {
  const srv = await startSmtpServer({ users: { [USER]: PASSWORD }, ...options });
  servers.push(srv);
  return srv;
}

type Values = Record<string, string | number | boolean>;

function smtpSettings(port: number, extra: Values = {}): Values {
  return {
    'smtp.host': '127.0.0.1',
    'smtp.port': port,
    'smtp.security': 'starttls',
    'smtp.username': USER,
    'smtp.caFile': testPki().caFile,
    'sender.default': USER,
    ...extra,
  };
}

async function checklist(values: Values, o: Partial<ChecklistOptions> & { env?: NodeJS.ProcessEnv } = {}) {
  const store = await openStore();
  try {
    return await runChecklist({
      store,
      settings: settingsOf(values),
      secrets: { dbId: store.id, env: o.env ?? { SYSEMAIL_SMTP_PASSWORD: PASSWORD, SYSEMAIL_EXCHANGE_CLIENT_SECRET: 'test-secret' } },
      timeouts: TIMEOUTS,
      ...o,
    });
  } finally {
    await store.close();
  }
}

function check(checks: Check[], id: string): Check {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${checks.map((x) => x.id).join(', ')}`);
  return c;
}

function statuses(checks: Check[], ids: string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, check(checks, id).status]));
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('diagnose against a real SMTP server', () => {
  it('passes every step of a correct setup, checks the recipient with RCPT and never sends DATA', async () => {
    const srv = await smtp({ authHiddenBeforeStartTls: true });
    const r = await checklist(smtpSettings(srv.port), { to: 'bob@example.com' });
    expect(statuses(r.checks, ['config.server', 'secret', 'dns', 'tcp', 'greeting', 'tls', 'ehlo', 'auth', 'sender', 'recipient'])).toEqual(
      {
        'config.server': 'pass',
        secret: 'pass',
        dns: 'pass',
        tcp: 'pass',
        greeting: 'pass',
        tls: 'pass',
        ehlo: 'pass',
        auth: 'pass',
        sender: 'pass',
        recipient: 'pass',
      },
    );
    expect(r.ok).toBe(true);
    expect(check(r.checks, 'ehlo').detail).toContain('AUTH offered only after STARTTLS');
    expect(check(r.checks, 'tls').detail).toMatch(/TLSv1\.[23].*localhost.*sysemail test CA.*\d+ days/);
    expect(srv.commands).toContain('RCPT');
    expect(srv.commands).toContain('RSET');
    expect(srv.commands).not.toContain('DATA');
    expect(srv.messages).toHaveLength(0);
    expect(JSON.stringify(r)).not.toContain(PASSWORD);
  });

  it('without --to stops after MAIL FROM and says how to check a recipient', async () => {
    const srv = await smtp({});
    const r = await checklist(smtpSettings(srv.port));
    expect(check(r.checks, 'sender').status).toBe('pass');
    expect(check(r.checks, 'recipient')).toMatchObject({ status: 'skip' });
    expect(srv.commands).not.toContain('RCPT');
  });

  it('no STARTTLS on the port: the TLS step fails before any password is sent', async () => {
    const srv = await smtp({ starttls: 'off' });
    const r = await checklist(smtpSettings(srv.port));
    expect(check(r.checks, 'tls')).toMatchObject({ status: 'fail', diagnosis: 'STARTTLS_UNAVAILABLE' });
    expect(check(r.checks, 'tls').fix).toContain('smtp.security');
    expect(check(r.checks, 'auth').status).toBe('skip');
    expect(srv.auths).toHaveLength(0);
    expect(r.ok).toBe(false);
  });

  it('STARTTLS answered 454 "TLS not available": STARTTLS_UNAVAILABLE, not TLS_MODE_MISMATCH', async () => {
    const srv = await scripted({});
    const r = await checklist(smtpSettings(srv.port));
    expect(check(r.checks, 'tls')).toMatchObject({ status: 'fail', diagnosis: 'STARTTLS_UNAVAILABLE' });
    expect(check(r.checks, 'tls').detail).toContain('454 4.7.0 TLS not available');
    expect(srv.lines.some((l) => /^AUTH/i.test(l))).toBe(false);
  });

  it('a server that accepts the connection and never greets: CONNECTION_TIMEOUT, not TLS_MODE_MISMATCH', async () => {
    const srv = await scripted({ greeting: null });
    const r = await checklist(smtpSettings(srv.port));
    expect(check(r.checks, 'tcp').status).toBe('pass');
    expect(check(r.checks, 'greeting')).toMatchObject({ status: 'fail', diagnosis: 'CONNECTION_TIMEOUT' });
  });

  it('a server trickling an endless EHLO reply: the session deadline ends the check', async () => {
    const srv = await scripted({ ehlo: 'trickle' });
    const r = await checklist(smtpSettings(srv.port), { timeouts: { ...TIMEOUTS, sessionMs: 2_000 } });
    const failed = r.checks.find((c) => c.status === 'fail');
    expect(failed).toMatchObject({ diagnosis: 'CONNECTION_TIMEOUT' });
    expect(failed?.detail).toContain('smtp.sessionTimeoutSec');
  });

  it('AUTH offered only after STARTTLS while smtp.security is none: AUTH_NOT_SUPPORTED', async () => {
    const srv = await smtp({ authHiddenBeforeStartTls: true });
    const r = await checklist(smtpSettings(srv.port, { 'smtp.security': 'none' }));
    const ehlo = check(r.checks, 'ehlo');
    expect(ehlo).toMatchObject({ status: 'fail', diagnosis: 'AUTH_NOT_SUPPORTED' });
    expect(ehlo.fix).toContain('smtp.security starttls');
    expect(check(r.checks, 'auth')).toMatchObject({ status: 'fail', diagnosis: 'AUTH_NOT_SUPPORTED' });
  });

  it('AUTH refused until STARTTLS (538) while smtp.security is none: STARTTLS_REQUIRED', async () => {
    const srv = await smtp({});
    const r = await checklist(smtpSettings(srv.port, { 'smtp.security': 'none' }));
    expect(check(r.checks, 'auth')).toMatchObject({ status: 'fail', diagnosis: 'STARTTLS_REQUIRED' });
  });

  it('a wrong password: BAD_CREDENTIALS at the sign-in', async () => {
    const srv = await smtp({});
    const r = await checklist(smtpSettings(srv.port), { env: { SYSEMAIL_SMTP_PASSWORD: 'wrong' } });
    expect(check(r.checks, 'ehlo').status).toBe('pass');
    expect(check(r.checks, 'auth')).toMatchObject({ status: 'fail', diagnosis: 'BAD_CREDENTIALS' });
    expect(check(r.checks, 'sender').status).toBe('skip');
  });

  it('basic authentication switched off: BASIC_AUTH_DISABLED with the catalogue fix (OAuth2)', async () => {
    const srv = await smtp({ refuse: { auth: '535 5.7.139 Authentication unsuccessful, basic authentication is disabled.' } });
    const r = await checklist(smtpSettings(srv.port));
    const auth = check(r.checks, 'auth');
    expect(auth).toMatchObject({ status: 'fail', diagnosis: 'BASIC_AUTH_DISABLED' });
    expect(auth.fix).toContain('smtp.authMethod oauth2');
  });

  it('Send As refused at MAIL FROM: SEND_AS_DENIED', async () => {
    const srv = await smtp({ refuse: { mail: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' } });
    const r = await checklist(smtpSettings(srv.port));
    expect(check(r.checks, 'auth').status).toBe('pass');
    expect(check(r.checks, 'sender')).toMatchObject({ status: 'fail', diagnosis: 'SEND_AS_DENIED' });
  });

  it('an unknown recipient at RCPT TO: RECIPIENT_UNKNOWN, and still no DATA', async () => {
    const srv = await smtp({
      refuse: { rcpt: '550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table' },
    });
    const r = await checklist(smtpSettings(srv.port), { to: 'nobody@example.com' });
    expect(check(r.checks, 'sender').status).toBe('pass');
    expect(check(r.checks, 'recipient')).toMatchObject({ status: 'fail', diagnosis: 'RECIPIENT_UNKNOWN' });
    expect(srv.commands).not.toContain('DATA');
  });

  it('a self-signed certificate: TLS_CERT_UNTRUSTED with the smtp.caFile fix', async () => {
    const srv = await smtp({ cert: testPki().untrusted });
    const r = await checklist(smtpSettings(srv.port));
    const tls = check(r.checks, 'tls');
    expect(tls).toMatchObject({ status: 'fail', diagnosis: 'TLS_CERT_UNTRUSTED' });
    expect(tls.fix).toContain('smtp.caFile');
    expect(srv.auths).toHaveLength(0);
  });

  it('an expired certificate: TLS_CERT_UNTRUSTED', async () => {
    const srv = await smtp({ cert: testPki().expired });
    const r = await checklist(smtpSettings(srv.port));
    expect(check(r.checks, 'tls')).toMatchObject({ status: 'fail', diagnosis: 'TLS_CERT_UNTRUSTED' });
  });

  it('nothing listening: CONNECTION_REFUSED at TCP, later steps not tried', async () => {
    const r = await checklist(smtpSettings(await closedPort()));
    expect(check(r.checks, 'dns').status).toBe('pass');
    expect(check(r.checks, 'tcp')).toMatchObject({ status: 'fail', diagnosis: 'CONNECTION_REFUSED' });
    expect(statuses(r.checks, ['greeting', 'tls', 'auth'])).toEqual({ greeting: 'skip', tls: 'skip', auth: 'skip' });
  });

  it('implicit TLS on the port while smtp.security is starttls: TLS_MODE_MISMATCH', async () => {
    const srv = await smtp({ tls: 'implicit' });
    const r = await checklist(smtpSettings(srv.port));
    const failed = r.checks.find((c) => c.status === 'fail');
    expect(failed).toMatchObject({ diagnosis: 'TLS_MODE_MISMATCH' });
    expect(['greeting', 'tls']).toContain(failed?.id);
  });

  it('a plain port while smtp.security is tls: TLS_MODE_MISMATCH', async () => {
    const srv = await smtp({});
    const r = await checklist(smtpSettings(srv.port, { 'smtp.security': 'tls' }));
    const failed = r.checks.find((c) => c.status === 'fail' && c.id !== 'config.security');
    expect(failed).toMatchObject({ diagnosis: 'TLS_MODE_MISMATCH' });
  });

  it('a server SIZE below limits.maxMessageMb: a warning with the limit to set', async () => {
    const srv = await smtp({ size: 5 * 1_048_576 });
    const r = await checklist(smtpSettings(srv.port, { 'limits.maxMessageMb': 25 }));
    const ehlo = check(r.checks, 'ehlo');
    expect(ehlo).toMatchObject({ status: 'warn', diagnosis: 'MESSAGE_TOO_LARGE' });
    expect(ehlo.fix).toContain('limits.maxMessageMb 5');
    expect(r.ok).toBe(true);
  });

  it('a secret that cannot be read: SECRET_UNAVAILABLE, and the session still runs up to EHLO', async () => {
    const srv = await smtp({});
    const r = await checklist(smtpSettings(srv.port, { 'smtp.passwordFile': path.join(dir, 'no-such-file') }), { env: {} });
    expect(check(r.checks, 'secret')).toMatchObject({ status: 'fail', diagnosis: 'SECRET_UNAVAILABLE' });
    expect(check(r.checks, 'ehlo').status).toBe('pass');
    expect(check(r.checks, 'auth').status).toBe('skip');
    expect(srv.auths).toHaveLength(0);
  });

  it('--offline touches no server', async () => {
    const srv = await smtp({});
    const r = await checklist(smtpSettings(srv.port), { offline: true });
    expect(statuses(r.checks, ['dns', 'tcp', 'tls', 'auth'])).toEqual({ dns: 'skip', tcp: 'skip', tls: 'skip', auth: 'skip' });
    expect(srv.sessions).toHaveLength(0);
  });
});

describe('diagnose configuration (no network)', () => {
  it('flags a port and security that do not fit, and a DOMAIN\\user name, before connecting', async () => {
    const r = await checklist(
      {
        'smtp.host': 'smtp.example.com',
        'smtp.port': 465,
        'smtp.security': 'starttls',
        'smtp.username': 'CONTOSO\\ann',
        'sender.default': USER,
      },
      { offline: true },
    );
    expect(check(r.checks, 'config.security')).toMatchObject({ status: 'fail', diagnosis: 'TLS_MODE_MISMATCH' });
    expect(check(r.checks, 'config.auth')).toMatchObject({ status: 'fail', diagnosis: 'USERNAME_FORMAT' });
    const r2 = await checklist(
      { 'smtp.host': 'smtp.example.com', 'smtp.port': 587, 'smtp.security': 'tls', 'smtp.username': USER, 'sender.default': USER },
      { offline: true },
    );
    expect(check(r2.checks, 'config.security')).toMatchObject({ status: 'fail', diagnosis: 'TLS_MODE_MISMATCH' });
  });

  it('a user name set while sign-in is off is a warning, not a failure', async () => {
    const r = await checklist(
      { 'smtp.host': '127.0.0.1', 'smtp.authRequired': false, 'smtp.username': USER, 'sender.default': USER },
      { offline: true },
    );
    expect(check(r.checks, 'config.auth').status).toBe('warn');
    expect(check(r.checks, 'secret').status).toBe('skip');
  });

  it.each(['smtp.office365.com', 'outlook.office365.com', 'contoso-com.mail.protection.outlook.com'])(
    'Microsoft 365 host %s with a password sign-in: a warning with the commands to move to OAuth2 or Graph',
    async (host) => {
      const r = await checklist(
        { 'smtp.host': host, 'smtp.port': 587, 'smtp.username': USER, 'sender.default': USER },
        { offline: true, clock: fixedClock(Date.parse('2026-12-01T12:00:00Z')) },
      );
      const c = check(r.checks, 'config.m365');
      expect(c).toMatchObject({ status: 'warn', diagnosis: 'BASIC_AUTH_DISABLED' });
      expect(c.detail).toContain('December 2026');
      expect(c.detail).toContain(host);
      expect(c.fix).toContain('sysemail params set smtp.authMethod oauth2 smtp.oauth.tenantId');
      expect(c.fix).toContain('smtp.oauth.clientId');
      expect(c.fix).toContain('sysemail params set smtp.oauth.clientSecret --stdin');
      expect(c.fix).toContain('sysemail params set batch.provider exchange');
    },
  );

  it('after the end of December 2026 the Microsoft 365 warning says basic authentication is off by default', async () => {
    const r = await checklist(
      { 'smtp.host': 'smtp.office365.com', 'smtp.username': USER, 'sender.default': USER },
      { offline: true, clock: fixedClock(Date.parse('2027-01-15T12:00:00Z')) },
    );
    expect(check(r.checks, 'config.m365').detail).toMatch(/has been switched off by default/);
  });

  it('no Microsoft 365 warning for OAuth2, for a relay without sign-in, or for another host', async () => {
    const oauth = await checklist(
      {
        'smtp.host': 'smtp.office365.com',
        'smtp.username': USER,
        'sender.default': USER,
        'smtp.authMethod': 'oauth2',
        'smtp.oauth.tenantId': 'contoso.onmicrosoft.com',
        'smtp.oauth.clientId': 'app',
      },
      { offline: true },
    );
    expect(oauth.checks.find((c) => c.id === 'config.m365')?.status ?? 'pass').toBe('pass');
    const relay = await checklist(
      { 'smtp.host': 'contoso-com.mail.protection.outlook.com', 'smtp.port': 25, 'smtp.authRequired': false, 'sender.default': USER },
      { offline: true },
    );
    expect(relay.checks.find((c) => c.id === 'config.m365' && c.status === 'warn')).toBeUndefined();
    const other = await checklist({ 'smtp.host': 'smtp.example.com', 'smtp.username': USER, 'sender.default': USER }, { offline: true });
    expect(other.checks.find((c) => c.id === 'config.m365')).toBeUndefined();
  });

  it('rejects an invalid --to before doing anything', async () => {
    await expect(checklist(smtpSettings(25), { to: 'not-an-address', offline: true })).rejects.toMatchObject({ kind: 'data' });
  });
});

/** An unsigned JWT carrying these application roles, as Microsoft's tokens do. */
function jwt(roles: string[]): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ aud: 'https://graph.microsoft.com', roles })}.`;
}

describe('diagnose against the local Graph and token server', () => {
  let graph: TestGraphServer;
  let noSend: TestGraphServer;

  beforeAll(async () => {
    graph = await startGraphServer({ clientSecret: 'test-secret', accessToken: jwt(['Mail.Send']) });
    noSend = await startGraphServer({ clientSecret: 'test-secret', accessToken: jwt(['User.Read.All']) });
    servers.push(graph, noSend);
  });

  const exchange = (g: TestGraphServer, mailbox = 'sender@example.com'): Values => ({
    'batch.provider': 'exchange',
    'exchange.tokenUrl': g.tokenUrl,
    'exchange.graphUrl': g.graphUrl,
    'exchange.clientId': 'test-client',
    'exchange.mailbox': mailbox,
  });

  it('passes token, permission and mailbox of a correct setup', async () => {
    const r = await checklist(exchange(graph));
    expect(statuses(r.checks, ['config.exchange', 'secret', 'exchange.token', 'exchange.permission', 'exchange.mailbox'])).toEqual({
      'config.exchange': 'pass',
      secret: 'pass',
      'exchange.token': 'pass',
      'exchange.permission': 'pass',
      'exchange.mailbox': 'pass',
    });
    expect(graph.sent).toHaveLength(0);
  });

  it('the secret check names exchange.clientSecretCommand as the source it used, or the one that failed', async () => {
    const ok = await checklist(
      { ...exchange(graph), 'exchange.clientSecretCommand': 'printf test-secret' },
      { env: { PATH: process.env.PATH } },
    );
    expect(check(ok.checks, 'secret')).toMatchObject({ status: 'pass' });
    expect(check(ok.checks, 'secret').detail).toContain('exchange.clientSecretCommand');
    expect(check(ok.checks, 'exchange.token').status).toBe('pass');
    const bad = await checklist({ ...exchange(graph), 'exchange.clientSecretCommand': 'exit 4' }, { env: { PATH: process.env.PATH } });
    expect(check(bad.checks, 'secret')).toMatchObject({ status: 'fail', diagnosis: 'SECRET_UNAVAILABLE' });
    expect(check(bad.checks, 'secret').detail).toContain('exchange.clientSecretCommand exited with status 4');
  });

  it('401 from the token endpoint (wrong client secret): BAD_CREDENTIALS', async () => {
    const r = await checklist(exchange(graph), { env: { SYSEMAIL_EXCHANGE_CLIENT_SECRET: 'wrong' } });
    // a wrong client secret is a wrong credential, not a missing permission
    expect(check(r.checks, 'exchange.token')).toMatchObject({ status: 'fail', diagnosis: 'BAD_CREDENTIALS' });
    expect(check(r.checks, 'exchange.mailbox').status).toBe('skip');
  });

  it('401 from Graph: EXCHANGE_UNAUTHORIZED', async () => {
    graph.script('user', {
      status: 401,
      code: 'InvalidAuthenticationToken',
      message: 'Access token validation failure. Invalid audience.',
    });
    const r = await checklist(exchange(graph));
    expect(check(r.checks, 'exchange.mailbox')).toMatchObject({ status: 'fail', diagnosis: 'EXCHANGE_UNAUTHORIZED' });
  });

  it('403 without Mail.Send: EXCHANGE_UNAUTHORIZED at the permission check', async () => {
    noSend.script('user', { status: 403, code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
    const r = await checklist(exchange(noSend));
    const permission = check(r.checks, 'exchange.permission');
    expect(permission).toMatchObject({ status: 'fail', diagnosis: 'EXCHANGE_UNAUTHORIZED' });
    expect(permission.detail).toContain('403');
    expect(permission.fix).toContain('Mail.Send');
  });

  it('404 for a mailbox that does not exist: MAILBOX_NOT_FOUND', async () => {
    const r = await checklist(exchange(graph, 'nobody@example.com'));
    expect(check(r.checks, 'exchange.mailbox')).toMatchObject({ status: 'fail', diagnosis: 'MAILBOX_NOT_FOUND' });
  });
});

describe('distributor health and recent failures', () => {
  const MIN = 60_000;
  const message = (dueAt: number) => ({
    status: 'pending' as const,
    provider: null,
    from: USER,
    to: ['bob@example.com'],
    cc: [],
    bcc: [],
    subject: 's',
    text: 'b',
    attachments: [],
    dueAt,
  });

  it('messages due for more than 10 minutes with no run: is the distributor scheduled? with the cron line', async () => {
    const store = await openStore();
    const now = Date.now();
    await store.messages.insert(message(now - 30 * MIN), now - 30 * MIN);
    const r = await runChecklist({
      store,
      settings: settingsOf({ 'smtp.host': '127.0.0.1', 'sender.default': USER, 'smtp.authRequired': false }),
      secrets: { dbId: store.id, env: {} },
      offline: true,
      clock: fixedClock(now),
    });
    const d = check(r.checks, 'distributor');
    expect(d.status).toBe('fail');
    expect(d.detail).toContain('Is the distributor scheduled?');
    expect(d.fix).toContain(CRON_LINE);
    // a recent run means someone runs it: no longer a failure
    const runId = store.queue.startRun({ owner: 'h:1:x', host: 'elsewhere', pid: 1, now: now - MIN });
    store.queue.finishRun(runId, now - MIN);
    const r2 = await runChecklist({
      store,
      settings: settingsOf({ 'smtp.host': '127.0.0.1', 'sender.default': USER, 'smtp.authRequired': false }),
      secrets: { dbId: store.id, env: {} },
      offline: true,
      clock: fixedClock(now),
    });
    expect(check(r2.checks, 'distributor').status).toBe('warn');
    await store.close();
  });

  it('expired leases in sending are reported; recent failures are grouped by diagnosis with their fix', async () => {
    const store = await openStore();
    const now = Date.now();
    const stuck = await store.messages.insert(message(now - 5 * MIN), now - 5 * MIN);
    store.sqlite
      .prepare("UPDATE messages SET status = 'sending', lease_owner = 'host:99999:dead', lease_expires_at = ? WHERE id = ?")
      .run(now - 2 * MIN, stuck);
    const failure = {
      provider: 'smtp' as const,
      phase: 'auth' as const,
      code: 'EAUTH',
      responseCode: 535,
      enhancedCode: '5.7.8',
      response: '535 5.7.8 Authentication credentials invalid',
    };
    for (let i = 0; i < 3; i++) {
      const id = await store.messages.insert(message(now - 60 * MIN), now - 60 * MIN);
      recordAttempt(store, {
        messageId: id,
        startedAt: now - (10 + i) * MIN,
        provider: 'smtp',
        outcome: 'failed',
        failure,
        diagnosis: 'BAD_CREDENTIALS',
      });
    }
    const old = await store.messages.insert(message(now - 3 * 24 * 60 * MIN), now - 3 * 24 * 60 * MIN);
    recordAttempt(store, {
      messageId: old,
      startedAt: now - 2 * 24 * 60 * MIN,
      provider: 'smtp',
      outcome: 'failed',
      failure,
      diagnosis: 'RELAY_DENIED',
    });
    const r = await runChecklist({
      store,
      settings: settingsOf({ 'smtp.host': '127.0.0.1', 'sender.default': USER, 'smtp.authRequired': false }),
      secrets: { dbId: store.id, env: {} },
      offline: true,
      clock: fixedClock(now),
    });
    expect(check(r.checks, 'distributor.leases').status).toBe('warn');
    const group = check(r.checks, 'failures.BAD_CREDENTIALS');
    expect(group).toMatchObject({ status: 'warn', diagnosis: 'BAD_CREDENTIALS' });
    expect(group.detail).toContain('3 failed attempt(s) for 3 message(s)');
    expect(group.fix.length).toBeGreaterThan(10);
    expect(r.checks.some((c) => c.id === 'failures.RELAY_DENIED')).toBe(false);
    await store.close();
  });
});

describe('diagnose --history', () => {
  it('maps each failed attempt and the last failure to known causes, the last one first', async () => {
    const store = await openStore();
    const now = Date.now();
    const id = await store.messages.insert(
      { status: 'pending', provider: null, from: USER, to: ['bob@example.com'], cc: [], bcc: [], subject: 's', text: 'b', attachments: [] },
      now,
    );
    const busy = {
      provider: 'smtp' as const,
      phase: 'mail' as const,
      responseCode: 421,
      enhancedCode: '4.7.0',
      response: '421 4.7.0 Temporary System Problem. Try again later. Rate limit exceeded',
    };
    const unknown = {
      provider: 'smtp' as const,
      phase: 'rcpt' as const,
      code: 'EENVELOPE',
      responseCode: 550,
      enhancedCode: '5.1.1',
      response: '550 5.1.1 The email account that you tried to reach does not exist.',
    };
    recordAttempt(store, {
      messageId: id,
      startedAt: now - 2000,
      provider: 'smtp',
      outcome: 'deferred',
      failure: busy,
      diagnosis: 'RATE_LIMITED',
    });
    recordAttempt(store, {
      messageId: id,
      startedAt: now - 1000,
      provider: 'smtp',
      outcome: 'failed',
      failure: unknown,
      diagnosis: 'RECIPIENT_UNKNOWN',
    });
    markFailed(store, id, now, unknown, 'RECIPIENT_UNKNOWN');
    const d = await diagnoseHistory(store, id);
    expect(d.matches[0]?.id).toBe('RECIPIENT_UNKNOWN');
    expect(d.matches.map((m) => m.id)).toContain('RATE_LIMITED');
    expect(d.attempts.map((a) => a.ids[0])).toEqual(['RATE_LIMITED', 'RECIPIENT_UNKNOWN']);
    await expect(diagnoseHistory(store, 9999)).rejects.toMatchObject({ code: 'MESSAGE_NOT_FOUND' });
    await store.close();
  });
});
