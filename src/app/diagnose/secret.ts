/**
 * Can the secret the provider needs be read? Says where it comes from, never what it is.
 */
import { isSysemailError } from '../../core/errors.js';
import type { ProviderName } from '../../core/failure.js';
import type { SecretName } from '../../core/params.js';
import type { Settings } from '../../core/precedence.js';
import { defaultTimeout } from '../../core/timeouts.js';
import type { SecretAccess } from '../../providers/common.js';
import { fail, pass, skip, type Check } from './types.js';

/** The password command may prompt a vault or an agent; give it as long as a send would. */
export const SECRET_CHECK_TIMEOUT_MS = defaultTimeout('secretCheckMs');

export function neededSecret(s: Settings, provider: ProviderName): SecretName | undefined {
  if (provider === 'exchange') return 'exchange.clientSecret';
  if (provider !== 'smtp' || !s.boolean('smtp.authRequired')) return undefined;
  return s.string('smtp.authMethod') === 'oauth2' ? 'smtp.oauth.clientSecret' : 'smtp.password';
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} gave no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function secretCheck(
  s: Settings,
  provider: ProviderName,
  access: SecretAccess,
  timeoutMs = SECRET_CHECK_TIMEOUT_MS,
): Promise<Check> {
  const name = neededSecret(s, provider);
  if (!name)
    return skip(
      'secret',
      provider === 'smtp' ? 'no secret needed: smtp.authRequired is false' : `no secret needed by the ${provider} provider`,
    );
  const { describeSecretSource, resolveSecret, secretSettings } = await import('../../secrets/index.js');
  const ctx = {
    dbId: access.dbId,
    env: access.env,
    ...secretSettings(s),
    ...(access.keychain ? { keychain: access.keychain } : {}),
  };
  try {
    const source = await withTimeout(describeSecretSource(name, ctx), timeoutMs, 'the keychain');
    if (source.source === 'none') return fail('secret', source.error.message, source.error.fix ?? '', 'SECRET_UNAVAILABLE');
    // a command or a file only shows its problems when it is really read
    if (source.source === 'command' || source.source === 'file') await withTimeout(resolveSecret(name, ctx), timeoutMs, source.detail);
    return pass('secret', `${name} is readable from ${source.detail}`);
  } catch (err) {
    if (isSysemailError(err)) return fail('secret', err.message, err.fix ?? '', 'SECRET_UNAVAILABLE');
    const message = err instanceof Error ? err.message : String(err);
    return fail(
      'secret',
      `${name} cannot be read: ${message}`,
      'See `sysemail params get ' + name + '`; give it through its environment variable if the keychain hangs',
      'SECRET_UNAVAILABLE',
    );
  }
}
