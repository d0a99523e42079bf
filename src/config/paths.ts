import os from 'node:os';
import path from 'node:path';

/** `$XDG_DATA_HOME/sysemail`, else `~/.local/share/sysemail`. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.local', 'share');
  return path.join(base, 'sysemail');
}

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dataDir(env), 'sysemail.db');
}

export type DbPathSource = 'flag' | 'env' | 'user' | 'default';

/** Database location: --db, else SYSEMAIL_DB, else user config `db`, else the data folder. */
export function resolveDbPath(flag: string | undefined, env: NodeJS.ProcessEnv, userDb: string | undefined): { file: string; source: DbPathSource } {
  if (flag) return { file: path.resolve(flag), source: 'flag' };
  if (env.SYSEMAIL_DB) return { file: path.resolve(env.SYSEMAIL_DB), source: 'env' };
  if (userDb) return { file: path.resolve(userDb), source: 'user' };
  return { file: defaultDbPath(env), source: 'default' };
}
