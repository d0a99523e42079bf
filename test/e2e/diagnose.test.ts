import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CauseView } from '../../src/app/diagnose/error.js';
import { Store } from '../../src/store/index.js';
import { markFailed, recordAttempt } from '../helpers/store-fixtures.js';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

interface CheckJson {
  id: string;
  status: string;
  detail: string;
  fix: string;
  diagnosis?: string;
}
type MatchJson = CauseView;

let box: Sandbox;
let srv: TestSmtpServer;

beforeAll(async () => {
  box = sandbox('sysemail-e2e-diagnose-');
  srv = await startSmtpServer({ users: { 'ann@example.com': 'pw' } });
});
afterAll(async () => {
  await srv.close();
  box.cleanup();
});

describe('diagnose --error', () => {
  it('maps the Microsoft 365 basic-auth refusal to BASIC_AUTH_DISABLED, exit 0', async () => {
    const r = await box.run(['diagnose', '--json', '--error', '535 5.7.139 Authentication unsuccessful, basic authentication is disabled']);
    expect(r.exitCode).toBe(0);
    const doc = json<{ matches: MatchJson[] }>(r.stdout);
    expect(doc.matches[0]).toMatchObject({ id: 'BASIC_AUTH_DISABLED', retryable: false });
    expect(Object.keys(doc.matches[0]).sort()).toEqual(['explanation', 'fix', 'id', 'retryable', 'title']);
    const human = await box.run(['diagnose', '--error', '535 5.7.139 Authentication unsuccessful, basic authentication is disabled']);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('BASIC_AUTH_DISABLED');
    expect(human.stdout).toContain('smtp.authMethod oauth2');
  });

  it.each([
    ['454 4.7.0 TLS not available due to local problem', 'STARTTLS_UNAVAILABLE', 'TLS_MODE_MISMATCH'],
    ['554 5.7.1 <app@contoso.com>: rejected as spam', 'MESSAGE_REJECTED_AS_SPAM', 'RELAY_DENIED'],
    ['Greeting never received', 'CONNECTION_TIMEOUT', undefined],
  ])('%s → %s first', async (text, first, never) => {
    const r = await box.run(['diagnose', '--json', '--error', text]);
    expect(r.exitCode).toBe(0);
    const ids = json<{ matches: MatchJson[] }>(r.stdout).matches.map((m) => m.id);
    expect(ids[0]).toBe(first);
    if (never) expect(ids).not.toContain(never);
  });

  it('unrelated text matches nothing: exit 1 and what to collect next', async () => {
    const r = await box.run(['diagnose', '--json', '--error', 'the coffee machine is out of beans']);
    expect(r.exitCode).toBe(1);
    expect(json<{ matches: unknown[]; next: string }>(r.stdout)).toEqual({
      matches: [],
      next: 'sysemail test-email --to ADDR --quit-after auth -v',
    });
    const human = await box.run(['diagnose', '--error', 'the coffee machine is out of beans']);
    expect(human.exitCode).toBe(1);
    expect(human.stderr).toContain('test-email --to ADDR --quit-after auth -v');
  });

  it('--error - reads a pasted log and reports each error in it', async () => {
    const log = [
      '2024-05-02 10:00:01 INFO  mailer: connecting to smtp.office365.com:587',
      '2024-05-02 10:00:02 ERROR mailer: 550 5.7.60 SMTP; Client does not have permissions to send as this sender',
      '2024-05-02 10:00:05 ERROR mailer: Error: getaddrinfo ENOTFOUND smtp.contoso.invalid',
      '2024-05-02 10:01:00 ERROR mailer: 550 5.1.1 <jo@example.com>: Recipient address rejected: User unknown in local recipient table',
      '',
    ].join('\n');
    const r = await box.run(['diagnose', '--json', '--error', '-'], { input: log });
    expect(r.exitCode).toBe(0);
    const { matches } = json<{ matches: MatchJson[] }>(r.stdout);
    const firstPerExcerpt = [...new Map(matches.map((m) => [m.excerpt, m.id])).values()];
    expect(firstPerExcerpt).toEqual(['SEND_AS_DENIED', 'HOST_NOT_FOUND', 'RECIPIENT_UNKNOWN']);
    for (const m of matches) expect(m.excerpt).toBeTypeOf('string');
  });

  it('--error and --history together are a usage error', async () => {
    const r = await box.run(['diagnose', '--error', 'x', '--history', '1']);
    expect(r.exitCode).toBe(64);
  });
});

