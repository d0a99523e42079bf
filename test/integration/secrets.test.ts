import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SysemailError } from '../../src/core/errors.js';
import {
  KEYCHAIN_SERVICE,
  PASSWORD_COMMAND_TIMEOUT_MS,
  deleteSecret,
  describeSecretSource,
  hasSecret,
  keychainAccount,
  openKeychain,
  resolveSecret,
  secretSettings,
  storeSecret,
  type Keychain,
  type SecretContext,
  type SecretName,
} from '../../src/secrets/index.js';
import { runPasswordCommand } from '../../src/secrets/sources.js';
import { describeKeychain } from '../helpers/keychain.js';

const run = promisify(execFile);

/** An in-memory keychain that counts how often it is asked. */
class MemoryKeychain implements Keychain {
  readonly entries = new Map<string, string>();
  calls = 0;
  async get(account: string): Promise<string | null> {
    this.calls++;
    return this.entries.get(account) ?? null;
  }
  async set(account: string, secret: string): Promise<void> {
    this.calls++;
    this.entries.set(account, secret);
  }
  async delete(account: string): Promise<boolean> {
    this.calls++;
    return this.entries.delete(account);
  }
}

/** A keychain whose every call fails the way keytar does without a usable Secret Service. */
function brokenKeychain(libraryMessage: string): Keychain {
  const fail = async (): Promise<never> => {
    throw new Error(libraryMessage);
  };
  return { get: fail, set: fail, delete: fail };
}

async function caught(promise: Promise<unknown>): Promise<SysemailError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SysemailError);
    return err as SysemailError;
  }
  throw new Error('expected a SysemailError, but the call succeeded');
}

/** Everything of an error a user or a log could see. */
function printable(err: SysemailError): string {
  return [err.message, err.fix ?? '', err.line, JSON.stringify(err.data ?? {})].join('\n');
}

const newDbId = (): string => randomBytes(16).toString('hex');
const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH });

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sysemail-secrets-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secretFile(name: string, content: string, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  await chmod(path, mode);
  return path;
}

describe('source order', () => {
  it('takes the environment variable over command, file and keychain, running nothing else', async () => {
    const marker = join(dir, 'command-ran');
    const keychain = new MemoryKeychain();
    const dbId = newDbId();
    keychain.entries.set(keychainAccount('smtp.password', dbId), 'from-keychain');
    const file = await secretFile('order-env', 'from-file\n', 0o600);
    const got = await resolveSecret('smtp.password', {
      dbId,
      env: { ...baseEnv(), SYSEMAIL_SMTP_PASSWORD: 'from-env' },
      passwordCommand: `touch '${marker}'; printf from-command`,
      passwordFile: file,
      keychain,
    });
    expect(got).toEqual({ value: 'from-env', source: 'env' });
    expect(existsSync(marker)).toBe(false);
    expect(keychain.calls).toBe(0);
  });

  it('takes the command over file and keychain', async () => {
    const keychain = new MemoryKeychain();
    const dbId = newDbId();
    keychain.entries.set(keychainAccount('smtp.password', dbId), 'from-keychain');
    const file = await secretFile('order-command', 'from-file\n', 0o600);
    const got = await resolveSecret('smtp.password', {
      dbId,
      env: baseEnv(),
      passwordCommand: 'printf from-command',
      passwordFile: file,
      keychain,
    });
    expect(got).toEqual({ value: 'from-command', source: 'command' });
    expect(keychain.calls).toBe(0);
  });

  it('takes the file over the keychain', async () => {
    const keychain = new MemoryKeychain();
    const dbId = newDbId();
    keychain.entries.set(keychainAccount('smtp.password', dbId), 'from-keychain');
    const file = await secretFile('order-file', 'from-file\n', 0o600);
    const got = await resolveSecret('smtp.password', { dbId, env: baseEnv(), passwordFile: file, keychain });
    expect(got).toEqual({ value: 'from-file', source: 'file' });
    expect(keychain.calls).toBe(0);
  });

  it('falls back to the keychain entry of this database', async () => {
    const keychain = new MemoryKeychain();
    const dbId = newDbId();
    keychain.entries.set(`${dbId}:smtp.password`, 'from-keychain');
    expect(await resolveSecret('smtp.password', { dbId, env: baseEnv(), keychain })).toEqual({
      value: 'from-keychain',
      source: 'keychain',
    });
  });

  it('does not let a failing configured source fall through to the keychain', async () => {
    const keychain = new MemoryKeychain();
    const dbId = newDbId();
    keychain.entries.set(keychainAccount('smtp.password', dbId), 'from-keychain');
    const err = await caught(resolveSecret('smtp.password', { dbId, env: baseEnv(), passwordCommand: 'exit 1', keychain }));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(keychain.calls).toBe(0);
  });

  it('gives each secret its own environment variable and ignores empty ones', async () => {
    const keychain = new MemoryKeychain();
    const env = {
      ...baseEnv(),
      SYSEMAIL_SMTP_PASSWORD: '',
      SYSEMAIL_SMTP_CLIENT_SECRET: 'oauth-secret',
      SYSEMAIL_EXCHANGE_CLIENT_SECRET: 'graph-secret',
    };
    const ctx: SecretContext = { dbId: newDbId(), env, keychain };
    expect(await resolveSecret('smtp.oauth.clientSecret', ctx)).toEqual({ value: 'oauth-secret', source: 'env' });
    expect(await resolveSecret('exchange.clientSecret', ctx)).toEqual({ value: 'graph-secret', source: 'env' });
    const err = await caught(resolveSecret('smtp.password', ctx));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
  });

  it('uses passwordCommand and passwordFile for the SMTP password only', async () => {
    const keychain = new MemoryKeychain();
    const file = await secretFile('password-only', 'from-file\n', 0o600);
    const ctx: SecretContext = { dbId: newDbId(), env: baseEnv(), passwordCommand: 'printf from-command', passwordFile: file, keychain };
    for (const name of ['smtp.oauth.clientSecret', 'exchange.clientSecret'] as const) {
      const err = await caught(resolveSecret(name, ctx));
      expect(err.code).toBe('SECRET_UNAVAILABLE');
      expect(err.data).toMatchObject({ secret: name, source: 'keychain' });
    }
  });
});

