import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { removeSpoolFolders } from '../../src/app/history.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-spool-rm-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

function copyIn(root: string, name: string = randomUUID()): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, '1-report.pdf');
  fs.writeFileSync(file, 'x');
  return file;
}

describe('removing the spooled copies of deleted messages', () => {
  it('removes copies in the spool folder, and those an earlier version kept in the old default spool folder', () => {
    const current = path.join(base, 'db', 'spool');
    const legacy = path.join(base, 'home', '.local', 'share', 'sysemail', 'spool');
    const a = copyIn(current);
    const b = copyIn(legacy);
    removeSpoolFolders(current, [a, b]);
    expect(fs.existsSync(path.dirname(a))).toBe(false);
    expect(fs.existsSync(path.dirname(b))).toBe(false);
  });

  it("leaves the folders of files it did not copy (a direct send names the sender's own files)", () => {
    const current = path.join(base, 'db2', 'spool');
    const own = copyIn(path.join(base, 'documents'), 'reports');
    const notOurs = copyIn(path.join(base, 'elsewhere', 'spool'), 'reports');
    removeSpoolFolders(current, [own, notOurs]);
    expect(fs.existsSync(own)).toBe(true);
    expect(fs.existsSync(notOurs)).toBe(true);
  });
});
