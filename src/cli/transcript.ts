/**
 * `-v` shows the SMTP conversation on stderr as swaks does. The providers hand over lines with
 * credentials and message bodies already elided; here they only reach the verbose stream.
 */
import type { ProviderName } from '../core/failure.js';
import type { ProviderOptions } from '../providers/common.js';
import type { Provider } from '../providers/types.js';
import type { CliContext } from './context.js';

export function transcriptOption(ctx: CliContext): Pick<ProviderOptions, 'onTranscript'> {
  return ctx.output.verbose ? { onTranscript: (line: string) => ctx.output.debug(line) } : {};
}

/** For use cases that take a `createProvider`: the default one, with the transcript when -v is on. */
export function verboseProviders(ctx: CliContext): {
  createProvider?: (name: ProviderName, options: ProviderOptions) => Promise<Provider>;
} {
  if (!ctx.output.verbose) return {};
  return {
    createProvider: async (name, options) => {
      const { createProvider } = await import('../providers/index.js');
      return createProvider(name, { ...options, ...transcriptOption(ctx) });
    },
  };
}
