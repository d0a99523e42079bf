// `queue import` checks its lines as the store's one transaction reads them: a bad line anywhere (after
// batches of good ones were written) leaves nothing stored and no attachment copied, users named by a
// line give its sender however the key is written, and every line is still reported.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importMessages } from '../../src/app/import.js';
import { addUser } from '../../src/app/users.js';
import { SysemailError } from '../../src/core/errors.js';
import { Settings } from '../../src/core/precedence.js';
import { Store } from '../../src/store/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-import-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const NOW = 1_700_000_000_000;

let store: Store;
let n = 0;
let spoolDir: string;
beforeEach(async () => {
  n++;
  store = (await Store.open(path.join(dir, `i${n}.db`)))!;
  spoolDir = path.join(dir, `spool-${n}`);
});
afterEach(async () => {
  await store.close();
});

const settings = Settings.from({
  params: new Map([['sender.default', 'app@example.com']]),
  user: new Map(),
  env: {},
  dataDir: dir,
}).settings;

function run(lines: readonly unknown[]) {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  return importMessages({ store, settings, text, source: 'batch.jsonl', now: NOW, cwd: dir, spoolDir });
}

async function refusal(p: Promise<unknown>): Promise<SysemailError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SysemailError) return err;
    throw err;
  }
  throw new Error('expected the import to be refused');
}

/** Messages in the database, read with a connection of its own. */
async function count(): Promise<number> {
  const raw = new Database(path.join(dir, `i${n}.db`), { readonly: true });
  try {
    return raw.prepare('SELECT count(*) FROM messages').pluck().get() as number;
  } finally {
    raw.close();
  }
}

describe('queue import', () => {
  it('a bad line after batches of good ones: nothing stored, the copies of attachments removed, every bad line named', async () => {
    const report = path.join(dir, 'report.csv');
    fs.writeFileSync(report, 'a,b\n');
    const lines: unknown[] = Array.from({ length: 240 }, (_, i) => ({
      to: `r${i}@example.com`,
      subject: `m${i}`,
      text: 'x',
      ...(i % 40 === 0 ? { attachments: [report] } : {}),
    }));
    lines[180] = { to: 'r180@@example.com', subject: 'bad', text: 'x' };
    lines[230] = '{"to": ';
    const e = await refusal(run(lines));
    expect([e.code, e.kind]).toEqual(['IMPORT_INVALID', 'data']);
    expect(e.data).toEqual({ lines: [expect.objectContaining({ line: 181 }), { line: 231, message: expect.stringMatching(/^not JSON/) }] });
    expect(await count()).toBe(0);
    expect(fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir) : []).toEqual([]);

    lines[180] = { to: 'r180@example.com', subject: 'm180', text: 'x' };
    lines[230] = { to: 'r230@example.com', subject: 'm230', text: 'x' };
    const r = await run(lines);
    expect(r.imported).toBe(240);
    expect(r.ids).toEqual(Array.from({ length: 240 }, (_, i) => r.ids[0] + i));
    expect(await count()).toBe(240);
    expect(fs.readdirSync(spoolDir)).toHaveLength(6);
    const m80 = (await store.messages.get(r.ids[80]))!;
    expect([m80.subject, m80.from, m80.attachments[0].filename, path.dirname(path.dirname(m80.attachments[0].path!))]).toEqual([
      'm80',
      'app@example.com',
      'report.csv',
      spoolDir,
    ]);
  });

  it('a user named by a line gives its sender, however the key is written; an unknown one is a bad line', async () => {
    await addUser(store, 'ada', { email: 'ada@example.com', senderEmail: 'ada.sender@example.com' }, NOW);
    // the key written with an escape only: no line holds "user" as such
    const escaped = await run(['{"to":"b@example.com","\\u0075ser":"ada","subject":"s","text":"t"}']);
    const r = await run([{ to: 'a@example.com', user: 'ada', subject: 's', text: 't' }]);
    const stored = await Promise.all([...escaped.ids, ...r.ids].map(async (id) => (await store.messages.get(id))!));
    expect(stored.map((m) => [m.from, m.userId])).toEqual([
      ['ada.sender@example.com', 'ada'],
      ['ada.sender@example.com', 'ada'],
    ]);
    const e = await refusal(run([{ to: 'a@example.com', user: 'nobody', subject: 's', text: 't' }]));
    expect(e.message).toContain("line 1: unknown user 'nobody'");
    expect(await count()).toBe(2);
  });

  it('blank lines only: IMPORT_EMPTY, nothing stored', async () => {
    const e = await refusal(importMessages({ store, settings, text: '\n  \n\n', source: 'empty.jsonl', now: NOW, cwd: dir, spoolDir }));
    expect(e.code).toBe('IMPORT_EMPTY');
    expect(await count()).toBe(0);
  });
});
