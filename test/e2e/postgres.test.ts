/**
 * The commands on a PostgreSQL database, through the built binary: the same answers as on SQLite,
 * the password of the URL in no output, and the server's faults as exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { createTestDatabase, dbUrl, pgAvailable, testServer, type PgCluster } from '../helpers/postgres.js';

const available = await pgAvailable();

describe.skipIf(!available)('sysemail on PostgreSQL', () => {
  let sb: Sandbox;
  let server: PgCluster;
  let url: string;
  const run = (args: string[], env: Record<string, string> = {}) => sb.run(['--db', url, ...args], { noDb: true, env });
  const noPassword = (r: { stdout: string; stderr: string }) => {
    expect(r.stdout).not.toContain(server.password);
    expect(r.stderr).not.toContain(server.password);
  };

  beforeAll(async () => {
    server = (await testServer())!;
    url = (await createTestDatabase(server, 'e2e')).url;
    sb = sandbox('sysemail-pg-e2e-');
  });
  afterAll(() => sb?.cleanup());

  it('params, send --queue, queue status/list/hold, history: the same commands, the password never shown', async () => {
    let r = await run(['params', 'set', 'smtp.host', '127.0.0.1', 'smtp.port', '2525']);
    expect(r.exitCode).toBe(0);
    noPassword(r);
    r = await run(['params', 'get', 'smtp.port']);
    expect([r.exitCode, r.stdout.trim()]).toEqual([0, '2525']);
    r = await run(['params', 'set', 'smtp.port', 'many']);
    expect(r.exitCode).toBe(65);
    r = await run([
      'send',
      '--queue',
      '--to',
      'ann@example.com',
      '--from',
      'app@example.com',
      '--subject',
      'hi',
      '--body',
      'hello',
      '--json',
    ]);
    expect(r.exitCode).toBe(0);
    const sent = json<{ id: number; status: string }>(r.stdout);
    expect(sent.status).toBe('queued');
    r = await run(['queue', 'status', '--json']);
    const status = json<{ counts: Record<string, number>; database: { backend: string; version: string; location: string } }>(r.stdout);
    expect(status.counts).toMatchObject({ pending: 1, sent: 0 });
    // the backend and the server's version; the URL with its password masked
    expect(status.database.backend).toBe('postgresql');
    expect(status.database.version).toMatch(/^\d+(\.\d+)?/);
    expect(status.database.location).toContain('127.0.0.1');
    noPassword(r);
    r = await run(['queue', 'status']);
    expect(r.stdout).toMatch(/^database: PostgreSQL \d+/m);
    noPassword(r);
    r = await run(['diagnose', '--offline', '--json']);
    const database = json<{ checks: { id: string; status: string; detail: string }[] }>(r.stdout).checks.find((c) => c.id === 'database');
    expect(database).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^PostgreSQL \d+/) });
    noPassword(r);
    r = await run(['history', '--json']);
    expect(json<{ id: number; to: string[] }[]>(r.stdout)).toMatchObject([{ id: sent.id, status: 'pending', to: ['ann@example.com'] }]);
    r = await run(['queue', 'hold', String(sent.id), '--json']);
    expect(json<{ changed: number[] }>(r.stdout).changed).toEqual([sent.id]);
    r = await run(['queue', 'list', '--status', 'held', '--json']);
    expect(r.exitCode).toBe(0);
    noPassword(r);
  });

  it('faults: wrong password 77, server down 75, no database 78, and the password in none of them', async () => {
    const wrong = dbUrl(server, 'postgres', { password: 'Not-The-Password-1' });
    let r = await sb.run(['--db', wrong, 'params', 'list', '--json'], { noDb: true });
    expect(r.exitCode).toBe(77);
    expect(json<{ error: { code: string } }>(r.stderr).error.code).toBe('PG_AUTH_FAILED');
    expect(r.stderr).not.toContain('Not-The-Password-1');
    const down = `postgres://app:Not-The-Password-2@127.0.0.1:1/mail`;
    r = await sb.run(['--db', down, 'queue', 'status'], { noDb: true });
    expect(r.exitCode).toBe(75);
    expect(r.stderr).toContain('app:***@127.0.0.1:1');
    expect(r.stderr).not.toContain('Not-The-Password-2');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    r = await sb.run(['--db', dbUrl(server, 'sysemail_no_such_db'), 'params', 'list'], { noDb: true });
    expect(r.exitCode).toBe(78);
    noPassword(r);
  });

  it('takes the password from PGPASSWORD when the URL has none (SYSEMAIL_DB)', async () => {
    const r = await sb.run(['params', 'get', 'smtp.host'], {
      noDb: true,
      env: { SYSEMAIL_DB: dbUrl(server, new URL(url).pathname.slice(1), { password: null }), PGPASSWORD: server.password },
    });
    expect([r.exitCode, r.stdout.trim()]).toEqual([0, '127.0.0.1']);
  });
});
