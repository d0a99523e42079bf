import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../src/cli/exit-codes.js';
import { SysemailError } from '../../src/core/errors.js';
import type { FailureInfo } from '../../src/core/failure.js';
import { diagnose } from '../../src/core/diagnosis/index.js';
import { SmtpProvider } from '../../src/providers/smtp/index.js';
import type { OutgoingMessage, PhaseResult } from '../../src/providers/types.js';
import { startGraphServer, type TestGraphServer } from '../helpers/graph-server.js';
import { settingsOf } from '../helpers/settings.js';
import { startSmtpServer, type TestSmtpServer, type TestSmtpServerOptions } from '../helpers/smtp-server.js';
import { startScriptedSmtp, type ScriptedSmtp, type ScriptedSmtpOptions } from '../helpers/scripted-smtp.js';
import { testPki } from '../helpers/tls.js';

const USER = 'app@example.com';
const PASSWORD = 'correct horse battery staple';
const FAST = { connectionMs: 3_000, greetingMs: 1_500, socketMs: 10_000, probeMs: 2_000 };

const servers: { close(): Promise<void> }[] = [];
let tmp: string;
let attachmentFile: string;

async function server(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const s = await startSmtpServer({ users: { [USER]: PASSWORD }, ...options });
  servers.push(s);
  return s;
}

async function scripted(options: ScriptedSmtpOptions): Promise<ScriptedSmtp> {
  const s = await startScriptedSmtp(options);
  servers.push(s);
  return s;
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function provider(
  srv: { port: number },
  extra: Record<string, string | number | boolean> = {},
  env: Record<string, string> = { SYSEMAIL_SMTP_PASSWORD: PASSWORD },
  pool?: { maxConnections: number },
  timeouts: Partial<typeof FAST & { sessionMs: number }> = {},
) {
  const settings = settingsOf({
    'smtp.host': '127.0.0.1',
    'smtp.port': srv.port,
    'smtp.username': USER,
    'smtp.caFile': testPki().caFile,
    ...extra,
  });
  return new SmtpProvider({ settings, secrets: { dbId: 'test-db', env }, timeouts: { ...FAST, ...timeouts }, ...(pool ? { pool } : {}) });
}

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    from: USER,
    to: ['Zoë Ünicode <zoe@example.com>'],
    cc: [],
    bcc: [],
    subject: 'Grüße — 件名 ✓',
    text: 'Héllo wörld, 你好 🌍\n',
    attachments: [],
    ...overrides,
  };
}

