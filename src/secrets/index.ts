/**
 * Where sysemail's secrets come from. Per secret, the first source that is configured wins:
 * its SYSEMAIL_* environment variable, then its command (smtp.passwordCommand,
 * smtp.oauth.clientSecretCommand, exchange.clientSecretCommand), then its file (smtp.passwordFile,
 * *.clientSecretFile), then the OS keychain entry of this database (service `sysemail`, account
 * `<dbId>:<name>`). A configured source that fails is an error, not a reason to try the next one.
 * No secret value ever goes into an error's message, fix or data.
 */
import { SysemailError, isSysemailError } from '../core/errors.js';
import { SECRET_KEYS, secretSources, type ParamKey, type SecretName } from '../core/params.js';
import { KEYCHAIN_SERVICE, keychainUnavailable, systemKeychain, type Keychain } from './keychain.js';
import { readPasswordFile, runPasswordCommand } from './sources.js';

export type { SecretName } from '../core/params.js';
export { KEYCHAIN_SERVICE, openKeychain, systemKeychain, type Keychain } from './keychain.js';
export { PASSWORD_COMMAND_TIMEOUT_MS } from './sources.js';

export type SecretSource = 'env' | 'command' | 'file' | 'keychain';

export interface ResolvedSecret {
  value: string;
  source: SecretSource;
}

export interface SecretContext {
  /** The database's own random id: part of the keychain account. */
  dbId: string;
  env: NodeJS.ProcessEnv;
  /** smtp.passwordCommand; used for smtp.password only. */
  passwordCommand?: string;
  /** smtp.passwordFile; used for smtp.password only. */
  passwordFile?: string;
  /** Each secret's command source (smtp.passwordCommand, *.clientSecretCommand), see secretSettings. */
  commands?: Partial<Record<SecretName, string>>;
  /** Each secret's file source (smtp.passwordFile, *.clientSecretFile), see secretSettings. */
  files?: Partial<Record<SecretName, string>>;
  /** Defaults to the OS keychain. */
  keychain?: Keychain;
}

/** The environment variable that overrides each secret (declared once, in the parameter table). */
export const SECRET_ENV: Readonly<Record<SecretName, string>> = secretTable((name) => secretSources(name).env);

/** Keychain account of a secret: `<dbId>:<name>`. */
export function keychainAccount(name: SecretName, dbId: string): string {
  if (dbId === '') throw new SysemailError('internal', 'NO_DB_ID', 'The database id is empty, so no keychain account can be named');
  return `${dbId}:${name}`;
}

/** The parameter naming each secret's command source. */
export const SECRET_COMMAND_KEY: Readonly<Record<SecretName, ParamKey>> = secretTable((name) => secretSources(name).command);

/** The parameter naming each secret's file source. */
export const SECRET_FILE_KEY: Readonly<Record<SecretName, ParamKey>> = secretTable((name) => secretSources(name).file);

function secretTable<T>(of: (name: SecretName) => T): Record<SecretName, T> {
  return Object.fromEntries(SECRET_KEYS.map((name) => [name, of(name)])) as Record<SecretName, T>;
}

const SECRET_NAMES = SECRET_KEYS;

/**
 * The command and file sources of every secret, read from the settings (or, in tests, a plain record
 * of parameter values), for a SecretContext.
 */
export function secretSettings(
  from: { string(key: string): string | undefined } | Readonly<Record<string, string | undefined>>,
): Pick<SecretContext, 'commands' | 'files'> {
  const get =
    typeof from.string === 'function'
      ? (key: string) => (from as { string(key: string): string | undefined }).string(key)
      : (key: string) => (from as Record<string, string | undefined>)[key];
  const commands: Partial<Record<SecretName, string>> = {};
  const files: Partial<Record<SecretName, string>> = {};
  for (const name of SECRET_NAMES) {
    const command = get(SECRET_COMMAND_KEY[name]);
    const file = get(SECRET_FILE_KEY[name]);
    if (command !== undefined) commands[name] = command;
    if (file !== undefined) files[name] = file;
  }
  return { commands, files };
}

function commandOf(name: SecretName, ctx: SecretContext): string | undefined {
  return ctx.commands?.[name] ?? (name === 'smtp.password' ? ctx.passwordCommand : undefined);
}

function fileOf(name: SecretName, ctx: SecretContext): string | undefined {
  return ctx.files?.[name] ?? (name === 'smtp.password' ? ctx.passwordFile : undefined);
}

/** "SYSEMAIL_SMTP_PASSWORD, smtp.passwordCommand or smtp.passwordFile" — the non-keychain ways in. */
function otherSources(name: SecretName): string {
  return `${SECRET_ENV[name]}, ${SECRET_COMMAND_KEY[name]} or ${SECRET_FILE_KEY[name]}`;
}

function storeCommand(name: SecretName): string {
  const variable = name === 'smtp.password' ? 'PW' : 'SECRET';
  return `printf %s "$${variable}" | sysemail params set ${name} --stdin`;
}

