/**
 * Setting a secret parameter (`params set smtp.password`): the value goes to the OS keychain under this
 * database's own account, never into the database. The CLI reads the value (standard input or a masked
 * prompt) and shows the result; the checks and the keeping happen here.
 */
import { SysemailError } from '../core/errors.js';
import type { SecretName } from '../core/params.js';
import { LINE_BREAK_OR_NUL } from '../core/text.js';
import type { Keychain } from '../secrets/index.js';

export interface SecretSaved {
  key: SecretName;
  /** Where it went: always the keychain (the non-interactive sources are set outside sysemail). */
  source: 'keychain';
  service: string;
  account: string;
}

/**
 * Asks the keychain whether it can be used at all before a secret is asked for, so that an operator
 * does not type a secret only to learn that it cannot be kept. Throws KEYCHAIN_UNAVAILABLE if not.
 */
export async function checkKeychain(key: SecretName, dbId: string, keychain?: Keychain): Promise<void> {
  const { hasSecret } = await import('../secrets/index.js');
  await hasSecret(key, dbId, keychain);
}

/** Checks the value (one non-empty line) and keeps it in the keychain. */
export async function setSecret(key: SecretName, value: string, dbId: string, keychain?: Keychain): Promise<SecretSaved> {
  if (value === '') {
    throw new SysemailError('data', 'SECRET_EMPTY', `no value was given for ${key}`, {
      fix: `Pipe the secret in: printf %s "$SECRET" | sysemail params set ${key} --stdin`,
    });
  }
  if (LINE_BREAK_OR_NUL.test(value))
    throw new SysemailError('data', 'SECRET_MULTILINE', `the value given for ${key} spans several lines`, {
      fix: 'Give the secret on one line',
    });
  const { storeSecret, KEYCHAIN_SERVICE, keychainAccount } = await import('../secrets/index.js');
  await storeSecret(key, value, dbId, keychain);
  return { key, source: 'keychain', service: KEYCHAIN_SERVICE, account: keychainAccount(key, dbId) };
}
