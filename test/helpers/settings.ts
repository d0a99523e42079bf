/**
 * Effective settings for provider and use-case tests, without a database: `settingsOf({ 'smtp.host':
 * '127.0.0.1', 'smtp.port': 2525 })`. Values are parsed as `params set` would parse them, so a typo
 * fails loudly instead of silently falling back to a default.
 */
import { PARAMS, parseParamValue, type ParamValue } from '../../src/core/params.js';
import { Settings } from '../../src/core/precedence.js';

export function settingsOf(values: Record<string, string | number | boolean>, dataDir = '/tmp/sysemail-test-data'): Settings {
  const params = new Map<string, ParamValue>();
  for (const [key, raw] of Object.entries(values)) {
    const def = PARAMS.find((p) => p.key === key);
    if (!def) throw new Error(`settingsOf: unknown parameter ${key}`);
    const parsed = parseParamValue(def, raw);
    if (parsed.error !== undefined || parsed.value === undefined) throw new Error(`settingsOf: ${key} ${parsed.error}`);
    params.set(key, parsed.value);
  }
  const { settings, errors } = Settings.from({ params, user: new Map(), env: {}, dataDir });
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('; '));
  return settings;
}