async function sendError(p: SmtpProvider, m: OutgoingMessage = message()): Promise<SysemailError> {
  try {
    await p.send(m);
  } catch (err) {
    expect(err).toBeInstanceOf(SysemailError);
    return err as SysemailError;
  } finally {
    await p.close();
  }
  throw new Error('expected the send to fail');
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-smtp-'));
  attachmentFile = path.join(tmp, 'rapport-été-報告.txt');
  fs.writeFileSync(attachmentFile, 'pièce jointe ✓\n');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('SMTP provider: sending', () => {
  it('sends over STARTTLS with AUTH PLAIN, trusting the test CA, and UTF-8 survives the trip', async () => {
    const srv = await server();
    const p = provider(srv);
    const result = await p.send(
      message({ attachments: [{ filename: path.basename(attachmentFile), path: attachmentFile, size: fs.statSync(attachmentFile).size }] }),
    );
    await p.close();
    expect(result.response).toMatch(/^250 .*queued as TEST1/);
    expect(result.accepted).toEqual(['zoe@example.com']);
    expect(srv.auths).toEqual([{ method: 'PLAIN', username: USER }]);
    expect(srv.sessions[0].secure).toBe(true);
    const parsed = await simpleParser(srv.messages[0]);
    expect(parsed.subject).toBe('Grüße — 件名 ✓');
    expect(parsed.text).toBe('Héllo wörld, 你好 🌍\n');
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value[0] : undefined).toEqual({
      address: 'zoe@example.com',
      name: 'Zoë Ünicode',
    });
    expect(parsed.attachments.map((a) => a.filename)).toEqual(['rapport-été-報告.txt']);
    expect(parsed.attachments[0].content.toString('utf8')).toBe('pièce jointe ✓\n');
  });

  it('signs in with AUTH LOGIN when that is all the server offers', async () => {
    const srv = await server({ authMethods: ['LOGIN'] });
    const p = provider(srv);
    await p.send(message());
    await p.close();
    expect(srv.auths).toEqual([{ method: 'LOGIN', username: USER }]);
    expect(srv.messages).toHaveLength(1);
  });

  it('signs in with XOAUTH2 using a client-credentials token from the token endpoint', async () => {
    const graph: TestGraphServer = await startGraphServer({ clientId: 'smtp-app', clientSecret: 'app-secret', accessToken: 'tok-123' });
    try {
      const srv = await server({ authMethods: ['XOAUTH2'], tokens: { [USER]: 'tok-123' } });
      const p = provider(
        srv,
        { 'smtp.authMethod': 'oauth2', 'smtp.oauth.tokenUrl': graph.tokenUrl, 'smtp.oauth.clientId': 'smtp-app' },
        { SYSEMAIL_SMTP_CLIENT_SECRET: 'app-secret' },
      );
      await p.send(message());
      await p.close();
      expect(srv.auths).toEqual([{ method: 'XOAUTH2', username: USER }]);
      const tokenRequest = new URLSearchParams(graph.requests[0].body);
      expect(Object.fromEntries(tokenRequest)).toEqual({
        grant_type: 'client_credentials',
        client_id: 'smtp-app',
        client_secret: 'app-secret',
        scope: 'https://outlook.office365.com/.default',
      });
    } finally {
      await graph.close();
    }
  });

  it('XOAUTH2 with the client secret from smtp.oauth.clientSecretFile (mode 0600)', async () => {
    const graph: TestGraphServer = await startGraphServer({ clientId: 'smtp-app', clientSecret: 'file-secret', accessToken: 'tok-456' });
    try {
      const file = path.join(tmp, 'oauth-secret');
      fs.writeFileSync(file, 'file-secret\n', { mode: 0o600 });
      const srv = await server({ authMethods: ['XOAUTH2'], tokens: { [USER]: 'tok-456' } });
      const p = provider(
        srv,
        {
          'smtp.authMethod': 'oauth2',
          'smtp.oauth.tokenUrl': graph.tokenUrl,
          'smtp.oauth.clientId': 'smtp-app',
          'smtp.oauth.clientSecretFile': file,
        },
        {},
      );
      await p.send(message());
      await p.close();
      expect(srv.auths).toEqual([{ method: 'XOAUTH2', username: USER }]);
      expect(new URLSearchParams(graph.requests[0].body).get('client_secret')).toBe('file-secret');
    } finally {
      await graph.close();
    }
  });

  it('a refused token request is 77 and never shows the secret', async () => {
    const graph = await startGraphServer({ clientId: 'smtp-app', clientSecret: 'right-secret' });
    try {
      const srv = await server({ authMethods: ['XOAUTH2'] });
      const p = provider(
        srv,
        { 'smtp.authMethod': 'oauth2', 'smtp.oauth.tokenUrl': graph.tokenUrl, 'smtp.oauth.clientId': 'smtp-app' },
        { SYSEMAIL_SMTP_CLIENT_SECRET: 'wrong-secret' },
      );
      const err = await sendError(p);
      expect(exitCodeOf(err.kind)).toBe(77);
      expect(err.data).toMatchObject({ phase: 'token', httpStatus: 401, code: 'invalid_client' });
      expect(JSON.stringify({ m: err.message, f: err.fix, d: err.data })).not.toContain('wrong-secret');
    } finally {
      await graph.close();
    }
  });

  it('keeps one pooled connection for several messages', async () => {
    const srv = await server();
    const p = provider(srv, {}, undefined, { maxConnections: 1 });
    for (let i = 0; i < 3; i++) await p.send(message({ subject: `n${i}` }));
    await p.close();
    expect(srv.messages).toHaveLength(3);
    expect(srv.sessions).toHaveLength(1);
  });

  it('relays without AUTH when smtp.authRequired is false', async () => {
    const srv = await server({ authOptional: true });
    const p = provider(srv, { 'smtp.authRequired': false });
    await p.send(message());
    await p.close();
    expect(srv.auths).toEqual([]);
    expect(srv.messages).toHaveLength(1);
  });
});

