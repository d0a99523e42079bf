/**
 * Suppression and bounces on PostgreSQL through the built binary: the distributor suppresses a
 * recipient a real SMTP server refused with 550 5.1.1, the next `send` exits 65, `bounces import` of a
 * Gmail report suppresses its recipient, and `suppress remove` lifts an entry.
 */
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, json, sandbox, type Sandbox } from '../helpers/cli.js';
import { createTestDatabase, pgAvailable, testServer } from '../helpers/postgres.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const available = await pgAvailable();
const USER = 'app@example.com';
const PASSWORD = 'pg-e2e-password';
const FROM = 'noreply@example.com';
const GONE = 'gone@example.org';

describe.skipIf(!available)('suppression and bounces on PostgreSQL', () => {
  let sb: Sandbox;
  let srv: TestSmtpServer;
  let url: string;
  const env = { SYSEMAIL_SMTP_PASSWORD: PASSWORD };
  const run = (args: string[], input?: string) => sb.run(['--db', url, ...args], { noDb: true, env, ...(input ? { input } : {}) });

  beforeAll(async () => {
    url = (await createTestDatabase((await testServer())!, 'bounces')).url;
    sb = sandbox('sysemail-pg-bounces-');
    srv = await startSmtpServer({
      users: { [USER]: PASSWORD },
      refuse: { rcpt: { [GONE]: `550 5.1.1 <${GONE}>: Recipient address rejected: User unknown in virtual mailbox table` } },
    });
    const set = await run([
      ...['params', 'set', 'smtp.host', '127.0.0.1', 'smtp.port', String(srv.port), 'smtp.username', USER],
      ...['smtp.caFile', testPki().caFile, 'sender.default', FROM],
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
  });
  afterAll(async () => {
    await srv?.close();
    sb?.cleanup();
  });

  it('a refusal in queue run suppresses; send exits 65; a Gmail bounce suppresses its recipient; remove lifts', async () => {
    const q = await run(['send', '--queue', '--to', GONE, '--subject', 'Statement', '--body', 'x', '--json']);
    expect(q.exitCode, q.stderr).toBe(0);
    const r = await run(['queue', 'run', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    let list = json<{ address: string; source: string; messageId: number }[]>((await run(['suppress', 'list', '--json'])).stdout);
    expect(list).toMatchObject([{ address: GONE, source: 'refusal', messageId: json<{ id: number }>(q.stdout).id }]);
    const again = await run(['send', '--provider', 'smtp', '--to', GONE, '--subject', 'x', '--body', 'y']);
    expect(again.exitCode).toBe(65);

    srv.reset();
    const to = 'g.missing@gmail.example';
    const sent = await run(['send', '--provider', 'smtp', '--to', to, '--subject', 'Report', '--body', 'x', '--json']);
    expect(sent.exitCode, sent.stderr).toBe(0);
    const doc = json<{ id: number; messageId: string }>(sent.stdout);
    const sysemailId = (await simpleParser(srv.messages[0])).headers.get('x-sysemail-id') as string;
    const report = fs
      .readFileSync(path.join(ROOT, 'fixtures', 'dsn', 'gmail-does-not-exist.eml'), 'utf8')
      .replaceAll('{{FROM}}', FROM)
      .replaceAll('{{RECIPIENT}}', to)
      .replaceAll('{{SUBJECT}}', 'Report')
      .replaceAll('{{MESSAGE_ID}}', doc.messageId)
      .replaceAll('{{SYSEMAIL_ID}}', sysemailId);
    const imp = await run(['bounces', 'import', '-', '--json'], report);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect(json<{ bounced: { id: number; status: string }[] }>(imp.stdout).bounced).toMatchObject([{ id: doc.id, status: '5.1.1' }]);
    const twice = await run(['bounces', 'import', '-', '--json'], report);
    expect(json<{ bounced: unknown[] }>(twice.stdout).bounced).toEqual([]);
    list = json((await run(['suppress', 'list', '--json'])).stdout);
    expect(list.map((s) => s.address).sort()).toEqual([to, GONE].sort());
    expect((await run(['suppress', 'remove', GONE])).exitCode).toBe(0);
    list = json((await run(['suppress', 'list', '--json'])).stdout);
    expect(list.map((s) => s.address)).toEqual([to]);
  });
});
