import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { absolutePath, databaseFolder, isServerDatabase, maskedDbUrl, resolveDbPath } from '../../src/config/paths.js';
import { loadUserConfig } from '../../src/config/user.js';

describe('a database named by URL', () => {
  it('is kept as the server database it names, never taken for a file name; the password is not shown', () => {
    for (const [flag, env, user, url] of [
      ['postgres://app:s3cret@db.example:5432/mail', {}, undefined, 'postgres://app:s3cret@db.example:5432/mail'],
      [undefined, { SYSEMAIL_DB: 'postgresql://app:s3cret@db.example/mail' }, undefined, 'postgresql://app:s3cret@db.example/mail'],
      [undefined, {}, 'POSTGRES://app:s3cret@db.example/mail', 'POSTGRES://app:s3cret@db.example/mail'],
    ] as const) {
      const { file } = resolveDbPath(flag, env, user);
      expect(file).toBe(url);
      expect(isServerDatabase(file)).toBe(true);
      expect(maskedDbUrl(file)).toContain('app:***@db.example');
      expect(maskedDbUrl(file)).not.toContain('s3cret');
    }
    expect(maskedDbUrl('postgres://app:p%40ss:w@rd@db.example/mail')).toBe('postgres://app:***@db.example/mail');
    expect(maskedDbUrl('postgres://db.example/mail?user=app&password=s3cret&sslmode=require')).toBe(
      'postgres://db.example/mail?user=app&password=***&sslmode=require',
    );
    expect(maskedDbUrl('postgres://app@db.example/mail')).toBe('postgres://app@db.example/mail');
    expect(resolveDbPath('./x.db', {}, undefined).file).toBe(path.resolve('x.db'));
    expect(isServerDatabase(resolveDbPath('./x.db', {}, undefined).file)).toBe(false);
  });
});

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
      await expect(loadUserConfig({ cwd, home: '/nonexistent' })).resolves.toMatchObject({
        config: { color: false },
        file: path.join(cwd, '.emailrc.json'),
      });
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