describe('OAuth client secrets: the same sources as the SMTP password', () => {
  const CASES = [
    {
      name: 'exchange.clientSecret',
      command: 'exchange.clientSecretCommand',
      file: 'exchange.clientSecretFile',
      variable: 'SYSEMAIL_EXCHANGE_CLIENT_SECRET',
    },
    {
      name: 'smtp.oauth.clientSecret',
      command: 'smtp.oauth.clientSecretCommand',
      file: 'smtp.oauth.clientSecretFile',
      variable: 'SYSEMAIL_SMTP_CLIENT_SECRET',
    },
  ] as const;

  for (const c of CASES) {
    describe(c.name, () => {
      it(`environment, then ${c.command}, then ${c.file}, then the keychain`, async () => {
        const keychain = new MemoryKeychain();
        const dbId = newDbId();
        keychain.entries.set(keychainAccount(c.name, dbId), 'from-keychain');
        const file = await secretFile(`${c.name}-order`, 'from-file\n', 0o600);
        const settings = secretSettings({ [c.command]: 'printf from-command', [c.file]: file });
        const base = { dbId, keychain, ...settings };
        expect(await resolveSecret(c.name, { ...base, env: { ...baseEnv(), [c.variable]: 'from-env' } })).toEqual({
          value: 'from-env',
          source: 'env',
        });
        expect(await resolveSecret(c.name, { ...base, env: baseEnv() })).toEqual({ value: 'from-command', source: 'command' });
        const fileOnly = secretSettings({ [c.file]: file });
        expect(await resolveSecret(c.name, { dbId, keychain, env: baseEnv(), ...fileOnly })).toEqual({
          value: 'from-file',
          source: 'file',
        });
        expect(await resolveSecret(c.name, { dbId, keychain, env: baseEnv() })).toEqual({ value: 'from-keychain', source: 'keychain' });
      });

      it(`a failing ${c.command} is named, its output never shown, and the keychain not asked`, async () => {
        const keychain = new MemoryKeychain();
        const err = await caught(
          resolveSecret(c.name, {
            dbId: newDbId(),
            env: baseEnv(),
            keychain,
            ...secretSettings({ [c.command]: 'printf leaked-output; exit 3' }),
          }),
        );
        expect(err.code).toBe('SECRET_UNAVAILABLE');
        expect(err.message).toContain(`${c.command} exited with status 3`);
        expect(err.fix).toContain(c.command);
        expect(err.fix).not.toContain('smtp.passwordCommand');
        expect(printable(err)).not.toContain('leaked-output');
        expect(keychain.calls).toBe(0);
      });

      it(`${c.file} readable by group or others is refused, naming the key`, async () => {
        const file = await secretFile(`${c.name}-open`, 'open-secret\n', 0o644);
        const err = await caught(
          resolveSecret(c.name, { dbId: newDbId(), env: baseEnv(), keychain: new MemoryKeychain(), ...secretSettings({ [c.file]: file }) }),
        );
        expect(err.code).toBe('SECRET_UNAVAILABLE');
        expect(err.message).toContain(`${c.file} ${file} is readable by group or others`);
        expect(printable(err)).not.toContain('open-secret');
      });

      it('describeSecretSource names the source it would use', async () => {
        const file = await secretFile(`${c.name}-describe`, 'x\n', 0o600);
        const d = await describeSecretSource(c.name, {
          dbId: newDbId(),
          env: baseEnv(),
          keychain: new MemoryKeychain(),
          ...secretSettings({ [c.file]: file }),
        });
        expect(d).toMatchObject({ source: 'file', detail: `${c.file} ${file}` });
        const none = await describeSecretSource(c.name, { dbId: newDbId(), env: baseEnv(), keychain: new MemoryKeychain() });
        expect(none.source).toBe('none');
        expect(none.source === 'none' && none.error.fix).toContain(`${c.variable}, ${c.command} or ${c.file}`);
      });
    });
  }
});

