/**
 * Suppression and bounces with the built binary: a recipient refused with 550 5.1.1 by a real SMTP
 * server is suppressed (by `send` and by the distributor), the next `send` to it exits 65, `suppress
 * remove` lifts it; `bounces import` of Postfix, Exim, Microsoft 365 and Gmail reports marks the right
 * messages bounced and suppresses the right recipients, and skips what is not a delivery report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const USER = 'app@example.com';
const PASSWORD = 'e2e-password-123';
const FROM = 'noreply@example.com';
const GONE = 'gone@example.org';
const GONE_TOO = 'left@example.org';
let box: Sandbox;
let srv: TestSmtpServer;
const env = { SYSEMAIL_SMTP_PASSWORD: PASSWORD };
const err = (r: { stderr?: unknown }) => String((r.stderr as string | undefined) ?? '');

interface Suppression {
  address: string;
  reason: string;
  source: string;
  messageId: number | null;
  createdAt: string;
  expiresAt: string | null;
}

beforeAll(async () => {
  box = sandbox('sysemail-bounces-e2e-');
  srv = await startSmtpServer({
    users: { [USER]: PASSWORD },
    refuse: {
      rcpt: {
        [GONE]: `550 5.1.1 <${GONE}>: Recipient address rejected: User unknown in virtual mailbox table`,
        [GONE_TOO]: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
      },
    },
  });
  const set = await box.run([
    ...['params', 'set', 'smtp.host', '127.0.0.1', 'smtp.port', String(srv.port), 'smtp.username', USER],
    ...['smtp.caFile', testPki().caFile, 'sender.default', FROM],
  ]);
  expect(set.exitCode, err(set)).toBe(0);
});

afterAll(async () => {
  await srv?.close();
  box?.cleanup();
});

async function suppressions(): Promise<Suppression[]> {
  const r = await box.run(['suppress', 'list', '--json']);
  expect(r.exitCode, err(r)).toBe(0);
  return json<Suppression[]>(r.stdout);
}

async function sendNow(to: string[], subject: string) {
  return box.run(['send', '--provider', 'smtp', ...to.flatMap((t) => ['--to', t]), '--subject', subject, '--body', 'hello', '--json'], {
    env,
  });
}

describe('suppression after a permanent refusal (built binary, real SMTP server)', () => {
  it('a 550 5.1.1 to one of two recipients suppresses only that one; the next send to it exits 65; suppress remove lifts it', async () => {
    const first = await sendNow(['ok@example.org', GONE], 'Invoice 1');
    expect(first.exitCode, err(first)).toBe(0);
    const sent = json<{ id: number }>(first.stdout);
    const list = await suppressions();
    expect(list.map((s) => s.address)).toEqual([GONE]);
    expect(list[0]).toMatchObject({ source: 'refusal', messageId: sent.id, expiresAt: null });
    expect(list[0].reason).toMatch(/5\.1\.1/);

    srv.reset();
    const again = await box.run(
      [
        'send',
        '--provider',
        'smtp',
        '--to',
        'Gone Person <Gone@EXAMPLE.org>'.replace('Gone@', 'gone@'),
        '--subject',
        'x',
        '--body',
        'y',
        '--json',
      ],
      { env },
    );
    expect(again.exitCode).toBe(65);
    expect(json<{ error: { code: string } }>(again.stderr).error.code).toBe('RECIPIENT_SUPPRESSED');
    expect(srv.envelopes).toHaveLength(0);
    // queued too: refused before anything is stored
    const queued = await box.run(['send', '--queue', '--to', GONE, '--subject', 'x', '--body', 'y'], { env });
    expect(queued.exitCode).toBe(65);
    expect(err(queued)).toContain(`sysemail suppress remove ${GONE}`);

    const removed = await box.run(['suppress', 'remove', GONE]);
    expect(removed.exitCode, err(removed)).toBe(0);
    expect(await suppressions()).toEqual([]);
    const absent = await box.run(['suppress', 'remove', GONE]);
    expect(absent.exitCode).toBe(65);
  });

  it('the distributor suppresses a refused recipient, and fails a later queued message to it at claim with reason suppressed', async () => {
    srv.reset();
    const q = await box.run(['send', '--queue', '--to', GONE_TOO, '--subject', 'Statement', '--body', 'hello', '--json'], { env });
    expect(q.exitCode, err(q)).toBe(0);
    const run = await box.run(['queue', 'run', '--json'], { env });
    expect(run.exitCode, err(run)).toBe(0);
    const entry = (await suppressions()).find((s) => s.address === GONE_TOO);
    expect(entry).toMatchObject({ source: 'refusal', messageId: json<{ id: number }>(q.stdout).id });

    // queued behind the list's back (queue import does not look): failed at claim, never sent
    const file = path.join(box.dir, 'later.jsonl');
    fs.writeFileSync(file, JSON.stringify({ to: [GONE_TOO], from: FROM, subject: 'Later', text: 'x' }) + '\n');
    const imp = await box.run(['queue', 'import', file, '--json']);
    expect(imp.exitCode, err(imp)).toBe(0);
    srv.reset();
    const run2 = await box.run(['queue', 'run', '--json'], { env });
    expect(run2.exitCode, err(run2)).toBe(0);
    expect(json<{ failed: number }>(run2.stdout.trim().split('\n').at(-1)!).failed).toBe(1);
    expect(srv.envelopes).toHaveLength(0);
    const failed = await box.run(['queue', 'list', '--status', 'failed', '--json']);
    const rows = json<{ id: number; subject: string; reason: string | null; lastError: { code: string } | null }[]>(failed.stdout);
    expect(rows.find((r) => r.subject === 'Later')).toMatchObject({ reason: 'suppressed', lastError: { code: 'SUPPRESSED' } });
  });

  it('suppress add / import / list --json rows, with expiry for soft reasons', async () => {
    const add = await box.run(['suppress', 'add', 'Ann@Example.COM', '--reason', 'asked to stop', '--expires', '30d', '--json']);
    expect(add.exitCode, err(add)).toBe(0);
    expect(json<Suppression>(add.stdout)).toMatchObject({ address: 'Ann@example.com', reason: 'asked to stop', source: 'manual' });
    expect(json<Suppression>(add.stdout).expiresAt).not.toBeNull();
    const bad = await box.run(['suppress', 'add', 'not-an-address']);
    expect(bad.exitCode).toBe(65);
    const list = path.join(box.dir, 'list.csv');
    fs.writeFileSync(list, 'address,reason\nbob@example.net,unsubscribed\n"carl@example.net","bounced, twice"\n');
    const imp = await box.run(['suppress', 'import', list, '--json']);
    expect(imp.exitCode, err(imp)).toBe(0);
    const badList = path.join(box.dir, 'bad.txt');
    fs.writeFileSync(badList, 'dora@example.net\nnot an address\n');
    const refused = await box.run(['suppress', 'import', badList]);
    expect(refused.exitCode).toBe(65);
    const rows = await suppressions();
    expect(rows.map((r) => r.address)).toEqual(expect.arrayContaining(['Ann@example.com', 'bob@example.net', 'carl@example.net']));
    expect(rows.find((r) => r.address === 'carl@example.net')?.reason).toBe('bounced, twice');
    expect(rows.some((r) => r.address === 'dora@example.net')).toBe(false);
    for (const r of rows) expect(Object.keys(r).sort()).toEqual(['address', 'createdAt', 'expiresAt', 'messageId', 'reason', 'source']);
  });
});

describe('bounces import (built binary)', () => {
  const FIXTURES = path.join(ROOT, 'fixtures', 'dsn');
  const inbox = () => path.join(box.dir, 'bounces');
  const originals: Record<string, { id: number; messageId: string; sysemailId: string; to: string; subject: string }> = {};

  function fill(name: string, o: (typeof originals)[string]): string {
    const [local, domain] = o.to.split('@');
    return fs
      .readFileSync(path.join(FIXTURES, name), 'utf8')
      .replaceAll('{{FROM}}', FROM)
      .replaceAll('{{RECIPIENT}}', o.to)
      .replaceAll('{{RECIPIENT_LOCAL}}', local)
      .replaceAll('{{RECIPIENT_DOMAIN}}', domain)
      .replaceAll('{{SUBJECT}}', o.subject)
      .replaceAll('{{MESSAGE_ID}}', o.messageId)
      .replaceAll('{{SYSEMAIL_ID}}', o.sysemailId)
      .replace(/\n/g, '\r\n');
  }

  beforeAll(async () => {
    // five messages really sent through the server; each report answers one of them
    for (const [key, to] of [
      ['postfix', 'p.unknown@example.net'],
      ['exim', 'e.unroutable@example.net'],
      ['m365', 'm.notfound@contoso.example'],
      ['gmail', 'g.missing@gmail.example'],
      ['delayed', 'd.busy@example.net'],
    ] as const) {
      srv.reset();
      const r = await sendNow([to], `Report ${key}`);
      expect(r.exitCode, err(r)).toBe(0);
      const doc = json<{ id: number; messageId: string }>(r.stdout);
      const parsed = await simpleParser(srv.messages[0]);
      const sysemailId = parsed.headers.get('x-sysemail-id') as string;
      expect(sysemailId).toMatch(new RegExp(`^${doc.id}\\.`));
      originals[key] = { id: doc.id, messageId: doc.messageId, sysemailId, to, subject: `Report ${key}` };
    }
    fs.mkdirSync(inbox());
    fs.writeFileSync(path.join(inbox(), '1-postfix.eml'), fill('postfix-user-unknown.eml', originals.postfix));
    fs.writeFileSync(path.join(inbox(), '2-exim.eml'), fill('exim-unrouteable.eml', originals.exim));
    fs.writeFileSync(path.join(inbox(), '3-m365.eml'), fill('microsoft365-recipient-not-found.eml', originals.m365));
    fs.writeFileSync(path.join(inbox(), '4-gmail.eml'), fill('gmail-does-not-exist.eml', originals.gmail));
    fs.writeFileSync(path.join(inbox(), '5-delayed.eml'), fill('delayed-mailbox-busy.eml', originals.delayed));
    fs.writeFileSync(path.join(inbox(), '6-reply.eml'), fill('not-a-dsn.eml', originals.postfix));
    fs.writeFileSync(path.join(inbox(), '7-auto.eml'), fill('auto-reply.eml', originals.postfix));
  });

  it('marks the right messages bounced, suppresses the hard-bounced recipients, records a delay only, skips the rest with a reason', async () => {
    const done = path.join(box.dir, 'bounces-done');
    const r = await box.run(['bounces', 'import', inbox(), '--move-to', done, '--json']);
    expect(r.exitCode, err(r)).toBe(0);
    const doc = json<{
      processed: number;
      bounced: { id: number; messageId: string; recipient: string; status: string; action: string }[];
      skipped: { file: string; reason: string }[];
    }>(r.stdout);
    expect(doc.processed).toBe(7);
    const byId = new Map(doc.bounced.map((b) => [b.id, b]));
    expect(byId.get(originals.postfix.id)).toMatchObject({
      recipient: originals.postfix.to,
      status: '5.1.1',
      action: 'failed',
      messageId: originals.postfix.messageId,
    });
    expect(byId.get(originals.exim.id)).toMatchObject({ recipient: originals.exim.to, action: 'failed' });
    expect(byId.get(originals.m365.id)).toMatchObject({ recipient: originals.m365.to, status: '5.1.10', action: 'failed' });
    expect(byId.get(originals.gmail.id)).toMatchObject({ recipient: originals.gmail.to, status: '5.1.1', action: 'failed' });
    expect(byId.get(originals.delayed.id)).toMatchObject({ recipient: originals.delayed.to, status: '4.2.2', action: 'delayed' });
    expect(doc.bounced).toHaveLength(5);
    expect(doc.skipped.map((s) => path.basename(s.file)).sort()).toEqual(['6-reply.eml', '7-auto.eml']);
    expect(doc.skipped.find((s) => s.file.endsWith('6-reply.eml'))?.reason).toMatch(/not a delivery status notification/);
    expect(doc.skipped.find((s) => s.file.endsWith('7-auto.eml'))?.reason).toMatch(/automatic reply/);

    const suppressed = (await suppressions()).filter((s) => s.source === 'bounce');
    expect(suppressed.map((s) => s.address).sort()).toEqual(
      [originals.postfix.to, originals.exim.to, originals.m365.to, originals.gmail.to].sort(),
    );
    expect(suppressed.find((s) => s.address === originals.m365.to)?.messageId).toBe(originals.m365.id);

    // the history shows the bounce with the remote server's words; the hard ones are failed now
    const show = await box.run(['history', 'show', String(originals.postfix.id), '--json']);
    expect(show.exitCode, err(show)).toBe(0);
    const h = json<{ status: string; attemptLog: { outcome: string; response: string | null; enhancedCode: string | null }[] }>(
      show.stdout,
    );
    expect(h.status).toBe('failed');
    expect(h.attemptLog.at(-1)).toMatchObject({ outcome: 'bounced', enhancedCode: '5.1.1' });
    expect(h.attemptLog.at(-1)?.response).toMatch(/User unknown in virtual mailbox table/);
    const delayed = json<{ status: string; attemptLog: { outcome: string }[] }>(
      (await box.run(['history', 'show', String(originals.delayed.id), '--json'])).stdout,
    );
    expect(delayed.status).toBe('sent');
    expect(delayed.attemptLog.at(-1)?.outcome).toBe('bounced');

    // moved: the next run finds nothing; importing the moved files again changes nothing
    expect(fs.readdirSync(inbox())).toEqual([]);
    expect(fs.readdirSync(done)).toHaveLength(7);
    const again = await box.run(['bounces', 'import', done, '--json']);
    expect(again.exitCode, err(again)).toBe(0);
    const twice = json<{ bounced: unknown[]; skipped: { reason: string }[] }>(again.stdout);
    expect(twice.bounced).toEqual([]);
    expect(twice.skipped.filter((s) => /already recorded/.test(s.reason))).toHaveLength(5);
    const log = json<{ attemptLog: unknown[] }>(
      (await box.run(['history', 'show', String(originals.gmail.id), '--json'])).stdout,
    ).attemptLog;
    expect(log).toHaveLength(2);
  });

  it('reads an mbox from standard input; a missing file exits 66', async () => {
    srv.reset();
    const r = await sendNow(['m.box@example.net'], 'Mbox one');
    const doc = json<{ id: number; messageId: string }>(r.stdout);
    const sysemailId = (await simpleParser(srv.messages[0])).headers.get('x-sysemail-id') as string;
    const o = { id: doc.id, messageId: doc.messageId, sysemailId, to: 'm.box@example.net', subject: 'Mbox one' };
    const mbox =
      `From MAILER-DAEMON Tue Dec  1 09:14:03 2026\n${fill('postfix-user-unknown.eml', o).replace(/\r\n/g, '\n')}\n` +
      `From ann@example.org Tue Dec  1 10:02:00 2026\n${fill('not-a-dsn.eml', o).replace(/\r\n/g, '\n')}\n`;
    const imp = await box.run(['bounces', 'import', '-', '--json'], { input: mbox });
    expect(imp.exitCode, err(imp)).toBe(0);
    const out = json<{ processed: number; bounced: { id: number }[]; skipped: { file: string }[] }>(imp.stdout);
    expect(out.processed).toBe(2);
    expect(out.bounced.map((b) => b.id)).toEqual([doc.id]);
    expect(out.skipped.map((s) => s.file)).toEqual(['-#2']);
    const missing = await box.run(['bounces', 'import', path.join(box.dir, 'nope')]);
    expect(missing.exitCode).toBe(66);
  });
});
