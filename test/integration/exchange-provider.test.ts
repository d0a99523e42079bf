import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../src/cli/exit-codes.js';
import { SysemailError } from '../../src/core/errors.js';
import { ExchangeProvider, GRAPH_INLINE_ATTACHMENT_MAX } from '../../src/providers/exchange.js';
import type { OutgoingMessage } from '../../src/providers/types.js';
import { startGraphServer, type TestGraphServer } from '../helpers/graph-server.js';
import { settingsOf } from '../helpers/settings.js';

const MAILBOX = 'sender@example.com';
let graph: TestGraphServer;
let tmp: string;

function provider(mailbox = MAILBOX, secret = 'graph-secret') {
  return new ExchangeProvider({
    settings: settingsOf({
      'exchange.graphUrl': graph.graphUrl,
      'exchange.tokenUrl': graph.tokenUrl,
      'exchange.clientId': 'graph-app',
      'exchange.mailbox': mailbox,
    }),
    secrets: { dbId: 'test-db', env: { SYSEMAIL_EXCHANGE_CLIENT_SECRET: secret } },
  });
}

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    from: MAILBOX,
    to: ['Ann Lee <ann@example.com>'],
    cc: ['cc@example.com'],
    bcc: [],
    subject: 'Rechnung – März',
    text: 'Grüße ✓',
    attachments: [],
    ...overrides,
  };
}

async function sendError(m: OutgoingMessage = message(), p = provider()): Promise<SysemailError> {
  try {
    await p.send(m);
  } catch (err) {
    expect(err).toBeInstanceOf(SysemailError);
    return err as SysemailError;
  }
  throw new Error('expected the send to fail');
}