describe('smtp.passwordCommand', () => {
  it('takes stdout without one trailing newline', async () => {
    const ctx = { dbId: newDbId(), env: baseEnv(), keychain: new MemoryKeychain() };
    expect((await resolveSecret('smtp.password', { ...ctx, passwordCommand: "printf 'pa ss word\\n'" })).value).toBe('pa ss word');
    expect((await resolveSecret('smtp.password', { ...ctx, passwordCommand: "printf 'two\\n\\n'" })).value).toBe('two\n');
  });

  it('runs through /bin/sh with the given environment', async () => {
    const got = await resolveSecret('smtp.password', {
      dbId: newDbId(),
      env: { ...baseEnv(), VAULT_TOKEN_FOR_TEST: 's3cr3t' },
      passwordCommand: 'printf %s "$VAULT_TOKEN_FOR_TEST" | tr a-z A-Z',
      keychain: new MemoryKeychain(),
    });
    expect(got).toEqual({ value: 'S3CR3T', source: 'command' });
  });

  it('reports a non-zero exit by its status and never repeats the output', async () => {
    const err = await caught(
      resolveSecret('smtp.password', {
        dbId: newDbId(),
        env: baseEnv(),
        passwordCommand: 'echo half-a-secret; echo oops >&2; exit 3',
        keychain: new MemoryKeychain(),
      }),
    );
    expect(err.kind).toBe('config');
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.message).toContain('status 3');
    expect(err.data).toMatchObject({ source: 'command', exitCode: 3 });
    expect(printable(err)).not.toContain('half-a-secret');
    expect(printable(err)).not.toContain('oops');
  });

  it('refuses empty output', async () => {
    const err = await caught(
      resolveSecret('smtp.password', {
        dbId: newDbId(),
        env: baseEnv(),
        passwordCommand: 'printf "\\n"',
        keychain: new MemoryKeychain(),
      }),
    );
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.data).toMatchObject({ source: 'command', exitCode: 0 });
    expect(err.message).toContain('printed nothing');
  });

  it('stops a command that hangs, with everything it started', async () => {
    expect(PASSWORD_COMMAND_TIMEOUT_MS).toBe(10_000);
    const pidFile = join(dir, 'hanging.pid');
    const started = Date.now();
    const err = await caught(runPasswordCommand(`sleep 30 & echo $! > '${pidFile}'; wait`, baseEnv(), 300));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.data).toMatchObject({ source: 'command', timeoutMs: 300 });
    if (process.platform === 'linux') {
      const pid = (await readFile(pidFile, 'utf8')).trim();
      await new Promise((r) => setTimeout(r, 100));
      // Gone, or a zombie waiting for init to reap it.
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      expect(stat === '' || /^\d+ \([^)]*\) Z/.test(stat)).toBe(true);
    }
  });
});

