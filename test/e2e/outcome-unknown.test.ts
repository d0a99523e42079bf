/**
 * A connection lost after the message's final dot and before the server's reply: the server may have
 * delivered it, so the distributor holds it with reason `outcome unknown` instead of sending it again,
 * and `queue release` sends it. The server is a raw script (no SMTP library drops a session there).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startScriptedSmtp } from '../helpers/scripted-smtp.js';
import { startSmtpServer } from '../helpers/smtp-server.js';

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

/** A sandbox whose SMTP relay is `srv`, with no sign-in. */
async function relaySandbox(srv: { port: number }, extra: string[] = []): Promise<Sandbox> {
  const sb = sandbox('sysemail-unknown-e2e-');
  sandboxes.push(sb);
  const set = await sb.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(srv.port),
    'smtp.security',
    'none',
    'smtp.authRequired',
    'false',
    ...extra,
  ]);
  expect(set.exitCode, set.stderr).toBe(0);
  return sb;
}

/** relaySandbox with one message queued. */
async function relay(srv: { port: number }, extra: string[] = []): Promise<Sandbox> {
  const sb = await relaySandbox(srv, extra);
  const q = await sb.run([
    'send',
    '--queue',
    '--to',
    'ann@example.com',
    '--from',
    'app@example.com',
    '--subject',
    'once',
    '--body',
    'hello',
  ]);
  expect(q.exitCode, q.stderr).toBe(0);
  return sb;
}

async function rows(sb: Sandbox): Promise<QueueRow[]> {
  const r = await sb.run(['queue', 'list', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return json<QueueRow[]>(r.stdout);
}

describe('outcome unknown: the connection is lost after the final dot', () => {
  it('the message is held with reason outcome unknown, not sent again; queue release sends it', { timeout: 60_000 }, async () => {
    const srv = await startScriptedSmtp({ ehlo: ['250-scripted', '250 8BITMIME'], transaction: { dropAfterDot: 1 } });
    servers.push(srv);
    const sb = await relay(srv);

    const run = await sb.run(['queue', 'run', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(srv.messages).toHaveLength(1);
    const [m] = await rows(sb);
    expect(m).toMatchObject({ status: 'held', reason: 'outcome unknown', attempts: 1 });
    expect(m.lastError?.code).toBe('ECONNECTION');

    // a second run leaves it alone: the server got it once and may deliver it
    const again = await sb.run(['queue', 'run', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(srv.messages).toHaveLength(1);

    const release = await sb.run(['queue', 'release', String(m.id), '--json']);
    expect(release.exitCode, release.stderr).toBe(0);
    const sent = await sb.run(['queue', 'run', '--json']);
    expect(sent.exitCode, sent.stderr).toBe(0);
    expect(json(sent.stdout.trim().split('\n').at(-1)!)).toMatchObject({ sent: 1 });
    expect(srv.messages).toHaveLength(2);
    const h = await sb.run(['history', 'show', String(m.id), '--json']);
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.stdout).toContain('"held"');
  });

  it(
    'a direct send whose outcome is unknown exits 75 saying so, and is held for the operator; queue release sends it',
    { timeout: 60_000 },
    async () => {
      const srv = await startScriptedSmtp({ ehlo: ['250-scripted', '250 8BITMIME'], transaction: { dropAfterDot: 1 } });
      servers.push(srv);
      const sb = await relaySandbox(srv);
      const send = await sb.run([
        'send',
        '--provider',
        'smtp',
        '--to',
        'ann@example.com',
        '--from',
        'app@example.com',
        '--subject',
        'once',
        '--body',
        'hello',
      ]);
      expect(send.exitCode, send.stderr).toBe(75);
      expect(send.stderr).toContain('may have been delivered');
      expect(send.stderr.trim().split('\n')).toHaveLength(1);
      expect(srv.messages).toHaveLength(1);
      const [m] = await rows(sb);
      expect(m).toMatchObject({ status: 'held', reason: 'outcome unknown' });
      // the fix the error names works
      const release = await sb.run(['queue', 'release', String(m.id), '--json']);
      expect(release.exitCode, release.stderr).toBe(0);
      const run = await sb.run(['queue', 'run', '--json']);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(srv.messages).toHaveLength(2);
    },
  );

  it('queue.outcomeUnknown retry: the message is deferred for a later attempt instead', { timeout: 60_000 }, async () => {
    const srv = await startScriptedSmtp({ ehlo: ['250-scripted', '250 8BITMIME'], transaction: { dropAfterDot: 1 } });
    servers.push(srv);
    const sb = await relay(srv, ['queue.outcomeUnknown', 'retry']);
    const run = await sb.run(['queue', 'run', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const [m] = await rows(sb);
    expect(m.status).toBe('deferred');
  });

  it(
    'a connection lost in the middle of the message is an ordinary temporary failure: deferred, not held',
    { timeout: 60_000 },
    async () => {
      const srv = await startSmtpServer({ tls: 'none', authOptional: true, refuse: { dropDuringData: true } });
      servers.push(srv);
      const sb = await relaySandbox(srv);
      // big enough that the client is still writing it when the server pulls the plug
      const big = path.join(sb.dir, 'big.txt');
      fs.writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 'x'));
      const q = await sb.run([
        'send',
        '--queue',
        '--to',
        'ann@example.com',
        '--from',
        'app@example.com',
        '--subject',
        's',
        '--body',
        'b',
        '--attach',
        big,
      ]);
      expect(q.exitCode, q.stderr).toBe(0);
      const run = await sb.run(['queue', 'run', '--json']);
      expect([0, 75]).toContain(run.exitCode);
      const [m] = await rows(sb);
      expect(m.status).toBe('deferred');
    },
  );
});
