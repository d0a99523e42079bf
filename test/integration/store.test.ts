import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SysemailError } from '../../src/core/errors.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { Store } from '../../src/store/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-store-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function openError(file: string): Promise<SysemailError> {
  try {
    await Store.open(file);
  } catch (err) {
    if (err instanceof SysemailError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('opening the database', () => {
  it('creates a private file with the whole schema and a stable random id', async () => {
    const file = path.join(dir, 'new', 'deep', 'a.db');
    const s1 = await Store.open(file);
    expect(s1?.created).toBe(true);
    const id = s1!.id;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    await s1!.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const s2 = await Store.open(file);
    expect(s2!.created).toBe(false);
    expect(s2!.id).toBe(id);
    expect(s2!.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s2!.sqlite.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const tables = (s2!.sqlite.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toEqual(
      expect.arrayContaining(['params', 'messages', 'attempts', 'templates', 'users', 'distributor_runs', 'throttle_sends']),
    );
    await s2!.close();
    const other = await Store.open(path.join(dir, 'b.db'));
    expect(other!.id).not.toBe(id);
    await other!.close();
  });

  it('leaves a file that is not SQLite untouched (74)', async () => {
    const file = path.join(dir, 'text.db');
    fs.writeFileSync(file, 'hello, this is not a database at all');
    const before = fs.readFileSync(file);
    const err = await openError(file);
    expect(err.kind).toBe('ioerr');
    expect(err.code).toBe('DB_NOT_SQLITE');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a database written by a newer sysemail (78) without changing it', async () => {
    const file = path.join(dir, 'newer.db');
    const s = await Store.open(file);
    await s!.close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const before = fs.readFileSync(file);
    const err = await openError(file);
    expect(err.kind).toBe('config');
    expect(err.code).toBe('DB_TOO_NEW');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses an SQLite database that belongs to something else', async () => {
    const file = path.join(dir, 'foreign.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    raw.close();
    const err = await openError(file);
    expect(err.code).toBe('DB_FOREIGN');
    expect(err.kind).toBe('ioerr');
  });

  it('reports a location that cannot be created (74)', async () => {
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, '');
    const err = await openError(path.join(blocker, 'sub', 'x.db'));
    expect(err.kind).toBe('ioerr');
    expect(err.code).toBe('DB_CREATE_FAILED');
  });

  it('migrates once when several processes open a new database together', async () => {
    const file = path.join(dir, 'race.db');
    const stores = await Promise.all([Store.open(file), Store.open(file), Store.open(file)]);
    const ids = new Set(stores.map((s) => s!.id));
    expect(ids.size).toBe(1);
    for (const s of stores) await s!.close();
  });
});

describe('params repository', () => {
  it('applies sets and unsets in one transaction and keeps types', async () => {
    const s = (await Store.open(path.join(dir, 'p.db')))!;
    await s.params.apply([
      { key: 'smtp.port', value: 465 },
      { key: 'throttling.enabled', value: true },
      { key: 'smtp.host', value: 'x.example' },
    ]);
    await s.params.apply([{ key: 'smtp.port', value: 25 }], ['smtp.host']);
    const all = await s.params.all();
    expect(Object.fromEntries(all)).toEqual({ 'smtp.port': 25, 'throttling.enabled': true });
    await s.close();
  });
});
