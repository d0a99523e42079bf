import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
const stdout = (r: { stdout?: unknown }) => String((r.stdout as string | undefined) ?? '');
const stderr = (r: { stderr?: unknown }) => String((r.stderr as string | undefined) ?? '');

function file(name: string, text: string): string {
  const p = path.join(sb.dir, name);
  fs.writeFileSync(p, text);
  return p;
}

function messageCount(): number {
  const db = new Database(sb.db, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  sb = sandbox();
  const body = file('approval.txt', 'Hello %name%,\n%doc% is waiting for you (100%% yours).\n');
  const html = file('approval.html', '<p>Hello %name%, <b>%doc%</b> waits.</p>');
  const add = await sb.run([
    'template',
    'add',
    'approval',
    '--subject',
    'Approve %doc%',
    '--body-file',
    body,
    '--sender',
    'workflow@example.com',
  ]);
  expect(add.exitCode, stderr(add)).toBe(0);
  const org = await sb.run([
    'template',
    'add',
    'approval',
    '--org',
    'usmf',
    '--subject',
    '[USMF] %doc%',
    '--html-file',
    html,
    '--text-file',
    body,
    '--sender',
    'usmf@example.com',
  ]);
  expect(org.exitCode, stderr(org)).toBe(0);
  for (const args of [
    ['users', 'add', 'ada', '--email', 'ada@example.com', '--name', 'Ada'],
    ['users', 'add', 'bob', '--email', 'bob@example.com', '--notify-email', 'no'],
  ]) {
    const r = await sb.run(args);
    expect(r.exitCode, stderr(r)).toBe(0);
  }
});
afterAll(() => sb.cleanup());

describe('template on the built binary', () => {
  it('lists and shows templates as JSON, the organisation’s own winning', async () => {
    const list = await sb.run(['template', 'list', '--org', 'usmf', '--json']);
    expect(list.exitCode).toBe(0);
    expect(json<{ templates: { id: string; org: string | null }[] }>(stdout(list)).templates).toEqual([
      expect.objectContaining({ id: 'approval', org: 'usmf' }),
    ]);
    const show = await sb.run(['template', 'show', 'approval', '--org', 'demf', '--json']);
    expect(json(stdout(show))).toMatchObject({ id: 'approval', org: null, placeholders: ['doc', 'name'] });
  });

  it('refuses a template that does not parse with 65 and stores nothing', async () => {
    const r = await sb.run(['template', 'add', 'sale', '--subject', 'Save 50% now', '--body-file', file('sale.txt', 'x')]);
    expect(r.exitCode).toBe(65);
    expect(stderr(r)).toContain('%%');
    const show = await sb.run(['template', 'show', 'sale']);
    expect(show.exitCode).toBe(65);
    expect(stderr(show)).toContain('sysemail template list');
  });

  it('a missing body file is 66', async () => {
    const r = await sb.run(['template', 'add', 'x', '--subject', 's', '--body-file', path.join(sb.dir, 'nope.txt')]);
    expect(r.exitCode).toBe(66);
  });

  it('verify exits 1 naming an empty sender, 0 once it is set', async () => {
    await sb.run(['template', 'add', 'nosender', '--subject', 'Hi', '--body-file', file('n.txt', 'x')]);
    const bad = await sb.run(['template', 'verify']);
    expect(bad.exitCode).toBe(1);
    expect(stdout(bad)).toMatch(/nosender.*sender is not set/);
    const j = await sb.run(['template', 'verify', 'nosender', '--json']);
    expect(j.exitCode).toBe(1);
    expect(json(stdout(j))).toMatchObject({ ok: false, templates: [{ id: 'nosender', problems: [{ code: 'SENDER_MISSING' }] }] });
    const set = await sb.run(['template', 'set', 'nosender', '--sender', 'ok@example.com']);
    expect(set.exitCode, stderr(set)).toBe(0);
    const good = await sb.run(['template', 'verify']);
    expect(good.exitCode, stdout(good)).toBe(0);
  });
});

