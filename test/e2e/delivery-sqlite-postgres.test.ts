/**
 * Idempotency keys, due times, expiry and priorities through the built binary, on SQLite and on
 * PostgreSQL: the same `send --queue --idempotency-key` run five times at once queues one message and
 * answers its id five times; a key reused by another message exits 65 naming the first; bad times are
 * refused before anything is stored; `queue import` skips the lines already queued with their key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';
import { createTestDatabase, pgAvailable, testServer } from '../helpers/postgres.js';

interface Target {
  name: string;
  /** The --db value of a fresh database. */
  database(sb: Sandbox): Promise<string>;
}

const TARGETS: Target[] = [
  { name: 'sqlite', database: async (sb) => path.join(sb.dir, `db-${Math.random().toString(36).slice(2)}.sqlite`) },
];
if (await pgAvailable())
  TARGETS.push({ name: 'postgres', database: async () => (await createTestDatabase((await testServer())!, 'once')).url });

interface SendJson {
  id: number;
  status: string;
  duplicate: boolean;
  dueAt: string | null;
  expiresAt: string | null;
  priority: string;
}

describe.each(TARGETS)('delivery options on $name', (target) => {
  let sb: Sandbox;
  let db: string;
  const run = (args: string[], input?: string) => sb.run(['--db', db, ...args], { noDb: true, ...(input !== undefined ? { input } : {}) });
  const send = (extra: string[], to = 'ann@example.com') =>
    run(['send', '--to', to, '--from', 'app@example.com', '--subject', 'Invoice 42', '--body', 'Your invoice', '--json', ...extra]);

  beforeAll(async () => {
    sb = sandbox('sysemail-once-');
    db = await target.database(sb);
    expect((await run(['params', 'set', 'sender.default', 'app@example.com'])).exitCode).toBe(0);
  });
  afterAll(() => sb?.cleanup());

  it('five concurrent sends with one idempotency key: one message, five exit-0 answers with its id', async () => {
    const runs = await Promise.all(Array.from({ length: 5 }, () => send(['--queue', '--idempotency-key', 'invoice-42'])));
    for (const r of runs) expect([r.exitCode, r.stderr]).toEqual([0, '']);
    const answers = runs.map((r) => json<SendJson>(r.stdout));
    expect(new Set(answers.map((a) => a.id)).size).toBe(1);
    expect(answers.filter((a) => !a.duplicate)).toHaveLength(1);
    expect(answers.every((a) => a.status === 'queued')).toBe(true);
    const list = json<{ id: number; idempotencyKey: string | null }[]>((await run(['queue', 'list', '--json'])).stdout);
    expect(list.filter((m) => m.idempotencyKey === 'invoice-42').map((m) => m.id)).toEqual([answers[0].id]);
  });

  it('the key reused for another message exits 65 naming the first id, and queues nothing', async () => {
    const first = json<SendJson>((await send(['--queue', '--idempotency-key', 'invoice-43'])).stdout);
    const before = json<unknown[]>((await run(['queue', 'list', '--json'])).stdout).length;
    const r = await send(['--queue', '--idempotency-key', 'invoice-43'], 'bob@example.com');
    expect(r.exitCode).toBe(65);
    const err = json<{ error: { code: string; message: string } }>(r.stderr).error;
    expect(err.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(err.message).toContain(`message ${first.id}`);
    expect(json<unknown[]>((await run(['queue', 'list', '--json'])).stdout)).toHaveLength(before);
  });

  it('--at queues for later (without --queue too), --expires and --priority are stored and listed', async () => {
    const at = new Date(Date.now() + 3 * 86_400_000);
    at.setUTCSeconds(0, 0);
    const r = await send(['--at', at.toISOString().slice(0, 16) + '+00:00', '--expires', '2h', '--priority', 'high']);
    expect(r.exitCode).toBe(0);
    const out = json<SendJson>(r.stdout);
    expect([out.status, out.dueAt, out.expiresAt, out.priority]).toEqual([
      'queued',
      at.toISOString(),
      new Date(at.getTime() + 2 * 3_600_000).toISOString(),
      'high',
    ]);
    const list = json<{ id: number; dueAt: string; expiresAt: string | null; priority: string }[]>(
      (await run(['queue', 'list', '--json'])).stdout,
    );
    expect(list.find((m) => m.id === out.id)).toMatchObject({ dueAt: at.toISOString(), expiresAt: out.expiresAt, priority: 'high' });
    const text = (await run(['queue', 'list'])).stdout;
    expect(text).toContain(at.toISOString());
  });

  it('bad times, priorities and keys are refused before anything is stored', async () => {
    const before = json<unknown[]>((await run(['queue', 'list', '--json'])).stdout).length;
    const cases: [string[], number, string][] = [
      [['--at', '2020-01-01T08:00+01:00'], 65, 'SCHEDULE_IN_PAST'],
      [['--at', 'tomorrow'], 64, 'SCHEDULE_INVALID'],
      [['--at', '2026-02-30T08:00Z'], 64, 'SCHEDULE_INVALID'],
      [['--in', 'soon'], 64, 'DURATION_INVALID'],
      [['--at', '2099-12-24T08:00+01:00', '--in', '2h'], 64, 'SCHEDULE_INVALID'],
      [['--at', '2099-12-24T08:00+01:00', '--expires', '2099-12-24T07:00+01:00'], 65, 'SCHEDULE_EXPIRES_FIRST'],
      [['--queue', '--expires', 'whenever'], 64, 'SCHEDULE_INVALID'],
      [['--queue', '--priority', 'urgent'], 64, 'PRIORITY_INVALID'],
      [['--queue', '--idempotency-key', ''], 64, 'IDEMPOTENCY_KEY_INVALID'],
      [['--provider', 'eml', '--idempotency-key', 'k'], 64, 'IDEMPOTENCY_NEEDS_QUEUE'],
    ];
    for (const [flags, code, errorCode] of cases) {
      const r = await send(flags);
      expect([flags.join(' '), r.exitCode, json<{ error: { code: string } }>(r.stderr).error.code]).toEqual([
        flags.join(' '),
        code,
        errorCode,
      ]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(json<unknown[]>((await run(['queue', 'list', '--json'])).stdout)).toHaveLength(before);
  });

  it('queue import: idempotencyKey, sendAt, expiresAt, priority; a second import of the same lines queues nothing', async () => {
    const lines = [
      { to: 'a@example.com', subject: 'a', text: 'x', idempotencyKey: 'imp-1', priority: 'low' },
      { to: 'b@example.com', subject: 'b', text: 'x', idempotencyKey: 'imp-2', sendAt: '2099-01-01T00:00Z', expiresAt: '1d' },
      { to: 'c@example.com', subject: 'c', text: 'x' },
    ]
      .map((l) => JSON.stringify(l))
      .join('\n');
    const file = path.join(sb.dir, 'batch.jsonl');
    fs.writeFileSync(file, lines);
    let r = await run(['queue', 'import', file, '--json']);
    expect(r.exitCode).toBe(0);
    expect(json(r.stdout)).toMatchObject({ imported: 3, duplicates: 0 });
    r = await run(['queue', 'import', file, '--json']);
    expect(json(r.stdout)).toMatchObject({ imported: 1, duplicates: 2 });
    const list = json<{ to: string[]; dueAt: string; expiresAt: string | null; priority: string; idempotencyKey: string | null }[]>(
      (await run(['queue', 'list', '--json'])).stdout,
    );
    expect(list.filter((m) => m.idempotencyKey === 'imp-1').map((m) => m.priority)).toEqual(['low']);
    expect(list.filter((m) => m.idempotencyKey === 'imp-2').map((m) => [m.dueAt, m.expiresAt])).toEqual([
      ['2099-01-01T00:00:00.000Z', '2099-01-02T00:00:00.000Z'],
    ]);

    // a key reused by another message, a bad sendAt, a bad priority: nothing is imported
    const bad = [
      { to: 'z@example.com', subject: 'changed', text: 'x', idempotencyKey: 'imp-1' },
      { to: 'y@example.com', subject: 'y', text: 'x' },
    ]
      .map((l) => JSON.stringify(l))
      .join('\n');
    const before = list.length;
    r = await run(['queue', 'import', '-', '--json'], bad);
    expect(r.exitCode).toBe(65);
    expect(json<{ error: { code: string; message: string } }>(r.stderr).error).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(json<{ error: { message: string } }>(r.stderr).error.message).toContain('line 1');
    r = await run(
      ['queue', 'import', '-', '--json'],
      '{"to":"q@example.com","subject":"q","text":"x","sendAt":"later","priority":"top"}\n',
    );
    expect(r.exitCode).toBe(65);
    expect(json<{ error: { message: string } }>(r.stderr).error.message).toMatch(/line 1: sendAt must be an ISO 8601/);
    expect(json<unknown[]>((await run(['queue', 'list', '--json'])).stdout)).toHaveLength(before);
  });

  it('a template gives its messages a default priority, which --priority overrides', async () => {
    const body = path.join(sb.dir, 'alert.txt');
    fs.writeFileSync(body, 'Hello %name%');
    expect((await run(['template', 'add', 'alert', '--subject', 'Alert', '--body-file', body, '--priority', 'high'])).exitCode).toBe(0);
    expect((await run(['template', 'add', 'bad', '--subject', 'x', '--body-file', body, '--priority', 'asap'])).exitCode).toBe(64);
    expect(json<{ priority: string }>((await run(['template', 'show', 'alert', '--json'])).stdout).priority).toBe('high');
    const data = path.join(sb.dir, 'data.json');
    fs.writeFileSync(data, '{"name":"Ann"}');
    const viaTemplate = (extra: string[]) =>
      run(['send', '--to', 'ann@example.com', '--template', 'alert', '--data', data, '--queue', '--json', ...extra]);
    expect(json<SendJson>((await viaTemplate([])).stdout).priority).toBe('high');
    expect(json<SendJson>((await viaTemplate(['--priority', 'low'])).stdout).priority).toBe('low');
    expect((await run(['users', 'add', 'ann', '--email', 'ann@example.com'])).exitCode).toBe(0);
    const n = await run(['notify', '--template', 'alert', '--user', 'ann', '--data', data, '--json', '--idempotency-key', 'alert-ann']);
    expect(json<{ id: number; priority: string; duplicate: boolean }>(n.stdout)).toMatchObject({ priority: 'high', duplicate: false });
    const again = await run(['notify', '--template', 'alert', '--user', 'ann', '--data', data, '--json', '--idempotency-key', 'alert-ann']);
    expect(json<{ id: number; duplicate: boolean }>(again.stdout)).toMatchObject({
      id: json<{ id: number }>(n.stdout).id,
      duplicate: true,
    });
    expect((await run(['template', 'set', 'alert', '--priority', ''])).exitCode).toBe(0);
    expect(json<SendJson>((await viaTemplate([])).stdout).priority).toBe('normal');
  });
});
