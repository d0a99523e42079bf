/**
 * `queue run` on a PostgreSQL database, through the built binary against a real SMTP server: every
 * queued message delivered once (its attachment from the bytes stored in the database), two runs at
 * once sharing the queue without sending anything twice, and a refused password leaving the queue as
 * it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { createTestDatabase, pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const available = await pgAvailable();
const PASSWORD = 'pg-queue-e2e-pw';

function messageIds(srv: TestSmtpServer): string[] {
  return srv.messages.map((b) => /^Message-ID:\s*(<[^>]+>)/im.exec(b.subarray(0, 4096).toString('latin1'))?.[1] ?? '?');
}

describe.skipIf(!available)('queue run on PostgreSQL', () => {
  let pg: PgCluster;
  let smtp: TestSmtpServer;
  const sandboxes: Sandbox[] = [];

  beforeAll(async () => {
    pg = (await testServer())!;
    smtp = await startSmtpServer({ users: { app: PASSWORD } });
  });
  afterAll(async () => {
    await smtp?.close();
    for (const sb of sandboxes) sb.cleanup();
  });

  /** A fresh database whose parameters point at the test SMTP server, and a way to run commands on it. */
  async function setUp(prefix: string) {
    const { url } = await createTestDatabase(pg, prefix);
    const sb = sandbox('sysemail-pg-queue-');
    sandboxes.push(sb);
    sb.env.SYSEMAIL_SMTP_PASSWORD = PASSWORD;
    const run = (args: string[], env: Record<string, string> = {}) => sb.run(['--db', url, ...args], { noDb: true, env, timeout: 60_000 });
    const set = await run([
      'params',
      'set',
      'smtp.host',
      '127.0.0.1',
      'smtp.port',
      String(smtp.port),
      'smtp.security',
      'starttls',
      'smtp.caFile',
      testPki().caFile,
      'smtp.username',
      'app',
      'queue.spoolDir',
      path.join(sb.dir, 'spool'),
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
    const queue = async (n: number) => {
      const lines = Array.from({ length: n }, (_, i) =>
        JSON.stringify({ to: `r${i}@example.com`, from: 'app@example.com', subject: `m${i}`, text: `message ${i}` }),
      );
      const file = path.join(sb.dir, `batch-${n}.jsonl`);
      fs.writeFileSync(file, lines.join('\n') + '\n');
      const imp = await run(['queue', 'import', file, '--json']);
      expect(imp.exitCode, imp.stderr).toBe(0);
      expect(json(imp.stdout)).toMatchObject({ imported: n });
    };
    return { sb, url, run, queue };
  }

  it('send --queue then queue run: each message delivered once, the attachment from the database; history and status show it', async () => {
    smtp.reset();
    const { sb, run } = await setUp('qrun');
    const attachment = path.join(sb.dir, 'report.txt');
    fs.writeFileSync(attachment, 'quarterly figures ✓');
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await run([
        'send',
        '--queue',
        '--to',
        `ann${i}@example.com`,
        '--from',
        'app@example.com',
        '--subject',
        `hello ${i}`,
        '--body',
        `body ${i}`,
        ...(i === 0 ? ['--attach', attachment] : []),
        '--json',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
      ids.push(json<{ id: number }>(r.stdout).id);
    }
    // the queued copy is what gets sent: the file on this host is not read again
    fs.rmSync(attachment);
    expect(fs.readdirSync(path.join(sb.dir, 'spool')).length).toBeGreaterThan(0);
    fs.rmSync(path.join(sb.dir, 'spool'), { recursive: true });

    const r = await run(['queue', 'run', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ sent: 3, failed: 0, remaining: 0, lane: 'port' });
    expect(r.stdout + r.stderr).not.toContain(pg.password);

    expect(smtp.messages).toHaveLength(3);
    expect(new Set(messageIds(smtp)).size).toBe(3);
    const parsed = await Promise.all(smtp.messages.map((b) => simpleParser(b)));
    const withFile = parsed.find((p) => p.subject === 'hello 0')!;
    expect(withFile.attachments.map((a) => [a.filename, a.content.toString('utf8')])).toEqual([['report.txt', 'quarterly figures ✓']]);
    expect(parsed.filter((p) => p.attachments.length === 0).map((p) => p.subject)).toEqual(expect.arrayContaining(['hello 1', 'hello 2']));

    const h = await run(['history', '--json']);
    expect(json<{ id: number; status: string }[]>(h.stdout).map((m) => [m.id, m.status])).toEqual(
      expect.arrayContaining(ids.map((id) => [id, 'sent'])),
    );
    const s = await run(['queue', 'status', '--json']);
    expect(json(s.stdout)).toMatchObject({
      counts: { pending: 0, sending: 0, sent: 3 },
      lastRun: { sent: 3, failed: 0, error: null, state: 'finished' },
    });

    // nothing is due any more: a second run sends nothing
    const again = await run(['queue', 'run', '--json']);
    expect(json(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({ sent: 0, remaining: 0 });
    expect(smtp.messages).toHaveLength(3);
  });

  it('two queue run processes at once on one database deliver each message exactly once', async () => {
    smtp.reset();
    const { run, queue } = await setUp('qpair');
    const n = 60;
    await queue(n);
    const [a, b] = await Promise.all([
      run(['queue', 'run', '--json', '--concurrency', '2']),
      run(['queue', 'run', '--json', '--concurrency', '2']),
    ]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    const sentBy = (r: { stdout: string }) => json<{ sent: number }>(r.stdout.trim().split('\n').at(-1)!).sent;
    expect(sentBy(a) + sentBy(b)).toBe(n);
    expect(smtp.messages).toHaveLength(n);
    expect(new Set(messageIds(smtp)).size).toBe(n);
    const s = await run(['queue', 'status', '--json']);
    expect(json(s.stdout)).toMatchObject({ counts: { pending: 0, sending: 0, sent: n } });
  });

  it('a long queue is rendered ahead on a worker thread: each message arrives once, as stored; --write-thread off composes them here', async () => {
    smtp.reset();
    const { run, queue } = await setUp('qrender');
    const n = 300;
    await queue(n);
    const r = await run(['queue', 'run', '--json', '-v']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rendered = Number(/(\d+) message\(s\) were rendered ahead of sending on a worker thread/.exec(r.stderr)?.[1] ?? 0);
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThanOrEqual(n);
    expect(smtp.messages).toHaveLength(n);
    expect(new Set(messageIds(smtp)).size).toBe(n);
    // the queue's own Message-IDs (the rendering kept them): time.id.database@sender-domain
    expect(messageIds(smtp).every((id) => /^<[0-9a-z]+\.\d+\.[0-9a-f]{12}@example\.com>$/.test(id))).toBe(true);
    const bySubject = new Map<string, string>();
    for (const raw of smtp.messages) {
      const m = await simpleParser(raw);
      bySubject.set(m.subject ?? '', m.text ?? '');
    }
    expect(bySubject.size).toBe(n);
    for (let i = 0; i < n; i += 37) expect(bySubject.get(`m${i}`)?.trim()).toBe(`message ${i}`);

    smtp.reset();
    await queue(n);
    const off = await run(['queue', 'run', '--json', '-v', '--write-thread', 'off']);
    expect(off.exitCode, off.stderr).toBe(0);
    expect(off.stderr).toContain('queue writes ran on the main thread');
    expect(off.stderr).not.toContain('rendered ahead');
    expect(smtp.messages).toHaveLength(n);
  });

  it('a refused password exits 77 and leaves every message queued, untried', async () => {
    smtp.reset();
    const { run, queue } = await setUp('qauth');
    await queue(4);
    const r = await run(['queue', 'run', '--json'], { SYSEMAIL_SMTP_PASSWORD: 'wrong-password' });
    expect(r.exitCode, r.stderr).toBe(77);
    expect(r.stderr).not.toContain('wrong-password');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(smtp.messages).toHaveLength(0);
    const s = await run(['queue', 'status', '--json']);
    expect(json(s.stdout)).toMatchObject({ counts: { pending: 4, sending: 0, sent: 0, failed: 0 } });
    const list = await run(['queue', 'list', '--json']);
    expect(json<{ attempts: number }[]>(list.stdout).map((m) => m.attempts)).toEqual([0, 0, 0, 0]);
  });
});