describe('users on the built binary', () => {
  it('shows the address a user sends as', async () => {
    await sb.run(['users', 'set', 'ada', '--sender-email', 'finance@example.com']);
    const r = await sb.run(['users', 'show', 'ada', '--json']);
    expect(json(stdout(r))).toMatchObject({ id: 'ada', email: 'ada@example.com', sendsAs: 'finance@example.com', notifyEmail: true });
    const list = await sb.run(['users', 'list', '--json']);
    expect(json<{ users: { id: string }[] }>(stdout(list)).users.map((u) => u.id)).toEqual(['ada', 'bob']);
  });

  it('refuses a malformed address with 65, an unknown user with 65 naming users list', async () => {
    expect((await sb.run(['users', 'add', 'eve', '--email', 'eve@'])).exitCode).toBe(65);
    const show = await sb.run(['users', 'show', 'eve']);
    expect(show.exitCode).toBe(65);
    expect(stderr(show)).toContain('sysemail users list');
    expect((await sb.run(['users', 'add', 'eve'])).exitCode).toBe(64);
  });
});

describe('notify on the built binary', () => {
  it('queues the rendered template for the user, HTML-escaped', async () => {
    const data = file('data.json', JSON.stringify({ doc: 'PO-1042', name: 'Ada & <co>' }));
    const before = messageCount();
    const r = await sb.run(['notify', '--template', 'approval', '--user', 'ada', '--org', 'usmf', '--data', data, '--json']);
    expect(r.exitCode, stderr(r)).toBe(0);
    expect(json(stdout(r))).toMatchObject({
      skipped: false,
      status: 'queued',
      to: 'ada@example.com',
      from: 'usmf@example.com',
      subject: '[USMF] PO-1042',
    });
    expect(messageCount()).toBe(before + 1);
    const db = new Database(sb.db, { readonly: true });
    const row = db.prepare('SELECT status, provider, html_body AS html FROM messages ORDER BY id DESC LIMIT 1').get() as {
      status: string;
      provider: string | null;
      html: string;
    };
    db.close();
    expect(row).toEqual({ status: 'pending', provider: null, html: '<p>Hello Ada &amp; &lt;co&gt;, <b>PO-1042</b> waits.</p>' });
  });

  it('an opted-out user gets nothing: exit 0, says so', async () => {
    const data = file('data2.json', JSON.stringify({ doc: 'PO-1', name: 'Bob' }));
    const before = messageCount();
    const j = await sb.run(['notify', '--template', 'approval', '--user', 'bob', '--data', data, '--json']);
    expect(j.exitCode).toBe(0);
    expect(json(stdout(j))).toMatchObject({ skipped: true, reason: expect.stringContaining('bob') });
    const t = await sb.run(['notify', '--template', 'approval', '--user', 'bob', '--data', data]);
    expect(t.exitCode).toBe(0);
    expect(stderr(t)).toMatch(/nothing sent/);
    expect(messageCount()).toBe(before);
  });

  it('missing placeholders → 65 naming every one; missing data file → 66; malformed JSON → 65', async () => {
    const empty = file('empty.json', '{}');
    const r = await sb.run(['notify', '--template', 'approval', '--user', 'ada', '--org', 'usmf', '--data', empty, '--json']);
    expect(r.exitCode).toBe(65);
    const err = json<{ error: { code: string; message: string; data: { missing: string[] } } }>(stderr(r)).error;
    expect(err.code).toBe('PLACEHOLDER_MISSING');
    expect(err.data.missing).toEqual(['doc', 'name']);
    expect((await sb.run(['notify', '--template', 'approval', '--user', 'ada', '--data', path.join(sb.dir, 'absent.json')])).exitCode).toBe(
      66,
    );
    expect((await sb.run(['notify', '--template', 'approval', '--user', 'ada', '--data', file('bad.json', '{"doc":')])).exitCode).toBe(65);
  });

  it('reads the data from standard input with --data -', async () => {
    const r = await sb.run(['notify', '--template', 'approval', '--user', 'ada', '--data', '-', '--json'], {
      input: '{"doc":"PO-5","name":"Ada"}',
    });
    expect(r.exitCode, stderr(r)).toBe(0);
    expect(json(stdout(r))).toMatchObject({ subject: 'Approve PO-5', from: 'workflow@example.com' });
  });

  it('no sender anywhere → 78 with the fix', async () => {
    await sb.run(['template', 'add', 'bare', '--subject', 'Hi', '--body-file', file('bare.txt', 'x')]);
    const r = await sb.run(['notify', '--template', 'bare', '--user', 'ada']);
    expect(r.exitCode).toBe(78);
    expect(stderr(r)).toContain('sysemail params set sender.default');
  });
});
