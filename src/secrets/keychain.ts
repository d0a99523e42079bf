/**
 * The OS keychain (macOS Keychain, Windows Credential Manager, the Secret Service on Linux) through
 * @github/keytar. keytar is an optional native module, so it is loaded on first use and its absence is
 * an ordinary KEYCHAIN_UNAVAILABLE configuration error, not a crash at start-up.
 */
import { SysemailError } from '../core/errors.js';

/** Keychain service name under which sysemail keeps its secrets. */
export const KEYCHAIN_SERVICE = 'sysemail';

/** One keychain service; accounts are `<dbId>:<secret name>`. */
export interface Keychain {
  /** The stored secret, or null when there is no entry. */
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  /** True when an entry was deleted, false when there was none. */
  delete(account: string): Promise<boolean>;
}

/** The part of the keytar API sysemail uses. */
export interface KeytarApi {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export type KeytarLoader = () => Promise<unknown>;

const KEYTAR_MODULE = '@github/keytar';

// A variable specifier keeps the build independent of the optional module being installed.
const importKeytar: KeytarLoader = () => import(KEYTAR_MODULE);

function isKeytarApi(value: unknown): value is KeytarApi {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.getPassword === 'function' && typeof v.setPassword === 'function' && typeof v.deletePassword === 'function';
}

/** keytar is CommonJS: imported from ESM its API is `.default` (named exports are not all detected). */
function keytarApiOf(mod: unknown): KeytarApi | undefined {
  if (typeof mod === 'object' && mod !== null && 'default' in mod && isKeytarApi(mod.default)) return mod.default;
  return isKeytarApi(mod) ? mod : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What went wrong with the keychain, in sysemail's own words. The library's text is matched but never
 * repeated, so nothing it might carry ends up in a printable message.
 */
export function keychainProblem(err: unknown): string {
  const text = messageOf(err);
  if (
    /ERR_MODULE_NOT_FOUND|Cannot find (module|package)|native addon|keytar\.node|invalid ELF|NODE_MODULE_VERSION/i.test(text) ||
    (err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND')
  ) {
    return `the keychain module ${KEYTAR_MODULE} is not installed or not built for this Node.js`;
  }
  if (
    /autolaunch D-Bus|DBUS_SESSION_BUS_ADDRESS|Could not connect|Failed to connect to socket|No such file or directory|Connection refused/i.test(
      text,
    )
  ) {
    return 'no D-Bus session bus is running, so the Secret Service (e.g. GNOME Keyring) cannot be reached';
  }
  if (/org\.freedesktop\.secrets|not provided by any \.service files|ServiceUnknown|NameHasNoOwner/i.test(text)) {
    return 'no Secret Service (e.g. GNOME Keyring or KeePassXC) is running on the D-Bus session bus';
  }
  if (/Object does not exist at path|collection\/login|No such (secret )?collection/i.test(text)) {
    return 'the keyring has no default (login) collection and cannot create one without a prompt';
  }
  if (/locked|prompt|dismissed|cancel|interaction is not allowed/i.test(text)) {
    return 'the keyring is locked and cannot be unlocked without a prompt';
  }
  return 'the OS keychain refused the request';
}

/** KEYCHAIN_UNAVAILABLE for `err`; `fix` names the other places a secret can come from. */
export function keychainUnavailable(err: unknown, fix: string, data: Record<string, unknown> = {}): SysemailError {
  return new SysemailError('config', 'KEYCHAIN_UNAVAILABLE', `OS keychain unavailable: ${keychainProblem(err)}`, {
    fix,
    cause: err,
    data,
  });
}

const GENERIC_FIX =
  'Give the secret another way: its SYSEMAIL_* environment variable, its command ' +
  '(smtp.passwordCommand, *.clientSecretCommand) or its file (smtp.passwordFile, *.clientSecretFile)';

/**
 * The keychain behind keytar, bound to one service. Any failure (module missing, no Secret Service,
 * locked keyring) is thrown as SysemailError KEYCHAIN_UNAVAILABLE with the library error as `cause`.
 */
export function openKeychain(service: string = KEYCHAIN_SERVICE, load: KeytarLoader = importKeytar): Keychain {
  let api: Promise<KeytarApi> | undefined;
  const keytar = (): Promise<KeytarApi> => {
    api ??= load().then(
      (mod) => {
        const found = keytarApiOf(mod);
        if (!found) throw new Error(`${KEYTAR_MODULE} native addon has an unexpected shape`);
        return found;
      },
      (err: unknown) => {
        // Not cached: installing or building the module fixes it without a restart.
        api = undefined;
        throw err;
      },
    );
    return api;
  };
  const call = async <T>(op: (k: KeytarApi) => Promise<T>): Promise<T> => {
    try {
      return await op(await keytar());
    } catch (err) {
      throw keychainUnavailable(err, GENERIC_FIX);
    }
  };
  return {
    get: (account) => call((k) => k.getPassword(service, account)),
    set: (account, secret) => call((k) => k.setPassword(service, account, secret)),
    delete: (account) => call((k) => k.deletePassword(service, account)),
  };
}

let defaultKeychain: Keychain | undefined;

/** The process-wide keychain for service `sysemail`. */
export function systemKeychain(): Keychain {
  defaultKeychain ??= openKeychain();
  return defaultKeychain;
}