describe('SMTP provider: refusals map to the contract exit codes', () => {
  const cases: {
    name: string;
    refuse: TestSmtpServerOptions['refuse'];
    exit: number;
    scope: string;
    phase: string;
    responseCode: number;
  }[] = [
    {
      name: '535 bad credentials → 77',
      refuse: { auth: '535 5.7.3 Authentication unsuccessful' },
      exit: 77,
      scope: 'account',
      phase: 'auth',
      responseCode: 535,
    },
    {
      name: '550 5.7.60 Send As denied → 77',
      refuse: { mail: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' },
      exit: 77,
      scope: 'account',
      phase: 'mail',
      responseCode: 550,
    },
    {
      name: '552 message too large → 69',
      refuse: { data: '552 5.3.4 Message size exceeds fixed maximum message size' },
      exit: 69,
      scope: 'message',
      phase: 'data',
      responseCode: 552,
    },
    {
      name: '421 on connect → 75',
      refuse: { onConnect: '421 4.7.0 Too many connections, try again later' },
      exit: 75,
      scope: 'account',
      phase: 'greeting',
      responseCode: 421,
    },
    {
      name: '550 5.1.1 unknown recipient → 69',
      refuse: { rcpt: '550 5.1.1 <zoe@example.com>: Recipient address rejected: User unknown' },
      exit: 69,
      scope: 'message',
      phase: 'rcpt',
      responseCode: 550,
    },
    {
      name: '451 temporary local problem → 75',
      refuse: { data: '451 4.3.0 Temporary local problem' },
      exit: 75,
      scope: 'message',
      phase: 'data',
      responseCode: 451,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const srv = await server({ refuse: c.refuse });
      const err = await sendError(provider(srv));
      expect(exitCodeOf(err.kind)).toBe(c.exit);
      const data = err.data as unknown as FailureInfo & { scope: string };
      expect(data).toMatchObject({ provider: 'smtp', phase: c.phase, responseCode: c.responseCode, scope: c.scope });
      expect(data.response).toContain(String(c.responseCode));
      expect(JSON.stringify(err.data)).not.toContain(PASSWORD);
      expect(srv.messages).toHaveLength(0);
    });
  }

  it('a wrong password is 77 and the message names the account, not the password', async () => {
    const srv = await server();
    const err = await sendError(provider(srv, {}, { SYSEMAIL_SMTP_PASSWORD: 'not-it' }));
    expect(exitCodeOf(err.kind)).toBe(77);
    expect(err.code).toBe('AUTH_REFUSED');
    expect(err.message).toContain(USER);
    expect(`${err.message} ${err.fix} ${JSON.stringify(err.data)}`).not.toContain('not-it');
  });

  it('a connection dropped during DATA is 75', async () => {
    const srv = await server({ refuse: { dropDuringData: true } });
    const big = Buffer.alloc(512 * 1024, 'x');
    const err = await sendError(provider(srv), message({ attachments: [{ filename: 'big.txt', content: big, size: big.length }] }));
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(srv.messages).toHaveLength(0);
  });

  it('nothing listening is 75 (connection refused)', async () => {
    const srv = await server();
    const port = srv.port;
    await srv.close();
    servers.splice(servers.indexOf(srv), 1);
    const err = await sendError(provider({ port }));
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(err.code).toBe('CONNECTION_REFUSED');
    expect((err.data as FailureInfo).code).toBe('ECONNREFUSED');
  });
});