describe('smtp.passwordFile', () => {
  it('accepts a 0600 file and takes its first line', async () => {
    const file = await secretFile('good', 'first-line\nsecond-line\n', 0o600);
    expect(await resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), passwordFile: file })).toEqual({
      value: 'first-line',
      source: 'file',
    });
  });

  it('expands ~/ from HOME', async () => {
    const home = join(dir, 'home');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, '.smtp-pw'), 'tilde-secret\n', { mode: 0o600 });
    const got = await resolveSecret('smtp.password', { dbId: newDbId(), env: { ...baseEnv(), HOME: home }, passwordFile: '~/.smtp-pw' });
    expect(got).toEqual({ value: 'tilde-secret', source: 'file' });
  });

  it.each([0o644, 0o640, 0o604])('refuses mode %o with the chmod fix', async (mode) => {
    const file = await secretFile(`loose-${mode.toString(8)}`, 'loose-secret\n', mode);
    const err = await caught(resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), passwordFile: file }));
    expect(err.kind).toBe('config');
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.fix).toContain(`chmod 600 ${file}`);
    expect(err.data).toMatchObject({ source: 'file', path: file, mode: `0${mode.toString(8)}` });
    expect(printable(err)).not.toContain('loose-secret');
  });

  it('names a missing file', async () => {
    const file = join(dir, 'no-such-file');
    const err = await caught(resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), passwordFile: file }));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.message).toContain(file);
    expect(err.data).toMatchObject({ source: 'file', errno: 'ENOENT' });
  });

  it('refuses a directory and an empty first line', async () => {
    const sub = join(dir, 'a-directory');
    await mkdir(sub, { recursive: true, mode: 0o700 });
    expect((await caught(resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), passwordFile: sub }))).code).toBe(
      'SECRET_UNAVAILABLE',
    );
    const blank = await secretFile('blank', '\nsecond\n', 0o600);
    expect((await caught(resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), passwordFile: blank }))).message).toContain(
      'blank',
    );
  });
});

describe('no secret anywhere', () => {
  it('says this database has no keychain entry and names every way out, in one line', async () => {
    const keychain = new MemoryKeychain();
    const here = newDbId();
    const elsewhere = newDbId();
    await storeSecret('smtp.password', 'only-on-the-other-machine', elsewhere, keychain);
    const err = await caught(resolveSecret('smtp.password', { dbId: here, env: baseEnv(), keychain }));
    expect(err.kind).toBe('config');
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.message).toContain('smtp.password');
    expect(err.message).toContain(here);
    expect(err.message).toContain('copied from another machine');
    for (const way of [
      'printf %s "$PW" | sysemail params set smtp.password --stdin',
      'SYSEMAIL_SMTP_PASSWORD',
      'smtp.passwordCommand',
      'smtp.passwordFile',
    ]) {
      expect(err.line).toContain(way);
    }
    expect(err.data).toMatchObject({ secret: 'smtp.password', dbId: here, service: KEYCHAIN_SERVICE, account: `${here}:smtp.password` });
    expect(err.line).not.toContain('\n');
    expect(printable(err)).not.toMatch(/\bat .+:\d+:\d+/);
    expect(printable(err)).not.toContain('only-on-the-other-machine');
  });

  it('names the matching variable, command and file for a client secret', async () => {
    const err = await caught(resolveSecret('exchange.clientSecret', { dbId: newDbId(), env: baseEnv(), keychain: new MemoryKeychain() }));
    expect(err.line).toContain('sysemail params set exchange.clientSecret --stdin');
    expect(err.line).toContain('SYSEMAIL_EXCHANGE_CLIENT_SECRET, exchange.clientSecretCommand or exchange.clientSecretFile');
    expect(err.line).not.toContain('smtp.passwordCommand');
  });

  it('refuses to store an empty secret', async () => {
    const err = await caught(storeSecret('smtp.password', '', newDbId(), new MemoryKeychain()));
    expect(err.kind).toBe('data');
    expect(err.code).toBe('SECRET_EMPTY');
  });
});

