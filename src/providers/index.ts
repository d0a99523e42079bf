/**
 * The provider factory. Each provider module is loaded only when asked for, so a command that sends
 * through the email app never loads nodemailer's SMTP client, and `--version` loads none.
 */
import { SysemailError } from '../core/errors.js';
import { PROVIDER_NAMES, type ProviderName } from '../core/providers.js';
import type { Provider } from './types.js';
import type { ProviderOptions } from './common.js';
import { quoted } from '../core/text.js';

export type { ProviderOptions, SecretAccess } from './common.js';
export { PROVIDER_NAMES, isProviderName } from '../core/providers.js';

/**
 * `pool` keeps SMTP connections open between messages (the distributor); the other providers ignore it.
 * Creating a provider does no I/O; call `prepare()` to check settings and secrets up front.
 */
export async function createProvider(name: ProviderName, options: ProviderOptions): Promise<Provider> {
  switch (name) {
    case 'smtp': {
      // nodemailer loads alongside: the first send needs it
      const [{ SmtpProvider }] = await Promise.all([import('./smtp/index.js'), import('nodemailer')]);
      return new SmtpProvider(options);
    }
    case 'exchange': {
      const { ExchangeProvider } = await import('./exchange.js');
      return new ExchangeProvider(options);
    }
    case 'eml': {
      const { EmlProvider } = await import('./eml.js');
      return new EmlProvider(options);
    }
    default:
      throw new SysemailError('usage', 'UNKNOWN_PROVIDER', `unknown provider ${quoted(String(name))}`, {
        fix: `Use one of ${PROVIDER_NAMES.join(', ')}`,
      });
  }
}
