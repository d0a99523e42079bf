/**
 * "Remember my choice": writes `provider` into the user config the operator already has (JSON, YAML,
 * package.json#email), or into a new ~/.emailrc.json. Other keys and the file's layout are kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SysemailError } from '../core/errors.js';
import type { ProviderChoice } from '../core/providers.js';

export type RememberedProvider = ProviderChoice;

function setYamlKey(text: string, key: string, value: string): string {
  const line = `${key}: ${value}`;
  const re = new RegExp(`^${key}\\s*:.*$`, 'm');
  if (re.test(text)) return text.replace(re, line);
  return (text.length === 0 || text.endsWith('\n') ? text : text + '\n') + line + '\n';
}

export function rememberProvider(
  configFile: string | undefined,
  home: string,
  provider: RememberedProvider,
): { file: string; created: boolean } {
  const file = configFile ?? path.join(home, '.emailrc.json');
  const fail = (why: string, cause?: unknown) =>
    new SysemailError('ioerr', 'USER_CONFIG_WRITE_FAILED', `cannot save the provider choice in ${file} (${why})`, {
      fix: `Add "provider": "${provider}" to ${file} yourself`,
      cause,
    });
  const exists = fs.existsSync(file);
  const base = path.basename(file);
  if (/\.(c|m)?(js|ts)$/.test(base)) throw fail('a script file is not edited automatically');
  let text = '';
  try {
    if (exists) text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code ?? String(err), err);
  }
  let out: string;
  const yaml = /\.ya?ml$/.test(base) || (base === '.emailrc' && text.trim() !== '' && !text.trim().startsWith('{'));
  if (yaml) {
    out = setYamlKey(text, 'provider', provider);
  } else {
    let doc: Record<string, unknown> = {};
    try {
      if (text.trim()) doc = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw fail('it is not valid JSON', err);
    }
    if (base === 'package.json') doc.email = { ...(doc.email ?? {}), provider };
    else doc.provider = provider;
    out = JSON.stringify(doc, null, 2) + '\n';
  }
  try {
    fs.writeFileSync(file, out, exists ? {} : { mode: 0o600 });
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code ?? String(err), err);
  }
  return { file, created: !exists };
}