describe('keychain unavailable', () => {
  const cases: Array<[string, RegExp]> = [
    ['Cannot autolaunch D-Bus without X11 $DISPLAY', /D-Bus session bus/],
    ['The name org.freedesktop.secrets was not provided by any .service files', /no Secret Service/],
    ['Cannot create an item in a locked collection', /locked/],
    ['Object does not exist at path “/org/freedesktop/secrets/collection/login”', /no default \(login\) collection/],
  ];

  it.each(cases)('turns "%s" into one KEYCHAIN_UNAVAILABLE line naming the other sources', async (libraryMessage, problem) => {
    const original = new Error(libraryMessage);
    const keychain: Keychain = {
      get: () => Promise.reject(original),
      set: () => Promise.reject(original),
      delete: () => Promise.reject(original),
    };
    const err = await caught(resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), keychain }));
    expect(err.kind).toBe('config');
    expect(err.code).toBe('KEYCHAIN_UNAVAILABLE');
    expect(err.message).toMatch(problem);
    expect(err.message).not.toContain(libraryMessage);
    expect(err.cause).toBe(original);
    expect(err.line).not.toContain('\n');
    for (const way of ['SYSEMAIL_SMTP_PASSWORD', 'smtp.passwordCommand', 'smtp.passwordFile']) expect(err.line).toContain(way);
  });

  it('fails store, delete and has the same way', async () => {
    const keychain = brokenKeychain('Cannot create an item in a locked collection');
    const dbId = newDbId();
    for (const op of [
      storeSecret('smtp.password', 'x', dbId, keychain),
      deleteSecret('smtp.password', dbId, keychain),
      hasSecret('smtp.password', dbId, keychain),
    ]) {
      expect((await caught(op)).code).toBe('KEYCHAIN_UNAVAILABLE');
    }
  });

  it("names the client secret's own sources, not the SMTP password's", async () => {
    const err = await caught(
      resolveSecret('smtp.oauth.clientSecret', {
        dbId: newDbId(),
        env: baseEnv(),
        keychain: brokenKeychain('Cannot autolaunch D-Bus without X11 $DISPLAY'),
      }),
    );
    expect(err.code).toBe('KEYCHAIN_UNAVAILABLE');
    expect(err.line).toContain('SYSEMAIL_SMTP_CLIENT_SECRET, smtp.oauth.clientSecretCommand or smtp.oauth.clientSecretFile');
    expect(err.line).not.toContain('smtp.passwordFile');
  });

  it('reports a missing keytar module through the default keychain', async () => {
    const missing = Object.assign(new Error("Cannot find package '@github/keytar'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const keychain = openKeychain(KEYCHAIN_SERVICE, () => Promise.reject(missing));
    const err = await caught(resolveSecret('smtp.password', { dbId: newDbId(), env: baseEnv(), keychain }));
    expect(err.code).toBe('KEYCHAIN_UNAVAILABLE');
    expect(err.message).toContain('@github/keytar');
    expect(err.cause).toBe(missing);
    expect(err.line).toContain('SYSEMAIL_SMTP_PASSWORD');
  });

  it('does not need the keychain when another source is configured', async () => {
    const keychain = brokenKeychain('Cannot autolaunch D-Bus without X11 $DISPLAY');
    const got = await resolveSecret('smtp.password', {
      dbId: newDbId(),
      env: { ...baseEnv(), SYSEMAIL_SMTP_PASSWORD: 'env-pw' },
      keychain,
    });
    expect(got.source).toBe('env');
  });
});

