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
