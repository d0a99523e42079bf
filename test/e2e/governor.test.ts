/**
 * The send governor end to end: two distributors at once against one real SMTP server, limits per
 * sending mailbox (the From address on a relay without sign-in) set with `governor set`.
 *
 * Time: each run is one pass (cron style), which never waits for a window: what does not fit is
 * deferred to when it will. Every run of a test starts and ends within a few seconds, so all the sends
 * a test sees fall inside one 60-second window; a mailbox limited to N per minute must have had
 * exactly N messages at the server (no more, and the governor did not stall it at fewer).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

const sandboxes: Sandbox[] = [];
const servers: TestSmtpServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const sb of sandboxes) sb.cleanup();
});

async function relay(srv: TestSmtpServer): Promise<Sandbox> {
  const sb = sandbox('sysemail-governor-e2e-');
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
  ]);
  expect(set.exitCode, set.stderr).toBe(0);
  return sb;
}

async function queue(sb: Sandbox, from: string, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ to: `r${i}@example.com`, from, subject: `m${i}`, text: `message ${i}` }),
  );
  const r = await sb.run(['queue', 'import', '-', '--json'], { input: lines.join('\n') + '\n' });
  expect(r.exitCode, r.stderr).toBe(0);
}

const fromCount = (srv: TestSmtpServer, from: string) => srv.envelopes.filter((e) => e.from === from).length;

interface KeyView {
  key: string;
  limits: { perMinute: number; concurrency: number; perDay: number };
  use: { lastMinute: number; connections: number; last24hRecipients: number };
  pausedUntil: string | null;
}

describe('send governor: per mailbox, shared by every run', () => {
  it(
    'two mailboxes limited to 10 and 20 a minute, two distributors at once: each gets exactly its limit',
    { timeout: 90_000 },
    async () => {
      const srv = await startSmtpServer({ tls: 'none', authOptional: true });
      servers.push(srv);
      const sb = await relay(srv);
      for (const [key, n] of [
        ['smtp:a@example.com', '10'],
        ['smtp:b@example.com', '20'],
      ]) {
        const r = await sb.run(['governor', 'set', key, '--per-minute', n]);
        expect(r.exitCode, r.stderr).toBe(0);
      }
      await queue(sb, 'a@example.com', 25);
      await queue(sb, 'b@example.com', 25);

      // two distributors at once, each twice in a row: four runs in a few seconds, one window
      const runs = await Promise.all(
        [0, 1].map(async () => {
          const out = [];
          for (let i = 0; i < 2; i++) out.push(await sb.run(['queue', 'run', '--json', '--concurrency', '4']));
          return out;
        }),
      );
      for (const r of runs.flat()) expect(r.exitCode, r.stderr).toBe(0);
      expect(fromCount(srv, 'a@example.com')).toBe(10);
      expect(fromCount(srv, 'b@example.com')).toBe(20);

      const status = await sb.run(['queue', 'status', '--json']);
      expect(status.exitCode, status.stderr).toBe(0);
      const doc = json<{ counts: Record<string, number>; governor: KeyView[] }>(status.stdout);
      expect(doc.counts).toMatchObject({ sent: 30, deferred: 20 });
      const a = doc.governor.find((k) => k.key === 'smtp:a@example.com')!;
      const b = doc.governor.find((k) => k.key === 'smtp:b@example.com')!;
      expect(a).toMatchObject({ limits: { perMinute: 10 }, use: { lastMinute: 10, last24hRecipients: 10 } });
      expect(b).toMatchObject({ limits: { perMinute: 20 }, use: { lastMinute: 20, last24hRecipients: 20 } });

      const list = await sb.run(['queue', 'list', '--status', 'deferred', '--json']);
      const reasons = json<{ reason: string }[]>(list.stdout).map((m) => m.reason);
      expect(reasons.filter((r) => /^throttled: smtp:a@example\.com per-minute limit 10 /.test(r))).toHaveLength(15);
      expect(reasons.filter((r) => /^throttled: smtp:b@example\.com per-minute limit 20 /.test(r))).toHaveLength(5);
    },
  );

  it('432 4.3.2 on one mailbox pauses only that mailbox, for every run', { timeout: 90_000 }, async () => {
    const srv = await startSmtpServer({
      tls: 'none',
      authOptional: true,
      refuse: { mail: { 'a@example.com': '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' } },
    });
    servers.push(srv);
    const sb = await relay(srv);
    await queue(sb, 'a@example.com', 5);
    await queue(sb, 'b@example.com', 5);

    const first = await sb.run(['queue', 'run', '--json', '--concurrency', '1']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(fromCount(srv, 'b@example.com')).toBe(5);
    const triedA = srv.commands.filter((c) => c.startsWith('MAIL')).length - 5;
    expect(triedA).toBe(1);

    // another distributor (another process) does not try that mailbox again: the pause is in the database
    const second = await sb.run(['queue', 'run', '--json']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(srv.commands.filter((c) => c.startsWith('MAIL')).length - 5).toBe(1);

    const st = await sb.run(['queue', 'status', '--json']);
    const status = json<{ governor: KeyView[] }>(st.stdout);
    const a = status.governor.find((k) => k.key === 'smtp:a@example.com')!;
    const b = status.governor.find((k) => k.key === 'smtp:b@example.com')!;
    expect(a.pausedUntil).not.toBeNull();
    // a mailbox without limits is listed only once it has something to show
    expect(b?.pausedUntil ?? null).toBeNull();
    const rows = json<{ status: string; reason: string }[]>((await sb.run(['queue', 'list', '--json'])).stdout);
    expect(rows).toHaveLength(5);
    expect(rows.every((r) => r.status === 'deferred' && r.reason.startsWith('paused'))).toBe(true);

    // the administrator lifts the pause
    const reset = await sb.run(['governor', 'reset', 'smtp:a@example.com', '--json']);
    expect(reset.exitCode, reset.stderr).toBe(0);
    expect(json(reset.stdout)).toMatchObject({ changed: true });
  });

  it('a concurrency limit of 3: the server never sees a fourth connection for that mailbox', { timeout: 90_000 }, async () => {
    // each message held 300 ms before its 250: sends overlap unless something holds them apart
    const srv = await startSmtpServer({ tls: 'none', authOptional: true, delayMs: 300 });
    servers.push(srv);
    const sb = await relay(srv);
    const set = await sb.run(['governor', 'set', 'smtp:a@example.com', '--concurrency', '3']);
    expect(set.exitCode, set.stderr).toBe(0);
    await queue(sb, 'a@example.com', 16);
    const runs = await Promise.all([0, 1].map(() => sb.run(['queue', 'run', '--json', '--concurrency', '5'])));
    for (const r of runs) expect(r.exitCode, r.stderr).toBe(0);
    expect(fromCount(srv, 'a@example.com')).toBe(16);
    expect(srv.maxOpen).toBeLessThanOrEqual(3);
    expect(srv.maxOpen).toBeGreaterThan(1);
  });

  it('governor set refuses a bad key or limit with 65 and changes nothing', async () => {
    const srv = await startSmtpServer({ tls: 'none', authOptional: true });
    servers.push(srv);
    const sb = await relay(srv);
    const bad = await sb.run(['governor', 'set', 'a@example.com', '--per-minute', '5', '--json']);
    expect(bad.exitCode).toBe(65);
    expect(json<{ error: { code: string } }>(bad.stderr).error.code).toBe('GOVERNOR_KEY_INVALID');
    const limit = await sb.run(['governor', 'set', 'smtp:a@example.com', '--per-minute', '5', '--per-day', 'lots', '--json']);
    expect(limit.exitCode).toBe(65);
    expect(json<{ error: { code: string } }>(limit.stderr).error.code).toBe('GOVERNOR_LIMIT_INVALID');
    const list = json<{ keys: KeyView[] }>((await sb.run(['governor', 'list', '--json'])).stdout);
    expect(list.keys).toEqual([]);
  });
});
