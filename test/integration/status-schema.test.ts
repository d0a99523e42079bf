/** The database's own list of statuses (its CHECK constraint) is the one in core/status.ts. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MESSAGE_STATUSES } from '../../src/core/status.js';
import { Store } from '../../src/store/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-status-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the messages table', () => {
  it('accepts exactly the statuses of MESSAGE_STATUSES', async () => {
    const file = path.join(dir, 'a.db');
    const store = await Store.open(file);
    await store?.close();
    const db = new Database(file, { readonly: true });
    try {
      const sql = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'").pluck().get() as string;
      const check = /status\s+TEXT NOT NULL CHECK \(status IN \(([^)]*)\)\)/.exec(sql);
      expect(check, sql).not.toBeNull();
      const allowed = check![1].split(',').map((s) => s.trim().replace(/^'|'$/g, ''));
      expect(allowed).toEqual([...MESSAGE_STATUSES]);
    } finally {
      db.close();
    }
  });
});