beforeAll(async () => {
  graph = await startGraphServer({ clientId: 'graph-app', clientSecret: 'graph-secret', mailboxes: [MAILBOX] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-graph-'));
});
beforeEach(() => graph.reset());
afterAll(async () => {
  await graph.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('Exchange provider (Microsoft Graph)', () => {
  it('202 → sent, with an application token for the Graph scope', async () => {
    const small = path.join(tmp, 'note.txt');
    fs.writeFileSync(small, 'hello');
    const r = await provider().send(message({ attachments: [{ filename: 'note.txt', path: small, size: 5 }] }));
    expect(r.provider).toBe('exchange');
    expect(r.response).toMatch(/^202/);
    const token = new URLSearchParams(graph.requests[0].body);
    expect(token.get('scope')).toBe('https://graph.microsoft.com/.default');
    expect(token.get('grant_type')).toBe('client_credentials');
    const send = graph.requests[1];
    expect(send).toMatchObject({ method: 'POST', path: `/v1.0/users/${encodeURIComponent(MAILBOX)}/sendMail` });
    expect(send.headers.authorization).toBe('Bearer test-access-token');
    const m = graph.sent[0].message as { subject: string; toRecipients: unknown[]; attachments: { name: string; contentBytes: string }[] };
    expect(m.subject).toBe('Rechnung – März');
    expect(m.toRecipients).toEqual([{ emailAddress: { address: 'ann@example.com', name: 'Ann Lee' } }]);
    expect(Buffer.from(m.attachments[0].contentBytes, 'base64').toString()).toBe('hello');
  });

  it('attachments over 3 MB go through an upload session, never one big JSON body', async () => {
    const bigFile = path.join(tmp, 'big.bin');
    const big = Buffer.alloc(GRAPH_INLINE_ATTACHMENT_MAX + 700_000, 7);
    fs.writeFileSync(bigFile, big);
    await provider().send(message({ attachments: [{ filename: 'big.bin', path: bigFile, size: big.length }] }));
    expect(graph.requests.some((r) => r.path.endsWith('/sendMail'))).toBe(false);
    expect(graph.requests.some((r) => r.path.endsWith('/attachments/createUploadSession'))).toBe(true);
    const largest = Math.max(...graph.requests.filter((r) => !r.path.startsWith('/upload/')).map((r) => r.body.length));
    expect(largest).toBeLessThan(GRAPH_INLINE_ATTACHMENT_MAX);
    expect(graph.sent).toHaveLength(1);
    expect(graph.sent[0].uploads['big.bin'].equals(big)).toBe(true);
  });

  it('401 → 77 (account scope)', async () => {
    graph.script('sendMail', { status: 401, code: 'InvalidAuthenticationToken', message: 'Access token has expired or is not yet valid.' });
    const err = await sendError();
    expect(exitCodeOf(err.kind)).toBe(77);
    expect(err.data).toMatchObject({ provider: 'exchange', httpStatus: 401, graphCode: 'InvalidAuthenticationToken', scope: 'account' });
  });

  it('403 ErrorAccessDenied → 77 naming the Mail.Send permission', async () => {
    graph.script('sendMail', { status: 403, code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
    const err = await sendError();
    expect(exitCodeOf(err.kind)).toBe(77);
    expect(err.code).toBe('EXCHANGE_UNAUTHORIZED');
    expect(err.fix).toContain('Mail.Send');
    expect(err.data).toMatchObject({
      httpStatus: 403,
      graphCode: 'ErrorAccessDenied',
      response: 'Access is denied. Check credentials and try again.',
    });
  });

  it('404 ErrorNonExistentMailbox → 69, account scope', async () => {
    const err = await sendError(message({ from: 'ghost@example.com' }), provider('ghost@example.com'));
    expect(exitCodeOf(err.kind)).toBe(69);
    expect(err.code).toBe('MAILBOX_NOT_FOUND');
    expect(err.data).toMatchObject({ httpStatus: 404, graphCode: 'ErrorNonExistentMailbox', scope: 'account' });
  });

  it.each(['close', 'reset'] as const)(
    'the whole request sent and the connection lost (%s) before the answer: outcome unknown (the message may be sent)',
    async (drop) => {
      graph.script('sendMail', { status: 0, drop });
      const err = await sendError();
      expect(exitCodeOf(err.kind)).toBe(75);
      expect(err.code).toBe('OUTCOME_UNKNOWN');
      expect(err.data).toMatchObject({ provider: 'exchange', outcomeUnknown: true, scope: 'message' });
    },
  );

  it('429 → 75 carrying Retry-After', async () => {
    graph.script('sendMail', {
      status: 429,
      code: 'ApplicationThrottled',
      message: 'Application is over its MailboxConcurrency limit.',
      retryAfter: '37',
    });
    const err = await sendError();
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(err.data).toMatchObject({ httpStatus: 429, graphCode: 'ApplicationThrottled', retryAfterSec: 37, scope: 'account' });
    expect(err.fix).toContain('37 s');
  });

  it('500 → 75, account-wide like 503: the distributor stops instead of sending the queue into it', async () => {
    graph.script('sendMail', { status: 500, code: 'ErrorInternalServerError', message: 'An internal server error occurred.' });
    const err = await sendError();
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(err.data).toMatchObject({ httpStatus: 500, graphCode: 'ErrorInternalServerError', scope: 'account' });
  });

  it.each([502, 503, 504])('%i → 75, account-wide', async (status) => {
    graph.script('sendMail', { status, message: 'The service is unavailable.' });
    const err = await sendError();
    expect(exitCodeOf(err.kind)).toBe(75);
    expect(err.data).toMatchObject({ httpStatus: status, scope: 'account' });
  });

  it('takes the client secret from exchange.clientSecretCommand when no variable is set', async () => {
    const p = new ExchangeProvider({
      settings: settingsOf({
        'exchange.graphUrl': graph.graphUrl,
        'exchange.tokenUrl': graph.tokenUrl,
        'exchange.clientId': 'graph-app',
        'exchange.mailbox': MAILBOX,
        'exchange.clientSecretCommand': 'printf graph-secret',
      }),
      secrets: { dbId: 'test-db', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    });
    await p.send(message());
    expect(graph.sent).toHaveLength(1);
  });

  it('an exchange.clientSecretFile others may read: 78 naming the file, before any request', async () => {
    const file = path.join(tmp, 'graph-secret-open');
    fs.writeFileSync(file, 'graph-secret\n');
    fs.chmodSync(file, 0o644);
    const p = new ExchangeProvider({
      settings: settingsOf({
        'exchange.graphUrl': graph.graphUrl,
        'exchange.tokenUrl': graph.tokenUrl,
        'exchange.clientId': 'graph-app',
        'exchange.mailbox': MAILBOX,
        'exchange.clientSecretFile': file,
      }),
      secrets: { dbId: 'test-db', env: {} },
    });
    const err = await sendError(message(), p);
    expect(exitCodeOf(err.kind)).toBe(78);
    expect(err.message).toContain(`exchange.clientSecretFile ${file} is readable by group or others`);
    expect(graph.requests).toHaveLength(0);
  });

  it('exposes exchange.requestTimeoutSec as deadlineMs (default 120 s)', () => {
    expect(provider().deadlineMs).toBe(120_000);
  });

  it('a Graph that never answers: the request is cut at exchange.requestTimeoutSec, a temporary failure of this message', async () => {
    const stalled = http.createServer(() => undefined);
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
      const p = new ExchangeProvider({
        settings: settingsOf({
          'exchange.graphUrl': url,
          'exchange.tokenUrl': graph.tokenUrl,
          'exchange.clientId': 'graph-app',
          'exchange.mailbox': MAILBOX,
        }),
        secrets: { dbId: 'test-db', env: { SYSEMAIL_EXCHANGE_CLIENT_SECRET: 'graph-secret' } },
        timeouts: { requestMs: 1_000 },
      });
      expect(p.deadlineMs).toBe(1_000);
      const err = await sendError(message(), p);
      expect(exitCodeOf(err.kind)).toBe(75);
      expect(err.code).toBe('REQUEST_TIMEOUT');
      expect(err.data).toMatchObject({ code: 'REQUEST_TIMEOUT', scope: 'message' });
      expect(err.message).toContain('exchange.requestTimeoutSec');
    } finally {
      stalled.closeAllConnections();
      await new Promise<void>((resolve) => stalled.close(() => resolve()));
    }
  });

  it('a wrong client secret → 77 at the token step, secret never shown', async () => {
    const err = await sendError(message(), provider(MAILBOX, 'bad-secret-value'));
    expect(exitCodeOf(err.kind)).toBe(77);
    expect(err.data).toMatchObject({ phase: 'token', httpStatus: 401 });
    expect(`${err.message}${err.fix}${JSON.stringify(err.data)}`).not.toContain('bad-secret-value');
  });

  it('test(): token, mailbox and send, each reported', async () => {
    const phases: string[] = [];
    const r = await provider().test({ from: MAILBOX, to: 'ann@example.com', onPhase: (p) => phases.push(p.phase) });
    expect(r.ok).toBe(true);
    expect(phases).toEqual(['token', 'mailbox', 'send']);
    expect(r.phases[1].detail).toContain(MAILBOX);
    expect(graph.sent).toHaveLength(1);
  });

  it('test() --quit-after auth checks the token and the mailbox but sends nothing', async () => {
    const r = await provider().test({ from: MAILBOX, quitAfter: 'auth' });
    expect(r.ok).toBe(true);
    expect(r.phases.map((p) => p.phase)).toEqual(['token', 'mailbox']);
    expect(graph.sent).toHaveLength(0);
  });

  it('test() reports a missing mailbox at the mailbox phase', async () => {
    const r = await provider('ghost@example.com').test({ from: 'ghost@example.com', quitAfter: 'auth' });
    expect(r.ok).toBe(false);
    expect(r.phases.at(-1)).toMatchObject({ phase: 'mailbox', ok: false });
    expect(r.error && exitCodeOf(r.error.kind)).toBe(69);
  });
});