describe('describeSecretSource', () => {
  it('says which source would be used without running the command', async () => {
    const marker = join(dir, 'describe-ran');
    const keychain = new MemoryKeychain();
    const dbId = newDbId();
    const ctx: SecretContext = { dbId, env: baseEnv(), keychain };
    expect(await describeSecretSource('smtp.password', { ...ctx, env: { SYSEMAIL_SMTP_PASSWORD: 'x' } })).toEqual({
      source: 'env',
      detail: 'environment variable SYSEMAIL_SMTP_PASSWORD',
    });
    expect((await describeSecretSource('smtp.password', { ...ctx, passwordCommand: `touch '${marker}'` })).source).toBe('command');
    expect(existsSync(marker)).toBe(false);
    expect((await describeSecretSource('smtp.password', { ...ctx, passwordFile: '/etc/x' })).source).toBe('file');
    const none = await describeSecretSource('smtp.password', ctx);
    expect(none.source).toBe('none');
    expect('error' in none && none.error.code).toBe('SECRET_UNAVAILABLE');
    await storeSecret('smtp.password', 'kept', dbId, keychain);
    expect((await describeSecretSource('smtp.password', ctx)).source).toBe('keychain');
    const broken = await describeSecretSource('smtp.password', {
      ...ctx,
      keychain: brokenKeychain('Cannot autolaunch D-Bus without X11 $DISPLAY'),
    });
    expect('error' in broken && broken.error.code).toBe('KEYCHAIN_UNAVAILABLE');
  });
});

const secretToolPresent = spawnSync('secret-tool', ['--help'], { stdio: 'ignore' }).error === undefined;

describeKeychain('the real OS keychain', () => {
  const used: string[] = [];
  const SECRETS: SecretName[] = ['smtp.password', 'smtp.oauth.clientSecret', 'exchange.clientSecret'];
  const dbIdForTest = (): string => {
    const id = newDbId();
    used.push(id);
    return id;
  };

  afterEach(async () => {
    for (const id of used.splice(0)) {
      for (const name of SECRETS) await deleteSecret(name, id).catch(() => false);
    }
  });

  it('stores, resolves, is not found from another database, and deletes', async () => {
    const dbId = dbIdForTest();
    const secret = `pw-${randomBytes(8).toString('hex')}`;
    await storeSecret('smtp.password', secret, dbId);
    expect(await hasSecret('smtp.password', dbId)).toBe(true);
    expect(await resolveSecret('smtp.password', { dbId, env: baseEnv() })).toEqual({ value: secret, source: 'keychain' });
    expect(await describeSecretSource('smtp.password', { dbId, env: baseEnv() })).toEqual({
      source: 'keychain',
      detail: `OS keychain, service sysemail, account ${dbId}:smtp.password`,
    });

    const copied = dbIdForTest();
    const err = await caught(resolveSecret('smtp.password', { dbId: copied, env: baseEnv() }));
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.message).toContain(copied);
    for (const way of [
      'sysemail params set smtp.password --stdin',
      'SYSEMAIL_SMTP_PASSWORD',
      'smtp.passwordCommand',
      'smtp.passwordFile',
    ]) {
      expect(err.line).toContain(way);
    }
    expect(printable(err)).not.toContain(secret);
    expect(printable(err)).not.toMatch(/\bat .+:\d+:\d+/);

    expect(await resolveSecret('smtp.password', { dbId, env: { ...baseEnv(), SYSEMAIL_SMTP_PASSWORD: 'env-wins' } })).toEqual({
      value: 'env-wins',
      source: 'env',
    });

    expect(await deleteSecret('smtp.password', dbId)).toBe(true);
    expect(await deleteSecret('smtp.password', dbId)).toBe(false);
    expect(await hasSecret('smtp.password', dbId)).toBe(false);
    expect((await caught(resolveSecret('smtp.password', { dbId, env: baseEnv() }))).code).toBe('SECRET_UNAVAILABLE');
  });

  it('keeps one entry per secret name and overwrites on store', async () => {
    const dbId = dbIdForTest();
    await storeSecret('exchange.clientSecret', 'first', dbId);
    await storeSecret('exchange.clientSecret', 'second', dbId);
    expect(await resolveSecret('exchange.clientSecret', { dbId, env: baseEnv() })).toEqual({ value: 'second', source: 'keychain' });
    expect(await hasSecret('smtp.password', dbId)).toBe(false);
    expect(await hasSecret('smtp.oauth.clientSecret', dbId)).toBe(false);
  });

  it.skipIf(!secretToolPresent)('is stored under service sysemail, account <dbId>:<name>', async () => {
    const dbId = dbIdForTest();
    const secret = `pw-${randomBytes(8).toString('hex')}`;
    await storeSecret('smtp.password', secret, dbId);
    const { stdout } = await run('secret-tool', ['lookup', 'service', 'sysemail', 'account', `${dbId}:smtp.password`]);
    expect(stdout.replace(/\n$/, '')).toBe(secret);
  });
});
