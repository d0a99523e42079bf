import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const USER = 'app@example.com';
const PASSWORD = 'e2e-password-123';
let box: Sandbox;
let srv: TestSmtpServer;
let smtpEnv: Record<string, string>;

function rows<T = Record<string, unknown>>(sql: string): T[] {
  if (!fs.existsSync(box.db)) return [];
  const db = new Database(box.db, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}
const messageCount = () => rows<{ n: number }>('SELECT count(*) AS n FROM messages')[0]?.n ?? 0;
const out = (r: { stdout?: unknown }) => String((r.stdout as string | undefined) ?? '');
const err = (r: { stderr?: unknown }) => String((r.stderr as string | undefined) ?? '');

beforeAll(async () => {
  box = sandbox('sysemail-send-e2e-');
  srv = await startSmtpServer({ users: { [USER]: PASSWORD } });
  const set = await box.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(srv.port),
    'smtp.username',
    USER,
    'smtp.caFile',
    testPki().caFile,
  ]);
  expect(set.exitCode, err(set)).toBe(0);
  smtpEnv = { SYSEMAIL_SMTP_PASSWORD: PASSWORD };
});

afterAll(async () => {
  await srv.close();
  box.cleanup();
});

describe('send (built binary)', () => {
  it('--provider eml writes an .eml for the email app (X-Unsent)', async () => {
    const r = await box.run([
      'send',
      '--provider',
      'eml',
      '--to',
      'Ann Lee <ann@example.com>',
      '--from',
      'me@example.com',
      '--subject',
      'Grüße',
      '--body',
      'Hallo ✓',
      '--json',
    ]);
    expect(r.exitCode, err(r)).toBe(0);
    const doc = json<{ id: number; status: string; provider: string; messageId: string; file: string }>(out(r));
    expect(doc).toMatchObject({ status: 'sent', provider: 'eml' });
    expect(doc.file.startsWith(path.join(path.dirname(box.db), 'outbox'))).toBe(true);
    const raw = fs.readFileSync(doc.file);
    expect(raw.toString('latin1')).toMatch(/^X-Unsent: 1\r$/m);
    const parsed = await simpleParser(raw);
    expect(parsed.subject).toBe('Grüße');
    expect(rows('SELECT status, provider FROM messages WHERE id = ' + doc.id)).toEqual([{ status: 'sent', provider: 'eml' }]);
  });

  it('sends over SMTP (STARTTLS, test CA from smtp.caFile, password from SYSEMAIL_SMTP_PASSWORD) and records message and attempt', async () => {
    srv.reset();
    const attachment = path.join(box.dir, 'Bericht-März.txt');
    fs.writeFileSync(attachment, 'Inhalt ✓');
    const r = await box.run(
      [
        'send',
        '--to',
        'ann@example.com,bob@example.com',
        '--cc',
        'carol@example.com',
        '--from',
        USER,
        '--subject',
        'Rechnung',
        '--body',
        'Anbei.',
        '--attach',
        attachment,
        '--provider',
        'smtp',
        '--json',
      ],
      { env: smtpEnv },
    );
    expect(r.exitCode, err(r)).toBe(0);
    const doc = json<{ id: number; status: string; provider: string; messageId: string; file: string | null }>(out(r));
    expect(doc).toMatchObject({ status: 'sent', provider: 'smtp', file: null });
    expect(srv.messages).toHaveLength(1);
    expect(srv.envelopes[0].to.sort()).toEqual(['ann@example.com', 'bob@example.com', 'carol@example.com']);
    const parsed = await simpleParser(srv.messages[0]);
    expect(parsed.messageId).toBe(doc.messageId);
    expect(parsed.attachments[0].filename).toBe('Bericht-März.txt');
    const [m] = rows<{ status: string; sent_provider: string; attempts: number }>(
      `SELECT status, sent_provider, attempts FROM messages WHERE id = ${doc.id}`,
    );
    expect(m).toEqual({ status: 'sent', sent_provider: 'smtp', attempts: 1 });
    const attempts = rows<{ outcome: string; provider: string; response: string }>(
      `SELECT outcome, provider, response FROM attempts WHERE message_id = ${doc.id}`,
    );
    expect(attempts).toEqual([{ outcome: 'sent', provider: 'smtp', response: expect.stringMatching(/^250 /) }]);
    expect(JSON.stringify(rows('SELECT * FROM messages')) + JSON.stringify(rows('SELECT * FROM attempts'))).not.toContain(PASSWORD);
  });

  describe('bad input: right exit code, nothing stored, nothing sent', () => {
    const bad: { name: string; args: (dir: string) => string[]; setup?: () => Promise<void>; exit: number; says: RegExp }[] = [
      {
        name: 'malformed address → 65',
        args: () => ['--to', 'ann@example.com, not an address'],
        exit: 65,
        says: /not a valid email address/,
      },
      {
        name: 'CR/LF in the subject → 65',
        args: () => ['--to', 'ann@example.com', '--subject', 'Hi\r\nBcc: victim@example.com'],
        exit: 65,
        says: /line break/,
      },
      { name: 'CR/LF in a display name → 65', args: () => ['--to', 'Ann\r\nX-Evil: 1 <ann@example.com>'], exit: 65, says: /line break/ },
      {
        name: 'missing attachment → 66',
        args: (dir) => ['--to', 'ann@example.com', '--attach', path.join(dir, 'nope.pdf')],
        exit: 66,
        says: /nope\.pdf cannot be read \(no such file\)/,
      },
      {
        name: 'missing body file → 66',
        args: (dir) => ['--to', 'ann@example.com', '--body-file', path.join(dir, 'nope.txt')],
        exit: 66,
        says: /nope\.txt/,
      },
    ];
    for (const c of bad) {
      it(c.name, async () => {
        const before = messageCount();
        srv.reset();
        const args = c.args(box.dir);
        const body = args.includes('--body-file') ? [] : ['--body', 'y'];
        const subject = args.includes('--subject') ? [] : ['--subject', 'x'];
        const r = await box.run(['send', '--from', USER, ...subject, ...body, '--provider', 'smtp', ...args], { env: smtpEnv });
        expect(r.exitCode, err(r)).toBe(c.exit);
        expect(err(r)).toMatch(c.says);
        expect(err(r).trim().split('\n')).toHaveLength(1);
        expect(messageCount()).toBe(before);
        expect(srv.sessions).toHaveLength(0);
      });
    }

    it('oversize message → 65 showing both sizes', async () => {
      const file = path.join(box.dir, 'big.bin');
      fs.writeFileSync(file, Buffer.alloc(200 * 1024, 1));
      const before = messageCount();
      srv.reset();
      const r = await box.run(
        ['send', '--to', 'ann@example.com', '--from', USER, '--subject', 'x', '--body', 'y', '--attach', file, '--provider', 'smtp'],
        {
          env: { ...smtpEnv, SYSEMAIL_LIMITS_MAX_MESSAGE_MB: '0.1' },
        },
      );
      expect(r.exitCode, err(r)).toBe(65);
      expect(err(r)).toMatch(/about 0\.2\d MB .*limits\.maxMessageMb \(0\.1 MB\)/);
      expect(messageCount()).toBe(before);
      expect(srv.sessions).toHaveLength(0);
    });

    it('bad input with --queue also stores nothing', async () => {
      const before = messageCount();
      const r = await box.run(['send', '--to', 'bad@', '--from', USER, '--subject', 'x', '--body', 'y', '--queue']);
      expect(r.exitCode).toBe(65);
      expect(messageCount()).toBe(before);
    });

    it('no sender anywhere → 78 with the fix', async () => {
      const before = messageCount();
      const r = await box.run(['send', '--to', 'ann@example.com', '--subject', 'x', '--body', 'y', '--provider', 'eml']);
      expect(r.exitCode).toBe(78);
      expect(err(r)).toContain('sender.default');
      expect(messageCount()).toBe(before);
    });
  });

  it('--queue stores a pending message with its attachments spooled privately', async () => {
    const attachment = path.join(box.dir, 'later.txt');
    fs.writeFileSync(attachment, 'for the distributor');
    const r = await box.run([
      'send',
      '--to',
      'ann@example.com',
      '--from',
      USER,
      '--subject',
      'Later',
      '--body',
      'b',
      '--attach',
      attachment,
      '--queue',
      '--json',
    ]);
    expect(r.exitCode, err(r)).toBe(0);
    const doc = json<{ id: number; status: string; provider: string | null }>(out(r));
    expect(doc).toMatchObject({ status: 'queued', provider: null });
    const [m] = rows<{ status: string; provider: string | null; attachments: string }>(
      `SELECT status, provider, attachments FROM messages WHERE id = ${doc.id}`,
    );
    expect(m.status).toBe('pending');
    expect(m.provider).toBeNull();
    const [stored] = JSON.parse(m.attachments) as { filename: string; path: string }[];
    expect(stored.filename).toBe('later.txt');
    expect(stored.path.startsWith(path.join(path.dirname(box.db), 'spool'))).toBe(true);
    expect(fs.readFileSync(stored.path, 'utf8')).toBe('for the distributor');
    expect(fs.statSync(path.dirname(stored.path)).mode & 0o777).toBe(0o700);
    fs.rmSync(attachment);
    expect(fs.existsSync(stored.path)).toBe(true);
    // deleting the message deletes its spooled copy, and nothing else in the spool
    const del = await box.run(['queue', 'delete', String(doc.id)]);
    expect(del.exitCode, err(del)).toBe(0);
    expect(fs.existsSync(path.dirname(stored.path))).toBe(false);
    expect(fs.existsSync(path.join(path.dirname(box.db), 'spool'))).toBe(true);
  });

  it("queue import spools each line's attachments too; a refused import leaves no copy behind", async () => {
    const spoolRoot = path.join(path.dirname(box.db), 'spool');
    const before = fs.existsSync(spoolRoot) ? fs.readdirSync(spoolRoot).length : 0;
    const report = path.join(box.dir, 'report.csv');
    fs.writeFileSync(report, 'a,b\n1,2\n');
    const lines = path.join(box.dir, 'with-attachments.jsonl');
    fs.writeFileSync(
      lines,
      [
        JSON.stringify({ to: 'ann@example.com', from: USER, subject: 'Report 1', text: 't', attachments: [report] }),
        JSON.stringify({
          to: 'bob@example.com',
          from: USER,
          subject: 'Report 2',
          text: 't',
          attachments: [{ path: report, filename: 'renamed.csv' }],
        }),
      ].join('\n') + '\n',
    );
    const r = await box.run(['queue', 'import', lines, '--json']);
    expect(r.exitCode, err(r)).toBe(0);
    const { firstId, lastId } = json<{ firstId: number; lastId: number }>(out(r));
    const stored = rows<{ attachments: string }>(
      `SELECT attachments FROM messages WHERE id BETWEEN ${firstId} AND ${lastId} ORDER BY id`,
    ).map((m) => (JSON.parse(m.attachments) as { filename: string; path: string }[])[0]);
    expect(stored.map((a) => a.filename)).toEqual(['report.csv', 'renamed.csv']);
    for (const a of stored) {
      expect(path.dirname(path.dirname(a.path))).toBe(spoolRoot);
      expect(fs.readFileSync(a.path, 'utf8')).toBe('a,b\n1,2\n');
      expect(fs.statSync(a.path).mode & 0o777).toBe(0o600);
    }
    expect(new Set(stored.map((a) => path.dirname(a.path))).size).toBe(2);
    expect(fs.readdirSync(spoolRoot)).toHaveLength(before + 2);

    // one bad line: nothing stored, nothing copied
    fs.appendFileSync(lines, JSON.stringify({ to: 'not an address', from: USER, subject: 's', text: 't', attachments: [report] }) + '\n');
    const bad = await box.run(['queue', 'import', lines]);
    expect(bad.exitCode).toBe(65);
    expect(fs.readdirSync(spoolRoot)).toHaveLength(before + 2);
  });

  it('a wrong password → 77, recorded as failed with the server words, the password nowhere', async () => {
    srv.reset();
    const r = await box.run(
      ['send', '--to', 'ann@example.com', '--from', USER, '--subject', 'x', '--body', 'y', '--provider', 'smtp', '--json'],
      { env: { SYSEMAIL_SMTP_PASSWORD: 'wrong-one' } },
    );
    expect(r.exitCode).toBe(77);
    const e = json<{ error: { code: string; exitCode: number; data: { id: number } } }>(err(r));
    expect(e.error).toMatchObject({ code: 'AUTH_REFUSED', exitCode: 77 });
    const [m] = rows<{ status: string }>(`SELECT status FROM messages WHERE id = ${e.error.data.id}`);
    expect(m.status).toBe('failed');
    const [a] = rows<{ outcome: string; response_code: number; response: string }>(
      `SELECT outcome, response_code, response FROM attempts WHERE message_id = ${e.error.data.id}`,
    );
    expect(a).toMatchObject({ outcome: 'failed', response_code: 535 });
    expect(err(r) + JSON.stringify(rows('SELECT * FROM attempts'))).not.toContain('wrong-one');
    expect(srv.messages).toHaveLength(0);
  });
});

