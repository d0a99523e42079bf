import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { absolutePath, databaseFolder } from '../../src/config/paths.js';
import { loadUserConfig } from '../../src/config/user.js';

describe('where the files of a database live', () => {
  it('is the folder of the database file, or the data folder for a server database', () => {
    expect(databaseFolder('/var/lib/sysemail/sysemail.db', {})).toBe('/var/lib/sysemail');
    expect(databaseFolder('postgres://app@db.example:5432/mail', { XDG_DATA_HOME: '/srv/data' })).toBe('/srv/data/sysemail');
  });

  it('stores a path parameter absolute: ~/ is the home, a relative path is the folder the command ran in', () => {
    const base = { cwd: '/srv/app', home: '/home/ann' };
    expect(absolutePath('secret.txt', base)).toBe('/srv/app/secret.txt');
    expect(absolutePath('../ca/proxy.pem', base)).toBe('/srv/ca/proxy.pem');
    expect(absolutePath('~/outbox', base)).toBe('/home/ann/outbox');
    expect(absolutePath('~', base)).toBe('/home/ann');
    expect(absolutePath('/etc/ssl/ca.pem', base)).toBe('/etc/ssl/ca.pem');
    // only a leading ~/ is the home: ~ann and a ~ inside a name are names
    expect(absolutePath('~ann/x', base)).toBe('/srv/app/~ann/x');
    expect(absolutePath('a~/b', base)).toBe('/srv/app/a~/b');
  });
});

describe('the user config search of a service account', () => {
  it('finds nothing, without failing, when the home folder does not exist', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-nohome-'));
    try {
      await expect(loadUserConfig({ cwd, home: '/nonexistent' })).resolves.toEqual({ config: {}, warnings: [] });
      fs.writeFileSync(path.join(cwd, '.emailrc.json'), '{"color": false}');
      await expect(loadUserConfig({ cwd, home: '/nonexistent' })).resolves.toMatchObject({ config: { color: false }, file: path.join(cwd, '.emailrc.json') });
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