describe('SMTP provider: TLS is never optional', () => {
  it('a server that offers no STARTTLS gets no AUTH and no message: 78 with a clear message', async () => {
    const srv = await server({ starttls: 'off', authOnlyAfterStartTls: false });
    const err = await sendError(provider(srv));
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.code).toBe('STARTTLS_UNAVAILABLE');
    expect(err.message).toMatch(/does not offer STARTTLS/);
    expect(err.fix).toContain('smtp.security');
    expect((err.data as { scope?: string }).scope).toBe('account');
    expect(diagnose(err.data as FailureInfo)[0]?.id).toBe('STARTTLS_UNAVAILABLE');
    expect(srv.commands).toContain('STARTTLS');
    expect(srv.commands).not.toContain('AUTH');
    expect(srv.commands).not.toContain('MAIL');
    expect(srv.auths).toEqual([]);
  });

  it('STARTTLS answered 454 "TLS not available" is a configuration error (78), not a reason to retry', async () => {
    const srv = await scripted({});
    const err = await sendError(provider(srv));
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.code).toBe('STARTTLS_UNAVAILABLE');
    expect(err.message).toContain('454 4.7.0 TLS not available');
    expect(err.message).toContain('STARTTLS');
    expect(err.fix).toContain('smtp.security');
    expect(err.data).toMatchObject({ phase: 'tls', responseCode: 454, scope: 'account' });
    expect(srv.lines.some((l) => /^(AUTH|MAIL)/i.test(l))).toBe(false);
    expect(diagnose(err.data as FailureInfo)[0]?.id).toBe('STARTTLS_UNAVAILABLE');
  });

  it('a server that accepts STARTTLS without announcing it still gets an encrypted session', async () => {
    const srv = await server({ starttls: 'hidden' });
    const p = provider(srv);
    await p.send(message());
    await p.close();
    expect(srv.sessions[0].secure).toBe(true);
  });

  it('implicit TLS against a plain port says the port and smtp.security disagree', async () => {
    const srv = await server({ tls: 'starttls' });
    const err = await sendError(provider(srv, { 'smtp.security': 'tls' }));
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.code).toBe('TLS_MODE_MISMATCH');
    expect(err.message).toContain(`port ${srv.port} speaks plain SMTP but smtp.security is tls`);
  });

  it('STARTTLS against an implicit-TLS port says the port and smtp.security disagree', async () => {
    const srv = await server({ tls: 'implicit' });
    const err = await sendError(provider(srv, { 'smtp.security': 'starttls' }));
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.code).toBe('TLS_MODE_MISMATCH');
    expect(err.message).toContain(`port ${srv.port} expects implicit TLS but smtp.security is starttls`);
    expect(srv.auths).toEqual([]);
  });

  it('implicit TLS works against an implicit-TLS port', async () => {
    const srv = await server({ tls: 'implicit' });
    const p = provider(srv, { 'smtp.security': 'tls' });
    await p.send(message());
    await p.close();
    expect(srv.messages).toHaveLength(1);
  });

  it('a certificate from an unknown CA is refused (78) unless smtp.caFile names the CA', async () => {
    const srv = await server();
    const settings = settingsOf({ 'smtp.host': '127.0.0.1', 'smtp.port': srv.port, 'smtp.username': USER });
    const err = await sendError(
      new SmtpProvider({ settings, secrets: { dbId: 'x', env: { SYSEMAIL_SMTP_PASSWORD: PASSWORD } }, timeouts: FAST }),
    );
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.code).toBe('TLS_CERT_UNTRUSTED');
    expect(srv.auths).toEqual([]);
  });

  it('an expired certificate is refused even from the trusted CA', async () => {
    const srv = await server({ cert: testPki().expired });
    const err = await sendError(provider(srv));
    expect(err.code).toBe('TLS_CERT_UNTRUSTED');
    expect(srv.auths).toEqual([]);
  });

  it('smtp.security none refuses to send a password to another machine, before connecting', async () => {
    const p = new SmtpProvider({
      settings: settingsOf({ 'smtp.host': 'smtp.example.com', 'smtp.security': 'none', 'smtp.username': USER }),
      secrets: { dbId: 'x', env: { SYSEMAIL_SMTP_PASSWORD: PASSWORD } },
    });
    const err = await sendError(p);
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.code).toBe('INSECURE_AUTH_REFUSED');
  });

  it('smtp.security none is fine for a loopback relay', async () => {
    const srv = await server({ tls: 'none', authOptional: true });
    const p = provider(srv, { 'smtp.security': 'none', 'smtp.authRequired': false });
    await p.send(message());
    await p.close();
    expect(srv.messages).toHaveLength(1);
    expect(srv.commands).not.toContain('STARTTLS');
  });
});