describe('test-email (built binary)', () => {
  it('--quit-after auth --json: ok with every phase, nothing sent', async () => {
    srv.reset();
    const r = await box.run(['test-email', '--provider', 'smtp', '--quit-after', 'auth', '--json'], { env: smtpEnv });
    expect(r.exitCode, err(r)).toBe(0);
    const doc = json<{ ok: boolean; phases: { phase: string; ok: boolean; ms: number; detail: string }[]; diagnosis: unknown[] }>(out(r));
    expect(doc.ok).toBe(true);
    expect(doc.phases.map((p) => p.phase)).toEqual(['connect', 'tls', 'ehlo', 'auth']);
    expect(doc.phases.every((p) => p.ok && typeof p.ms === 'number')).toBe(true);
    expect(doc.diagnosis).toEqual([]);
    expect(out(r)).not.toContain(PASSWORD);
    expect(srv.messages).toHaveLength(0);
  });

  it('prints each phase with ✔ in text mode', async () => {
    const r = await box.run(['test-email', '--provider', 'smtp', '--quit-after', 'ehlo'], { env: smtpEnv });
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toMatch(/^✔ connect .* ms .*220/m);
    expect(out(r)).toMatch(/^✔ ehlo .*STARTTLS|AUTH/m);
  });

  it('a wrong password → 77 with the failed phase and a diagnosis', async () => {
    const r = await box.run(['test-email', '--provider', 'smtp', '--quit-after', 'auth', '--json'], {
      env: { SYSEMAIL_SMTP_PASSWORD: 'wrong-one' },
    });
    expect(r.exitCode).toBe(77);
    const doc = json<{ ok: boolean; phases: { phase: string; ok: boolean }[]; diagnosis: { id: string }[] }>(out(r));
    expect(doc.ok).toBe(false);
    expect(doc.phases.at(-1)).toMatchObject({ phase: 'auth', ok: false });
    expect(doc.diagnosis.map((d) => d.id)).toContain('BAD_CREDENTIALS');
  });

  it('an unknown --quit-after value is a usage error', async () => {
    const r = await box.run(['test-email', '--quit-after', 'data']);
    expect(r.exitCode).toBe(64);
  });
});
