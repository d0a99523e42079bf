/**
 * `queue run --write-thread auto|on|off`: where the queue's writes run. Both lanes drain the same
 * queue to the same end; the JSON line says which one ran.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const PASSWORD = 'write-thread-e2e-pw';
let server: TestSmtpServer;
const boxes: Sandbox[] = [];

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
});
afterAll(async () => {
  await server.close();
  for (const b of boxes) b.cleanup();
});

/** A sandbox pointing at the test server with `n` messages queued. */
async function queued(n: number): Promise<Sandbox> {
  const sb = sandbox('sysemail-write-thread-e2e-');
  boxes.push(sb);
  sb.env.SYSEMAIL_SMTP_PASSWORD = PASSWORD;
  const set = await sb.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(server.port),
    'smtp.caFile',
    testPki().caFile,
    'smtp.username',
    'app',
  ]);
  expect(set.exitCode, set.stderr).toBe(0);
  const file = path.join(sb.dir, 'batch.jsonl');
  fs.writeFileSync(
    file,
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({ to: `w${i}@example.com`, from: 'app@example.com', subject: `w${i}`, text: `message ${i}` }),
    ).join('\n') + '\n',
  );
  const imp = await sb.run(['queue', 'import', file, '--json']);
  expect(imp.exitCode, imp.stderr).toBe(0);
  return sb;
}

function statusCounts(sb: Sandbox): Record<string, number> {
  const db = new Database(sb.db, { readonly: true });
  try {
    return Object.fromEntries(
      (db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as { status: string; n: number }[]).map((r) => [
        r.status,
        r.n,
      ]),
    );
  } finally {
    db.close();
  }
}

function subjectsArrived(): string[] {
  return server.messages.map((b) => /^Subject:\s*(\S+)/im.exec(b.subarray(0, 4096).toString('latin1'))?.[1] ?? '?');
}

describe('queue run --write-thread', () => {
  // 30 messages: below the 200 from which `auto` takes a worker thread, so `on` is what makes it one
  it.each([
    ['on', 'thread'],
    ['off', 'inline'],
    ['auto', 'inline'],
  ])('--write-thread %s drains the queue exactly once on the %s lane', { timeout: 60_000 }, async (mode, lane) => {
    const sb = await queued(30);
    server.reset();
    const r = await sb.run(['queue', 'run', '--write-thread', mode, '--concurrency', '3', '--json', '-v']);
    expect(r.exitCode, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(line).toMatchObject({ sent: 30, deferred: 0, failed: 0, remaining: 0, lane });
    expect(r.stderr).toContain(lane === 'thread' ? 'queue writes ran on a worker thread' : 'queue writes ran on the main thread');
    expect(statusCounts(sb)).toEqual({ sent: 30 });
    const arrived = subjectsArrived();
    expect(arrived).toHaveLength(30);
    expect(new Set(arrived).size).toBe(30);
  });

  it('a long queue with --write-thread off stays on the main thread', { timeout: 60_000 }, async () => {
    const sb = await queued(250);
    server.reset();
    const r = await sb.run(['queue', 'run', '--write-thread', 'off', '--concurrency', '4', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ sent: 250, remaining: 0, lane: 'inline' });
    expect(server.messages).toHaveLength(250);
  });

  it('an unknown mode is a usage error (64) naming the choices, and nothing is sent', async () => {
    const sb = await queued(2);
    server.reset();
    const r = await sb.run(['queue', 'run', '--write-thread', 'sometimes']);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('--write-thread');
    expect(r.stderr).toMatch(/auto, on, off/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(statusCounts(sb)).toEqual({ pending: 2 });
    expect(server.messages).toHaveLength(0);
  });
});