describe('SMTP provider: test() phase by phase', () => {
  it('--quit-after auth: connect, tls, ehlo and auth with the server words, no MAIL, no password', async () => {
    const srv = await server();
    const live: string[] = [];
    const r = await provider(srv).test({ from: USER, quitAfter: 'auth', onPhase: (p) => live.push(p.phase) });
    expect(r.ok).toBe(true);
    expect(live).toEqual(['connect', 'tls', 'ehlo', 'auth']);
    const by = Object.fromEntries(r.phases.map((p) => [p.phase, p])) as Record<string, PhaseResult>;
    expect(by.connect.detail).toContain('220');
    expect(by.tls.detail).toMatch(/TLSv1\.[23]/);
    expect(by.tls.detail).toContain('CN=localhost');
    expect(by.tls.detail).toMatch(/expires \d{4}-\d{2}-\d{2}/);
    expect(by.ehlo.detail).toContain('AUTH PLAIN LOGIN');
    expect(by.auth.detail).toMatch(/^PLAIN as app@example\.com: 235/);
    expect(JSON.stringify(r.phases)).not.toContain(PASSWORD);
    expect(srv.commands).toContain('AUTH');
    expect(srv.commands).not.toContain('MAIL');
  });

  it('--quit-after rcpt runs MAIL and RCPT but sends no DATA', async () => {
    const srv = await server();
    const r = await provider(srv).test({ from: USER, to: 'zoe@example.com', quitAfter: 'rcpt' });
    expect(r.ok).toBe(true);
    expect(r.phases.map((p) => p.phase)).toEqual(['connect', 'tls', 'ehlo', 'auth', 'mail', 'rcpt']);
    expect(r.phases.find((p) => p.phase === 'rcpt')?.detail).toMatch(/^250/);
    expect(srv.commands).toContain('RCPT');
    expect(srv.commands).not.toContain('DATA');
    expect(srv.messages).toHaveLength(0);
  });

  it('without --quit-after it sends a short test message', async () => {
    const srv = await server();
    const r = await provider(srv).test({ from: USER, to: 'zoe@example.com' });
    expect(r.ok).toBe(true);
    expect(r.phases.at(-1)).toMatchObject({ phase: 'data', ok: true });
    expect(srv.messages).toHaveLength(1);
    expect(srv.envelopes[0]).toEqual({ from: USER, to: ['zoe@example.com'] });
  });

  it('--quit-after connect stops after the greeting', async () => {
    const srv = await server();
    const r = await provider(srv).test({ from: USER, quitAfter: 'connect' });
    expect(r.ok).toBe(true);
    expect(r.phases.map((p) => p.phase)).toEqual(['connect']);
  });

  it('a wrong password fails the auth phase, classified 77', async () => {
    const srv = await server();
    const r = await provider(srv, {}, { SYSEMAIL_SMTP_PASSWORD: 'nope' }).test({ from: USER, quitAfter: 'auth' });
    expect(r.ok).toBe(false);
    expect(r.phases.at(-1)).toMatchObject({ phase: 'auth', ok: false });
    expect(r.error && exitCodeOf(r.error.kind)).toBe(77);
    expect(r.failure).toMatchObject({ phase: 'auth', responseCode: 535 });
  });

  it('a refused recipient fails the rcpt phase with the server words', async () => {
    const srv = await server({ refuse: { rcpt: { 'nobody@example.com': '550 5.1.1 User unknown' } } });
    const r = await provider(srv).test({ from: USER, to: 'nobody@example.com', quitAfter: 'rcpt' });
    expect(r.ok).toBe(false);
    expect(r.phases.at(-1)).toMatchObject({ phase: 'rcpt', ok: false });
    expect(r.phases.at(-1)?.detail).toContain('550 5.1.1 User unknown');
    expect(r.error && exitCodeOf(r.error.kind)).toBe(69);
  });

  it('no STARTTLS on offer fails the tls phase; AUTH is never tried', async () => {
    const srv = await server({ starttls: 'off', authOnlyAfterStartTls: false });
    const r = await provider(srv).test({ from: USER, quitAfter: 'auth' });
    expect(r.ok).toBe(false);
    expect(r.phases.map((p) => [p.phase, p.ok])).toEqual([
      ['connect', true],
      ['tls', false],
    ]);
    expect(srv.commands).not.toContain('AUTH');
  });

  it('a TLS mode mismatch fails with the port/security message', async () => {
    const srv = await server({ tls: 'starttls' });
    const r = await provider(srv, { 'smtp.security': 'tls' }).test({ from: USER, quitAfter: 'auth' });
    expect(r.ok).toBe(false);
    expect(r.phases.at(-1)?.phase).toBe('tls');
    expect(r.phases.at(-1)?.detail).toContain('speaks plain SMTP but smtp.security is tls');
  });
});