describe('diagnose (the checklist)', () => {
  it('--json --offline on a fresh database lists the configuration problems and exits 1', async () => {
    const fresh = sandbox('sysemail-e2e-diagnose-fresh-');
    try {
      const r = await fresh.run(['diagnose', '--json', '--offline'], { env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' } });
      expect(r.exitCode).toBe(1);
      const { checks } = json<{ checks: CheckJson[] }>(r.stdout);
      const failed = checks.filter((c) => c.status === 'fail').map((c) => c.id);
      expect(failed).toEqual(expect.arrayContaining(['config.server', 'config.sender', 'config.auth']));
      for (const c of checks) {
        expect(['pass', 'warn', 'fail', 'skip']).toContain(c.status);
        expect(typeof c.detail).toBe('string');
        expect(typeof c.fix).toBe('string');
        if (c.status === 'fail') expect(c.fix.length).toBeGreaterThan(0);
      }
      expect(checks.filter((c) => ['dns', 'tcp', 'tls', 'auth'].includes(c.id)).every((c) => c.status === 'skip')).toBe(true);
      // the database the queue is in comes first among the health checks
      expect(checks.find((c) => c.id === 'database')).toMatchObject({ status: 'pass', detail: expect.stringContaining(`SQLite 3.`) });
      expect(checks.find((c) => c.id === 'database')?.detail).toContain(fresh.db);
    } finally {
      fresh.cleanup();
    }
  });

  it('a correct setup against a real server passes and exits 0; the password never shows', async () => {
    const set = await box.run([
      'params',
      'set',
      'smtp.host',
      '127.0.0.1',
      'smtp.port',
      String(srv.port),
      'smtp.username',
      'ann@example.com',
      'smtp.caFile',
      testPki().caFile,
      'sender.default',
      'ann@example.com',
    ]);
    expect(set.exitCode).toBe(0);
    const r = await box.run(['diagnose', '--json', '--to', 'bob@example.com'], { env: { SYSEMAIL_SMTP_PASSWORD: 'pw' } });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const { checks } = json<{ checks: CheckJson[] }>(r.stdout);
    expect(checks.find((c) => c.id === 'recipient')?.status).toBe('pass');
    expect(r.stdout).not.toContain('"pw"');
    expect(srv.commands).not.toContain('DATA');

    const bad = await box.run(['diagnose'], { env: { SYSEMAIL_SMTP_PASSWORD: 'nope' } });
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/✖ auth .*\[BAD_CREDENTIALS\]/);
    expect(bad.stdout).toContain('fix:');
  });

  it('--to with a malformed address is bad data (65)', async () => {
    const r = await box.run(['diagnose', '--offline', '--to', 'not an address']);
    expect(r.exitCode).toBe(65);
  });
});

describe('diagnose: Microsoft 365 readiness', () => {
  it('--offline warns a password sign-in to smtp.office365.com, with the commands to move to OAuth2', async () => {
    const m365 = sandbox('sysemail-e2e-diagnose-m365-');
    try {
      const set = await m365.run([
        'params',
        'set',
        'smtp.host',
        'smtp.office365.com',
        'smtp.username',
        'app@contoso.com',
        'sender.default',
        'app@contoso.com',
      ]);
      expect(set.exitCode, set.stderr).toBe(0);
      const r = await m365.run(['diagnose', '--json', '--offline'], { env: { SYSEMAIL_SMTP_PASSWORD: 'x' } });
      const { checks } = json<{ checks: CheckJson[] }>(r.stdout);
      const c = checks.find((x) => x.id === 'config.m365');
      expect(c).toMatchObject({ status: 'warn' });
      expect(c?.fix).toContain('sysemail params set smtp.authMethod oauth2 smtp.oauth.tenantId');
      const text = await m365.run(['diagnose', '--offline'], { env: { SYSEMAIL_SMTP_PASSWORD: 'x' } });
      expect(text.stdout + text.stderr).toContain('smtp.authMethod oauth2');
    } finally {
      m365.cleanup();
    }
  });
});

describe('diagnose --history and history show', () => {
  it('explains a stored failure and history show prints its fix', async () => {
    const store = await Store.open(box.db);
    if (!store) throw new Error('no store');
    const now = Date.now();
    const id = await store.messages.insert(
      {
        status: 'pending',
        provider: null,
        from: 'ann@example.com',
        to: ['bob@example.com'],
        cc: [],
        bcc: [],
        subject: 's',
        text: 'b',
        attachments: [],
      },
      now,
    );
    const failure = {
      provider: 'smtp' as const,
      phase: 'mail' as const,
      code: 'EENVELOPE',
      responseCode: 550,
      enhancedCode: '5.7.60',
      response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
    };
    recordAttempt(store, { messageId: id, startedAt: now, provider: 'smtp', outcome: 'failed', failure, diagnosis: 'SEND_AS_DENIED' });
    markFailed(store, id, now, failure, 'SEND_AS_DENIED');
    await store.close();

    const r = await box.run(['diagnose', '--json', '--history', String(id)]);
    expect(r.exitCode).toBe(0);
    expect(json<{ matches: MatchJson[] }>(r.stdout).matches[0]?.id).toBe('SEND_AS_DENIED');
    const show = await box.run(['history', 'show', String(id)]);
    expect(show.exitCode).toBe(0);
    expect(show.stdout).toMatch(/fix: .*Send As/);
    const missing = await box.run(['diagnose', '--history', '99999']);
    expect(missing.exitCode).toBe(65);
  });
});
