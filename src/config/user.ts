/**
 * The user layer: the operator's own options, found by cosmiconfig (module name `email`) from the
 * current folder up, then in the home folder; or the file named by --config.
 */
import os from 'node:os';
import path from 'node:path';
import { isValidAddress } from '../core/address.js';
import { SysemailError } from '../core/errors.js';
import type { ParamValue } from '../core/params.js';

export interface UserConfig {
  from?: string;
  provider?: 'smtp' | 'exchange' | 'eml' | 'prompt';
  db?: string;
  color?: boolean;
}

export interface LoadedUserConfig {
  config: UserConfig;
  /** The file it came from, if any. */
  file?: string;
  warnings: string[];
}

export const USER_OPTIONS = ['from', 'provider', 'db', 'color'] as const;
const PROVIDERS = ['smtp', 'exchange', 'eml', 'prompt'];

/** Checks a raw config object; bad values are refused naming the file. */
export function validateUserConfig(raw: unknown, file: string): LoadedUserConfig {
  const bad = (msg: string) =>
    new SysemailError('config', 'USER_CONFIG_INVALID', `${file}: ${msg}`, { fix: `Correct it in ${file} (see .emailrc.example)` });
  if (raw === null || raw === undefined) return { config: {}, file, warnings: [] };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('the user config must be an object of options');
  const obj = raw as Record<string, unknown>;
  const config: UserConfig = {};
  const warnings: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    switch (k) {
      case 'from':
        if (typeof v !== 'string' || !isValidAddress(v.trim())) throw bad(`'from' must be an email address (got ${JSON.stringify(v)})`);
        config.from = v.trim();
        break;
      case 'provider':
        if (typeof v !== 'string' || !PROVIDERS.includes(v)) throw bad(`'provider' must be one of ${PROVIDERS.join(', ')} (got ${JSON.stringify(v)})`);
        config.provider = v as UserConfig['provider'];
        break;
      case 'db':
        if (typeof v !== 'string' || v.trim() === '') throw bad(`'db' must be a file path (got ${JSON.stringify(v)})`);
        config.db = path.resolve(path.dirname(file), v.trim().replace(/^~(?=$|\/)/, os.homedir()));
        break;
      case 'color':
        if (typeof v !== 'boolean') throw bad(`'color' must be true or false (got ${JSON.stringify(v)})`);
        config.color = v;
        break;
      default:
        warnings.push(`${file}: unknown option '${k}' ignored (known: ${USER_OPTIONS.join(', ')})`);
    }
  }
  return { config, file, warnings };
}

/** Maps user options onto the parameters they override. */
export function userParamLayer(config: UserConfig): Map<string, ParamValue> {
  const layer = new Map<string, ParamValue>();
  if (config.from) layer.set('sender.default', config.from);
  if (config.provider) layer.set('interactive.provider', config.provider);
  return layer;
}

export async function loadUserConfig(options: { file?: string; cwd: string; home: string }): Promise<LoadedUserConfig> {
  const { cosmiconfig } = await import('cosmiconfig');
  try {
    if (options.file) {
      const file = path.resolve(options.cwd, options.file);
      const result = await cosmiconfig('email').load(file);
      return validateUserConfig(result?.config, file);
    }
    const up = await cosmiconfig('email', { searchStrategy: 'global', stopDir: path.parse(options.cwd).root }).search(options.cwd);
    const found = up ?? (await cosmiconfig('email', { searchStrategy: 'none' }).search(options.home));
    if (!found) return { config: {}, warnings: [] };
    return validateUserConfig(found.config, found.filepath);
  } catch (err) {
    if (err instanceof SysemailError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      throw new SysemailError('noinput', 'USER_CONFIG_UNREADABLE', `cannot read user config ${options.file ?? ''} (${e.code})`.replace('  ', ' '), {
        fix: 'Check the path given to --config',
        cause: err,
      });
    }
    throw new SysemailError('config', 'USER_CONFIG_INVALID', `cannot parse user config: ${e.message.split('\n')[0]}`, {
      fix: 'Correct the syntax of the file (see .emailrc.example)',
      cause: err,
    });
  }
}
