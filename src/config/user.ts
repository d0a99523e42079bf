/**
 * The user layer: the operator's own options, found by cosmiconfig (module name `email`) from the
 * current folder up, then in the home folder; or the file named by --config.
 */
import os from 'node:os';
import path from 'node:path';
import { formatMailbox, parseSender } from '../core/address.js';
import { SysemailError, quoted } from '../core/errors.js';
import type { ParamValue } from '../core/params.js';
import { fs } from '../core/builtins.js';
import { PROVIDER_CHOICES, isProviderChoice, type ProviderChoice } from '../core/providers.js';

export interface UserConfig {
  from?: string;
  provider?: ProviderChoice;
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
        {
          const mailbox = typeof v === 'string' ? parseSender(v).value : undefined;
          if (!mailbox)
            throw bad(
              `'from' must be one email address, optionally with a name such as Ops Team <ops@example.com> (got ${JSON.stringify(v)})`,
            );
          config.from = formatMailbox(mailbox);
        }
        break;
      case 'provider':
        if (!isProviderChoice(v)) throw bad(`'provider' must be one of ${PROVIDER_CHOICES.join(', ')} (got ${JSON.stringify(v)})`);
        config.provider = v;
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
        warnings.push(`${file}: unknown option ${quoted(k)} ignored (known: ${USER_OPTIONS.join(', ')})`);
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

/** cosmiconfig's search places for the module name `email`, in its order. */
export const SEARCH_PLACES = [
  'package.json',
  '.emailrc',
  '.emailrc.json',
  '.emailrc.yaml',
  '.emailrc.yml',
  '.emailrc.js',
  '.emailrc.ts',
  '.emailrc.mjs',
  '.emailrc.cjs',
  '.config/emailrc',
  '.config/emailrc.json',
  '.config/emailrc.yaml',
  '.config/emailrc.yml',
  '.config/emailrc.js',
  '.config/emailrc.ts',
  '.config/emailrc.mjs',
  '.config/emailrc.cjs',
  'email.config.js',
  'email.config.ts',
  'email.config.mjs',
  'email.config.cjs',
];

function hasEmailKey(pkgFile: string): boolean {
  try {
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as Record<string, unknown>;
    return pkg !== null && typeof pkg === 'object' && 'email' in pkg;
  } catch {
    return false;
  }
}

function firstPlaceIn(dir: string): string | undefined {
  let names: Set<string>;
  try {
    names = new Set(fs.readdirSync(dir));
  } catch {
    return undefined;
  }
  const hasConfigDir = names.has('.config');
  for (const place of SEARCH_PLACES) {
    const [head] = place.split('/');
    if (!names.has(head) || (place.startsWith('.config/') && !hasConfigDir)) continue;
    const file = path.join(dir, place);
    if (place === 'package.json') {
      if (hasEmailKey(file)) return file;
      continue;
    }
    if (place.startsWith('.config/') && !fs.existsSync(file)) continue;
    return file;
  }
  return undefined;
}

/**
 * Finds the user config file the way cosmiconfig searches (current folder up to the root, then the home
 * folder), with one directory listing per folder, so the common case — no file at all — costs no
 * loading of cosmiconfig and its parsers.
 */
export function findUserConfigFile(cwd: string, home: string): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const found = firstPlaceIn(dir);
    if (found) return found;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return firstPlaceIn(home);
}

export async function loadUserConfig(options: { file?: string; cwd: string; home: string }): Promise<LoadedUserConfig> {
  const file = options.file ? path.resolve(options.cwd, options.file) : findUserConfigFile(options.cwd, options.home);
  if (!file) return { config: {}, warnings: [] };
  try {
    const { cosmiconfig } = await import('cosmiconfig');
    const result = await cosmiconfig('email').load(file);
    return validateUserConfig(result?.config, file);
  } catch (err) {
    if (err instanceof SysemailError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      throw new SysemailError('noinput', 'USER_CONFIG_UNREADABLE', `cannot read user config ${file} (${e.code})`, {
        fix: 'Check the path given to --config',
        cause: err,
      });
    }
    if (/\.json$|(^|\/)package\.json$/.test(file)) {
      // the parser's own words would quote the file; say where it breaks instead
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        text = '';
      }
      const { jsonSyntaxError } = await import('../core/text.js');
      const at = jsonSyntaxError(text);
      throw new SysemailError(
        'config',
        'USER_CONFIG_INVALID',
        `user config ${file} is not JSON${at ? ` (line ${at.line}, column ${at.column})` : ''}`,
        {
          fix: 'Correct the syntax of the file (see .emailrc.example)',
          cause: err,
        },
      );
    }
    throw new SysemailError('config', 'USER_CONFIG_INVALID', `cannot parse user config ${file}: ${e.message.split('\n')[0]}`, {
      fix: 'Correct the syntax of the file (see .emailrc.example)',
      cause: err,
    });
  }
}
