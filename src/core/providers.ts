/** The providers sysemail sends through, and the one rule that picks the provider of a command. */
import type { Settings } from './precedence.js';

export const PROVIDER_NAMES = ['smtp', 'exchange', 'eml'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];
export const DEFAULT_PROVIDER: ProviderName = 'smtp';

export function isProviderName(x: unknown): x is ProviderName {
  return typeof x === 'string' && (PROVIDER_NAMES as readonly string[]).includes(x);
}

/** The distributor batch's provider (and that of commands that name none): batch.provider, else the default. */
export function batchProvider(settings: Pick<Settings, 'string'>): ProviderName {
  const p = settings.string('batch.provider');
  return isProviderName(p) ? p : DEFAULT_PROVIDER;
}

/** The names for a sentence: "smtp, exchange or eml". */
export const PROVIDER_LIST = `${PROVIDER_NAMES.slice(0, -1).join(', ')} or ${PROVIDER_NAMES[PROVIDER_NAMES.length - 1]}`;

/** The pseudo-provider of interactive.provider and the user config's `provider`: ask how to send, each time. */
export const PROMPT_PROVIDER = 'prompt' as const;
/** What a person may name where sysemail could ask instead: a provider, or `prompt`. */
export const PROVIDER_CHOICES = [...PROVIDER_NAMES, PROMPT_PROVIDER] as const;
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

export function isProviderChoice(x: unknown): x is ProviderChoice {
  return typeof x === 'string' && (PROVIDER_CHOICES as readonly string[]).includes(x);
}

export interface ProviderChoiceInput {
  /** --provider, already checked. */
  flag?: ProviderChoice | undefined;
  /** The provider of the user the command acts for (`users set ID --provider P`), if any. */
  user?: ProviderName | null | undefined;
  /**
   * How a command a person runs reads interactive.provider (user config `provider` included): `ask`
   * (send: `prompt` means ask, so the answer may be `prompt`) or `no-prompt` (test-email: `prompt`
   * falls through to batch.provider). Left out, the command is batch-like and interactive.provider
   * does not apply.
   */
  interactive?: 'ask' | 'no-prompt' | undefined;
  settings: Pick<Settings, 'string'>;
}

/**
 * The one rule that picks the provider of a command: --provider > the user's own provider >
 * interactive.provider (for a command a person runs) > batch.provider > smtp.
 */
export function chooseProvider(input: ProviderChoiceInput & { interactive: 'ask' }): ProviderChoice;
export function chooseProvider(input: ProviderChoiceInput): ProviderName;
export function chooseProvider(input: ProviderChoiceInput): ProviderChoice {
  const ask = input.interactive === 'ask';
  if (isProviderName(input.flag)) return input.flag;
  if (input.flag === PROMPT_PROVIDER && ask) return PROMPT_PROVIDER;
  if (input.user) return input.user;
  if (input.interactive) {
    const p = input.settings.string('interactive.provider');
    if (isProviderName(p)) return p;
    if (ask) return PROMPT_PROVIDER;
  }
  return batchProvider(input.settings);
}

/**
 * A queued message keeps only an explicit choice (--provider, else the user's own provider); null
 * leaves it to the batch, which sends it through batch.provider as it is then.
 */
export function queuedProvider(input: Pick<ProviderChoiceInput, 'flag' | 'user'>): ProviderName | null {
  if (isProviderName(input.flag)) return input.flag;
  return input.user ?? null;
}