describe('SMTP provider: an overall deadline for every session', () => {
  const PW = { SYSEMAIL_SMTP_PASSWORD: PASSWORD };

  it('exposes smtp.sessionTimeoutSec as deadlineMs (default 300 s)', () => {
    expect(provider({ port: 25 }).deadlineMs).toBe(300_000);
    const settings = settingsOf({ 'smtp.host': '127.0.0.1', 'smtp.username': USER, 'smtp.sessionTimeoutSec': 42 });
    expect(new SmtpProvider({ settings, secrets: { dbId: 'x', env: PW } }).deadlineMs).toBe(42_000);
  });

  it('a server trickling an endless EHLO reply: the session is cut at the deadline, a temporary failure of this message', async () => {
    const srv = await scripted({ ehlo: 'trickle' });
    const p = provider(srv, {}, PW, undefined, { sessionMs: 1_500 });
    const err = await sendError(p);
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(err.code).toBe('SESSION_TIMEOUT');
    expect(err.data).toMatchObject({ code: 'SESSION_TIMEOUT', scope: 'message' });
    expect(err.message).toContain('smtp.sessionTimeoutSec');
    await until(() => srv.open === 0, 'the connection to be destroyed');
  });

  it('with the pool, each stuck connection is destroyed at the deadline and nothing stays open', async () => {
    const stuck = await scripted({ ehlo: 'trickle' });
    const p = provider(stuck, {}, PW, { maxConnections: 2 }, { sessionMs: 1_500 });
    const errors = await Promise.all([p.send(message()).catch((e: unknown) => e), p.send(message()).catch((e: unknown) => e)]);
    for (const e of errors) expect((e as SysemailError).code).toBe('SESSION_TIMEOUT');
    await until(() => stuck.open === 0, 'the stuck connections to be destroyed');
    await p.close();
  });

  it('with the pool, the stuck connection alone is given up: the other messages go out over the others', async () => {
    const stuck = await scripted({ ehlo: 'trickle' });
    const good = await server();
    // the first connection reaches the stalling server, every later one the real one
    let n = 0;
    const open = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(n++ === 0 ? stuck.port : good.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        open.add(s);
        s.on('close', () => open.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => new Promise<void>((resolve) => proxy.close(() => resolve())) });
    const p = provider({ port: (proxy.address() as net.AddressInfo).port }, {}, PW, { maxConnections: 2 }, { sessionMs: 2_000 });
    const outcomes = await Promise.all(
      [1, 2, 3].map((i) =>
        p.send(message({ subject: `m${i}` })).then(
          () => 'sent',
          (e: SysemailError) => e.code,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'SESSION_TIMEOUT')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(2);
    expect(good.messages).toHaveLength(2);
    await p.close();
    await until(() => open.size === 0 && stuck.open === 0, 'every connection to be closed');
  });

  it('test() stops at the deadline too, failing the phase it was in', async () => {
    const srv = await scripted({ ehlo: 'trickle' });
    const r = await provider(srv, {}, PW, undefined, { sessionMs: 1_500 }).test({ from: USER, quitAfter: 'auth' });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('SESSION_TIMEOUT');
    expect(r.error && exitCodeOf(r.error.kind)).toBe(75);
    expect(r.phases.at(-1)).toMatchObject({ ok: false });
    await until(() => srv.open === 0, 'the connection to be destroyed');
  });

  it('a server that accepts the connection and never greets is a connection timeout, not a TLS mode mismatch', async () => {
    const srv = await scripted({ greeting: null });
    const err = await sendError(provider(srv));
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(err.code).toBe('CONNECTION_TIMEOUT');
    expect(diagnose(err.data as FailureInfo)[0]?.id).toBe('CONNECTION_TIMEOUT');
    expect(diagnose(err.data as FailureInfo).map((m) => m.id)).not.toContain('TLS_MODE_MISMATCH');
  });

  it('a STARTTLS client against an implicit-TLS port still hears TLS_MODE_MISMATCH from the catalogue', async () => {
    const srv = await server({ tls: 'implicit' });
    const err = await sendError(provider(srv, { 'smtp.security': 'starttls' }));
    expect(err.code).toBe('TLS_MODE_MISMATCH');
    expect(diagnose(err.data as FailureInfo)[0]?.id).toBe('TLS_MODE_MISMATCH');
  });
});

describe('messages rendered ahead (the distributor worker thread)', () => {
  it('sends the rendered bytes as they are: same content, Bcc only in the envelope, our Message-ID kept', async () => {
    const srv = await server();
    const m = message({
      cc: ['cc@example.com'],
      bcc: ['hidden@example.com'],
      html: '<p>Héllo <b>wörld</b></p>',
      headers: { 'X-Campaign': 'november' },
      messageId: '<rendered.1@example.com>',
    });
    const { MimeRenderer } = await import('../../src/providers/smtp/render.js');
    expect(MimeRenderer.wants(m)).toBe(true);
    expect(MimeRenderer.wants({ ...m, attachments: [{ filename: 'a.txt', path: attachmentFile, size: 5 }] })).toBe(false);
    const rendered = await new MimeRenderer().render(m);
    expect(rendered.envelope).toEqual({ from: USER, to: ['zoe@example.com', 'cc@example.com', 'hidden@example.com'] });
    // as the worker thread hands it over: a plain Uint8Array
    const p = provider(srv);
    let result;
    try {
      result = await p.send({ ...m, rendered: { raw: new Uint8Array(rendered.raw), envelope: rendered.envelope } });
    } finally {
      await p.close();
    }
    expect(result.messageId).toBe('<rendered.1@example.com>');
    expect(srv.envelopes.at(-1)).toEqual({ from: USER, to: ['zoe@example.com', 'cc@example.com', 'hidden@example.com'] });
    const got = await simpleParser(srv.messages.at(-1)!);
    expect(got.messageId).toBe('<rendered.1@example.com>');
    expect(got.subject).toBe('Grüße — 件名 ✓');
    expect(got.text).toBe('Héllo wörld, 你好 🌍\n');
    expect(got.html).toContain('<b>wörld</b>');
    expect(got.headers.get('x-campaign')).toBe('november');
    expect(got.headers.has('bcc')).toBe(false);
    expect(srv.messages.at(-1)!.toString('latin1')).not.toContain('hidden@example.com');
    // the bytes went out as rendered (SMTP's CRLF line ends aside): one Message-ID, nothing added
    const wire = srv.messages.at(-1)!.toString('latin1');
    expect(wire.match(/^Message-ID:/gim)).toHaveLength(1);
    expect(wire).toBe(Buffer.from(rendered.raw).toString('latin1').replace(/\r?\n/g, '\r\n'));
  });
});

describe('the final dot waits for beforeDot (the distributor counts a message at risk from there)', () => {
  it('beforeDot runs after the server said 354 to DATA, and the message goes out once it resolves', async () => {
    const srv = await server();
    const p = provider(srv, {}, undefined, { maxConnections: 2 });
    const atGate: { data: number; messages: number }[] = [];
    try {
      await p.send(
        message({
          beforeDot: async () => {
            atGate.push({ data: srv.commands.filter((c) => c === 'DATA').length, messages: srv.messages.length });
            await new Promise((resolve) => setTimeout(resolve, 50));
          },
        }),
      );
    } finally {
      await p.close();
    }
    // the envelope and DATA were through before the gate: only the body's end and the dot waited
    expect(atGate).toEqual([{ data: 1, messages: 0 }]);
    expect(srv.messages).toHaveLength(1);
    expect((await simpleParser(srv.messages[0])).text).toBe('Héllo wörld, 你好 🌍\n');
  });

  it('a beforeDot that rejects withholds the dot: the server keeps nothing, the send rejects with that error, the pool goes on', async () => {
    const srv = await server();
    const p = provider(srv, {}, undefined, { maxConnections: 1 });
    const refusal = new Error('the lease could not be kept until the end of the message');
    try {
      await expect(p.send(message({ subject: 'withheld', beforeDot: () => Promise.reject(refusal) }))).rejects.toBe(refusal);
      // rendered ahead too: the same stage ends a raw message
      const { MimeRenderer } = await import('../../src/providers/smtp/render.js');
      const rendered = await new MimeRenderer().render(message({ subject: 'withheld too' }));
      await expect(p.send(message({ rendered, beforeDot: () => Promise.reject(refusal) }))).rejects.toBe(refusal);
      await p.send(message({ subject: 'sent' }));
    } finally {
      await p.close();
    }
    // the distributor's own error, as it was: nodemailer never saw it (it rewrites the code of what it gets)
    expect(refusal).not.toHaveProperty('code');
    expect(srv.messages).toHaveLength(1);
    expect((await simpleParser(srv.messages[0])).subject).toBe('sent');
    expect(srv.commands.filter((c) => c === 'DATA')).toHaveLength(3);
  });

  it('a message over a connection of its own is signed and held before its dot as a pooled one is', async () => {
    const { startDnsServer } = await import('../helpers/dns-server.js');
    const { publish, testKey, verifyDkim } = await import('../helpers/dkim.js');
    const dns = await startDnsServer();
    servers.push({ close: async () => dns.close() });
    const key = testKey('example.com', 'own1', 'ed25519-sha256');
    publish(dns, key);
    const srv = await server();
    const settings = settingsOf({
      'smtp.host': '127.0.0.1',
      'smtp.port': srv.port,
      'smtp.username': USER,
      'smtp.caFile': testPki().caFile,
    });
    const p = new SmtpProvider({
      settings,
      secrets: { dbId: 'test-db', env: { SYSEMAIL_SMTP_PASSWORD: PASSWORD } },
      timeouts: FAST,
      pool: { maxConnections: 2 },
      dkim: [key],
    });
    let gated = 0;
    try {
      await p.send(
        message({
          ownConnection: true,
          beforeDot: async () => {
            gated++;
          },
        }),
      );
    } finally {
      await p.close();
    }
    expect(gated).toBe(1);
    expect(await verifyDkim(srv.messages[0], dns)).toMatchObject([{ result: 'pass', domain: 'example.com', selector: 'own1' }]);
  });
});