function notFound(name: SecretName, dbId: string): SysemailError {
  return new SysemailError(
    'config',
    'SECRET_UNAVAILABLE',
    `No ${name} found: this database (id ${dbId}) has no keychain entry for it, ` +
      'as happens when the secret was never set here or the database was copied from another machine',
    {
      fix: `Store it with: ${storeCommand(name)}; or set ${otherSources(name)}`,
      data: { secret: name, source: 'keychain', dbId, service: KEYCHAIN_SERVICE, account: keychainAccount(name, dbId) },
    },
  );
}

/** Runs a keychain operation; any failure becomes KEYCHAIN_UNAVAILABLE naming this secret's other sources. */
async function viaKeychain<T>(name: SecretName, dbId: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (isSysemailError(err) && err.code !== 'KEYCHAIN_UNAVAILABLE') throw err;
    const original = isSysemailError(err) ? err.cause : err;
    throw keychainUnavailable(original, `Give ${name} another way: ${otherSources(name)}`, { secret: name, dbId });
  }
}

function keychainOf(keychain: Keychain | undefined): Keychain {
  return keychain ?? systemKeychain();
}

function envValue(name: SecretName, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[SECRET_ENV[name]];
  return value === undefined || value === '' ? undefined : value;
}

function configured(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/**
 * The secret and where it came from. Throws SysemailError kind `config`: SECRET_UNAVAILABLE (failing
 * command, unusable file, no keychain entry) or KEYCHAIN_UNAVAILABLE.
 */
export async function resolveSecret(name: SecretName, ctx: SecretContext): Promise<ResolvedSecret> {
  const fromEnv = envValue(name, ctx.env);
  if (fromEnv !== undefined) return { value: fromEnv, source: 'env' };
  const command = commandOf(name, ctx);
  if (configured(command)) {
    return { value: await runPasswordCommand(command, ctx.env, undefined, SECRET_COMMAND_KEY[name]), source: 'command' };
  }
  const file = fileOf(name, ctx);
  if (configured(file)) {
    return { value: await readPasswordFile(file, ctx.env, SECRET_FILE_KEY[name]), source: 'file' };
  }
  const account = keychainAccount(name, ctx.dbId);
  const keychain = keychainOf(ctx.keychain);
  const stored = await viaKeychain(name, ctx.dbId, () => keychain.get(account));
  if (stored !== null && stored !== '') return { value: stored, source: 'keychain' };
  throw notFound(name, ctx.dbId);
}

/** Saves a secret in the keychain entry of this database. */
export async function storeSecret(name: SecretName, value: string, dbId: string, keychain?: Keychain): Promise<void> {
  if (value === '') {
    throw new SysemailError('data', 'SECRET_EMPTY', `${name} must not be empty`, {
      fix: `To remove it: sysemail params unset ${name}`,
      data: { secret: name },
    });
  }
  const account = keychainAccount(name, dbId);
  const kc = keychainOf(keychain);
  await viaKeychain(name, dbId, () => kc.set(account, value));
}

/** Removes the keychain entry; false when there was none. */
export async function deleteSecret(name: SecretName, dbId: string, keychain?: Keychain): Promise<boolean> {
  const account = keychainAccount(name, dbId);
  const kc = keychainOf(keychain);
  return viaKeychain(name, dbId, () => kc.delete(account));
}

/** True when this database has a keychain entry for the secret (other sources are not looked at). */
export async function hasSecret(name: SecretName, dbId: string, keychain?: Keychain): Promise<boolean> {
  const account = keychainAccount(name, dbId);
  const kc = keychainOf(keychain);
  const stored = await viaKeychain(name, dbId, () => kc.get(account));
  return stored !== null && stored !== '';
}

export type SecretSourceDescription =
  | { source: SecretSource; detail: string }
  /** Nothing usable: `error` is what resolveSecret would throw. */
  | { source: 'none'; detail: string; error: SysemailError };

/**
 * Which source resolveSecret would use, without running the password command or reading the file
 * (their failures only show when the secret is resolved). For `diagnose` and `params list`.
 */
export async function describeSecretSource(name: SecretName, ctx: SecretContext): Promise<SecretSourceDescription> {
  if (envValue(name, ctx.env) !== undefined) return { source: 'env', detail: `environment variable ${SECRET_ENV[name]}` };
  const command = commandOf(name, ctx);
  if (configured(command)) return { source: 'command', detail: SECRET_COMMAND_KEY[name] };
  const file = fileOf(name, ctx);
  if (configured(file)) return { source: 'file', detail: `${SECRET_FILE_KEY[name]} ${file}` };
  const account = keychainAccount(name, ctx.dbId);
  try {
    if (await hasSecret(name, ctx.dbId, ctx.keychain)) {
      return { source: 'keychain', detail: `OS keychain, service ${KEYCHAIN_SERVICE}, account ${account}` };
    }
  } catch (err) {
    if (isSysemailError(err) && err.code === 'KEYCHAIN_UNAVAILABLE') return { source: 'none', detail: err.message, error: err };
    throw err;
  }
  const error = notFound(name, ctx.dbId);
  return { source: 'none', detail: error.message, error };
}
