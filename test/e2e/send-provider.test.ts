/**
 * Which provider `send` uses when nobody is at a terminal: never a silent guess. And a user's own
 * provider (`users set ID --provider P`) is the one `send --user ID` sends through.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

const boxes: Sandbox[] = [];
afterAll(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});
function newBox(): Sandbox {
  const b = sandbox('sysemail-provider-e2e-');
  boxes.push(b);
  return b;
}
const outbox = (b: Sandbox) => path.join(b.env.XDG_DATA_HOME, 'sysemail', 'outbox');
const emls = (b: Sandbox) => (fs.existsSync(outbox(b)) ? fs.readdirSync(outbox(b)) : []);
function messages(b: Sandbox): number {
  if (!fs.existsSync(b.db)) return 0;
  const db = new Database(b.db, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const MAIL = ['send', '--from', 'app@example.com', '--to', 'ann@example.com', '--subject', 'Hello', '--body', 'Hi'];

describe('send without a terminal and interactive.provider prompt', () => {
  it('exits 78 naming --provider and interactive.provider; writes no .eml and stores nothing', async () => {
    const box = newBox();
    for (const extra of [[], ['--json']]) {
      const r = await box.run([...MAIL, ...extra]);
      expect(r.exitCode, r.stderr).toBe(78);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('--provider');
      expect(r.stderr).toContain('interactive.provider');
      expect(r.stderr).not.toContain('sent');
    }
    expect(emls(box)).toEqual([]);
    expect(messages(box)).toBe(0);
  });

  it('the same with --provider prompt given explicitly', async () => {
    const box = newBox();
    const r = await box.run([...MAIL, '--provider', 'prompt']);
    expect(r.exitCode, r.stderr).toBe(78);
    expect(emls(box)).toEqual([]);
  });

  it('--queue needs no answer: the distributor uses batch.provider', async () => {
    const box = newBox();
    const r = await box.run([...MAIL, '--queue', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ status: 'queued' });
  });
});

describe('send --user ID uses the provider of that user', () => {
  it('users set ID --provider eml wins over interactive.provider; --provider wins over both', async () => {
    const box = newBox();
    // interactive.provider smtp with no smtp.host: sending through smtp would be a configuration error
    for (const args of [
      ['params', 'set', 'interactive.provider', 'smtp'],
      ['users', 'add', 'ada', '--email', 'ada@example.com'],
      ['users', 'set', 'ada', '--provider', 'eml'],
    ]) {
      const r = await box.run(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const sent = await box.run(['send', '--user', 'ada', '--to', 'ann@example.com', '--subject', 'As Ada', '--body', 'b', '--json']);
    expect(sent.exitCode, sent.stderr).toBe(0);
    const doc = json<{ status: string; provider: string; file: string }>(sent.stdout);
    expect(doc).toMatchObject({ status: 'sent', provider: 'eml' });
    expect(fs.readFileSync(doc.file, 'utf8')).toMatch(/^From: ada@example\.com/m);

    const forced = await box.run([
      'send',
      '--user',
      'ada',
      '--provider',
      'smtp',
      '--to',
      'ann@example.com',
      '--subject',
      's',
      '--body',
      'b',
    ]);
    expect(forced.exitCode, forced.stderr).toBe(78);
    expect(forced.stderr).toContain('smtp.host');

    // without a provider of their own, the usual default applies
    await box.run(['users', 'set', 'ada', '--provider', '']);
    const plain = await box.run(['send', '--user', 'ada', '--to', 'ann@example.com', '--subject', 's', '--body', 'b']);
    expect(plain.exitCode, plain.stderr).toBe(78);
    expect(plain.stderr).toContain('smtp.host');
  });

  it('an unknown --user is 65 before anything else', async () => {
    const box = newBox();
    const r = await box.run(['send', '--user', 'nobody', '--to', 'ann@example.com', '--subject', 's', '--body', 'b']);
    expect(r.exitCode, r.stderr).toBe(65);
    expect(r.stderr).toContain('sysemail users list');
  });
});
