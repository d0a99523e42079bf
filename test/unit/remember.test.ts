import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rememberProvider } from '../../src/config/remember.js';
import { SysemailError } from '../../src/core/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-remember-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('remember my choice (provider in the user config)', () => {
  it('creates ~/.emailrc.json (0600) when no user config was found', () => {
    const home = path.join(tmp, 'home1');
    fs.mkdirSync(home);
    const r = rememberProvider(undefined, home, 'smtp');
    expect(r).toEqual({ file: path.join(home, '.emailrc.json'), created: true });
    expect(JSON.parse(fs.readFileSync(r.file, 'utf8'))).toEqual({ provider: 'smtp' });
    expect(fs.statSync(r.file).mode & 0o777).toBe(0o600);
  });

  it('keeps the other keys of an existing JSON config', () => {
    const file = path.join(tmp, '.emailrc.json');
    fs.writeFileSync(file, JSON.stringify({ from: 'me@example.com', provider: 'prompt' }));
    rememberProvider(file, tmp, 'exchange');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ from: 'me@example.com', provider: 'exchange' });
  });

  it('edits YAML and package.json#email in place', () => {
    const yaml = path.join(tmp, '.emailrc.yaml');
    fs.writeFileSync(yaml, 'from: me@example.com\n');
    rememberProvider(yaml, tmp, 'eml');
    expect(fs.readFileSync(yaml, 'utf8')).toBe('from: me@example.com\nprovider: eml\n');
    rememberProvider(yaml, tmp, 'smtp');
    expect(fs.readFileSync(yaml, 'utf8')).toBe('from: me@example.com\nprovider: smtp\n');
    const pkg = path.join(tmp, 'package.json');
    fs.writeFileSync(pkg, JSON.stringify({ name: 'app', email: { from: 'a@example.com' } }));
    rememberProvider(pkg, tmp, 'smtp');
    expect(JSON.parse(fs.readFileSync(pkg, 'utf8'))).toEqual({ name: 'app', email: { from: 'a@example.com', provider: 'smtp' } });
  });

  it('leaves a script config alone and says what to add', () => {
    const js = path.join(tmp, 'email.config.js');
    fs.writeFileSync(js, 'export default {};\n');
    expect(() => rememberProvider(js, tmp, 'smtp')).toThrow(SysemailError);
    expect(fs.readFileSync(js, 'utf8')).toBe('export default {};\n');
  });
});
