import { describe, expect, it } from 'vitest';
import { absolutePath, databaseFolder } from '../../src/config/paths.js';

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
