import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeKeychain } from '../helpers/keychain.js';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox();
});
afterAll(() => sb.cleanup());

describe('params on the built binary', () => {
  it('sets and reads a value with its source', async () => {
    const set = await sb.run(['params', 'set', 'smtp.host', 'mail.example.com']);
    expect(set.exitCode).toBe(0);
    const get = await sb.run(['params', 'get', 'smtp.host', '--json']);
    expect(get.exitCode).toBe(0);
    expect(json(get.stdout)).toMatchObject({ key: 'smtp.host', value: 'mail.example.com', source: 'params' });
  });

  it('refuses an out-of-range port with 65 and changes nothing when one pair of several is bad', async () => {
    const bad = await sb.run(['params', 'set', 'smtp.port', '70000']);
    expect(bad.exitCode).toBe(65);
    expect(bad.stderr).toMatch(/smtp\.port/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const mixed = await sb.run(['params', 'set', 'smtp.host', 'a.example', 'smtp.port', 'x']);
    expect(mixed.exitCode).toBe(65);
    const host = await sb.run(['params', 'get', 'smtp.host']);
    expect(host.stdout.trim()).toBe('mail.example.com');
    const port = await sb.run(['params', 'get', 'smtp.port', '--json']);
    expect(json(port.stdout)).toMatchObject({ value: 587, source: 'default' });
  });

  it('names the closest real key for an unknown one', async () => {
    const r = await sb.run(['params', 'set', 'smtp.hots', 'x.example']);
    expect(r.exitCode).toBe(65);
    expect(r.stderr).toContain("'smtp.host'");
    const j = await sb.run(['params', 'set', 'nosuch.key', '1', '--json']);
    expect(j.exitCode).toBe(65);
    const err = json<{ error: { code: string; exitCode: number; message: string } }>(j.stderr).error;
    expect(err).toMatchObject({ code: 'PARAM_UNKNOWN', exitCode: 65 });
    expect(err.message).toMatch(/Did you mean '[a-z]+\.[A-Za-z.]+'/);
  });

  it('reports an environment override as source env', async () => {
    const r = await sb.run(['params', 'get', 'smtp.port', '--json'], { env: { SYSEMAIL_SMTP_PORT: '2525' } });
    expect(json(r.stdout)).toMatchObject({ key: 'smtp.port', value: 2525, source: 'env' });
    const bad = await sb.run(['params', 'get', 'smtp.port'], { env: { SYSEMAIL_SMTP_PORT: 'abc' } });
    expect(bad.exitCode).toBe(78);
    expect(bad.stderr).toContain('SYSEMAIL_SMTP_PORT');
  });

  it('applies flag > env > user config > params > default for the sender', async () => {
    await sb.run(['params', 'set', 'sender.default', 'admin@example.com']);
    let r = await sb.run(['params', 'get', 'sender.default', '--json']);
    expect(json(r.stdout)).toMatchObject({ value: 'admin@example.com', source: 'params' });
    const cfgDir = path.join(sb.dir, 'project');
    fs.mkdirSync(path.join(cfgDir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(cfgDir, '.emailrc.json'), JSON.stringify({ from: 'me@example.com', provider: 'eml', colour: true }));
    r = await sb.run(['params', 'get', 'sender.default', '--json'], { cwd: path.join(cfgDir, 'sub') });
    expect(json(r.stdout)).toMatchObject({ value: 'me@example.com', source: 'user' });
    expect(r.stderr).toMatch(/unknown option 'colour'/);
    r = await sb.run(['params', 'get', 'sender.default', '--json'], { cwd: cfgDir, env: { SYSEMAIL_SENDER_DEFAULT: 'env@example.com' } });
    expect(json(r.stdout)).toMatchObject({ value: 'env@example.com', source: 'env' });
    r = await sb.run(['params', 'get', 'interactive.provider', '--json'], { cwd: cfgDir });
    expect(json(r.stdout)).toMatchObject({ value: 'eml', source: 'user' });
  });

  it('refuses a bad user config value naming the file, and reads --config FILE', async () => {
    const file = path.join(sb.dir, 'bad.emailrc.json');
    fs.writeFileSync(file, JSON.stringify({ provider: 'carrier-pigeon' }));
    const r = await sb.run(['--config', file, 'params', 'list']);
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain(file);
    const good = path.join(sb.dir, 'good.yaml');
    fs.writeFileSync(good, 'from: yaml@example.com\n');
    const g = await sb.run(['--config', good, 'params', 'get', 'sender.default', '--json']);
    expect(json(g.stdout)).toMatchObject({ value: 'yaml@example.com', source: 'user' });
    const missing = await sb.run(['--config', path.join(sb.dir, 'nope.json'), 'params', 'list']);
    expect(missing.exitCode).toBe(66);
  });

  it('lists every key with value and source, as JSON and as text', async () => {
    const r = await sb.run(['params', 'list', '--json']);
    expect(r.exitCode).toBe(0);
    const rows = json<{ params: { key: string; source: string }[] }>(r.stdout).params;
    expect(rows.map((p) => p.key)).toEqual(expect.arrayContaining(['smtp.host', 'batch.provider', 'eml.outputDir', 'smtp.password']));
    expect(rows.find((p) => p.key === 'smtp.host')?.source).toBe('params');
    const text = await sb.run(['params', 'list']);
    expect(text.stdout).toMatch(/^smtp\.host\tmail\.example\.com\tparams\t/m);
  });

  it('round-trips export → import into a fresh database without secrets', async () => {
    await sb.run(['params', 'set', 'smtp.port', '465', 'smtp.security', 'tls', 'throttling.enabled', 'yes', 'limits.maxMessageMb', '10.5']);
    const file = path.join(sb.dir, 'export.json');
    const ex = await sb.run(['params', 'export', '--file', file], { env: { SYSEMAIL_SMTP_PASSWORD: 'hunter2-secret' } });
    expect(ex.exitCode).toBe(0);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toMatch(/password"\s*:/);
    const other = path.join(sb.dir, 'other.db');
    const dry = await sb.run(['--db', other, 'params', 'import', file, '--dry-run', '--json'], { noDb: true });
    expect(dry.exitCode).toBe(0);
    expect(json<{ changes: unknown[] }>(dry.stdout).changes.length).toBeGreaterThanOrEqual(5);
    const before = await sb.run(['--db', other, 'params', 'get', 'smtp.port'], { noDb: true });
    expect(before.stdout.trim()).toBe('587');
    const imp = await sb.run(['--db', other, 'params', 'import', file], { noDb: true });
    expect(imp.exitCode).toBe(0);
    const a = json<{ params: { key: string; value: unknown; source: string }[] }>(
      (await sb.run(['params', 'list', '--json'])).stdout,
    ).params;
    const b = json<{ params: { key: string; value: unknown; source: string }[] }>(
      (await sb.run(['--db', other, 'params', 'list', '--json'], { noDb: true })).stdout,
    ).params;
    const stored = (rows: typeof a) => rows.filter((r) => r.source === 'params').map((r) => [r.key, r.value]);
    expect(stored(b)).toEqual(stored(a));
  });

  it('imports all or nothing', async () => {
    const file = path.join(sb.dir, 'partly-bad.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ format: 'sysemail-params', version: 1, params: { 'smtp.host': 'new.example', 'smtp.port': 'many' } }),
    );
    const r = await sb.run(['params', 'import', file]);
    expect(r.exitCode).toBe(65);
    expect((await sb.run(['params', 'get', 'smtp.host'])).stdout.trim()).toBe('mail.example.com');
    const missing = await sb.run(['params', 'import', path.join(sb.dir, 'absent.json')]);
    expect(missing.exitCode).toBe(66);
  });

  it('unset returns a key to its default', async () => {
    await sb.run(['params', 'unset', 'smtp.port']);
    const r = await sb.run(['params', 'get', 'smtp.port', '--json']);
    expect(json(r.stdout)).toMatchObject({ value: 587, source: 'default' });
  });

  it('refuses a secret given as a plain value', async () => {
    const r = await sb.run(['params', 'set', 'smtp.password', 'pw', 'smtp.port', '25']);
    expect(r.exitCode).toBe(65);
    expect(r.stderr).not.toContain(' pw');
    expect(r.stderr).toContain('--stdin');
  });
});

describe('the database file', () => {
  it('is created 0600 in a 0700 folder', () => {
    expect(fs.statSync(sb.db).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(sb.db)).mode & 0o777).toBe(0o700);
  });

  it('refuses a file of random bytes with 74 and leaves it unchanged', async () => {
    const file = path.join(sb.dir, 'random.db');
    const bytes = Buffer.alloc(8192);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 251;
    fs.writeFileSync(file, bytes);
    const r = await sb.run(['--db', file, 'params', 'list'], { noDb: true });
    expect(r.exitCode).toBe(74);
    expect(r.stderr).toContain('not an SQLite database');
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    expect(fs.existsSync(file + '-wal')).toBe(false);
  });

  it('uses the default data folder when no --db is given', async () => {
    const r = await sb.run(['params', 'set', 'smtp.host', 'default.example'], { noDb: true });
    expect(r.exitCode).toBe(0);
    const file = path.join(sb.home, '.local', 'share', 'sysemail', 'sysemail.db');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const env = await sb.run(['params', 'get', 'smtp.host'], { noDb: true, env: { SYSEMAIL_DB: sb.db } });
    expect(env.stdout.trim()).toBe('mail.example.com');
  });
});

describe('usage errors', () => {
  it('an unknown command or flag exits 64 with the nearest spelling', async () => {
    const cmd = await sb.run(['parms', 'list']);
    expect(cmd.exitCode).toBe(64);
    expect(cmd.stderr).toMatch(/Did you mean params\?/);
    const flag = await sb.run(['params', 'list', '--jsn']);
    expect(flag.exitCode).toBe(64);
    expect(flag.stderr).toMatch(/--json/);
    const j = await sb.run(['params', 'get', '--json']);
    expect(j.exitCode).toBe(64);
    expect(json<{ error: { exitCode: number } }>(j.stderr).error.exitCode).toBe(64);
  });

  it('prints the version and help', async () => {
    const v = await sb.run(['--version'], { noDb: true });
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = await sb.run(['params', 'set', '--help']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toMatch(/Example/);
  });
});

describeKeychain('secrets in the real OS keychain', () => {
  it('stores the password from stdin, shows ***, and never writes it to the database, WAL or output', async () => {
    const secret = 'pw-7c1e-secret';
    const set = await sb.run(['params', 'set', 'smtp.password', '--stdin'], { input: secret + '\n' });
    expect(set.exitCode, set.stderr).toBe(0);
    const get = await sb.run(['params', 'get', 'smtp.password']);
    expect(get.stdout.trim()).toBe('***');
    const getJson = await sb.run(['params', 'get', 'smtp.password', '--json']);
    expect(json(getJson.stdout)).toMatchObject({ value: '***', source: 'keychain' });
    const list = await sb.run(['params', 'list', '--json']);
    for (const out of [set.stdout, set.stderr, get.stdout, getJson.stdout, list.stdout, list.stderr]) expect(out).not.toContain(secret);
    for (const f of [sb.db, sb.db + '-wal', sb.db + '-shm']) {
      if (fs.existsSync(f)) expect(fs.readFileSync(f).includes(Buffer.from(secret))).toBe(false);
    }
    // a copy of the database is a different database only by path: same id, so it finds the secret;
    // a fresh database has its own id and finds none
    const fresh = path.join(sb.dir, 'fresh.db');
    const none = await sb.run(['--db', fresh, 'params', 'get', 'smtp.password', '--json'], { noDb: true });
    expect(json(none.stdout)).toMatchObject({ value: null, source: 'unset' });
    const unset = await sb.run(['params', 'unset', 'smtp.password']);
    expect(unset.exitCode).toBe(0);
    const after = await sb.run(['params', 'get', 'smtp.password', '--json']);
    expect(json(after.stdout)).toMatchObject({ value: null });
  });
});

describe('without a Secret Service', () => {
  it('exits 78 naming the other secret sources', async () => {
    const r = await sb.run(['params', 'set', 'smtp.password', '--stdin'], {
      input: 'pw',
      env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(sb.dir, 'no-bus')}`, DISPLAY: undefined },
    });
    expect(r.exitCode).toBe(78);
    expect(r.stderr).toContain('SYSEMAIL_SMTP_PASSWORD');
    expect(r.stderr).toContain('smtp.passwordCommand');
    expect(r.stderr).toContain('smtp.passwordFile');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
