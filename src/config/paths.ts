import os from 'node:os';
import path from 'node:path';
import { fs } from '../core/builtins.js';
import { SysemailError } from '../core/errors.js';

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

const SERVER_DATABASE = /^postgres(ql)?:\/\//i;

/** Whether a database given by the user is a PostgreSQL URL rather than an SQLite file. */
export function isServerDatabase(value: string): boolean {
  return SERVER_DATABASE.test(value);
}

/**
 * A database URL as it may be shown: the password, if any, replaced by *** (in the user-info part,
 * up to the last @ before the path, and a `password=` query parameter).
 */
export function maskedDbUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^/@:?#]*):[^/?#]*@/i, '$1:***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** A file path made absolute; a PostgreSQL URL stays as it is (never taken for a file name: it may hold a password). */
function filePath(value: string): string {
  return SERVER_DATABASE.test(value) ? value : path.resolve(value);
}

/** Database location: --db, else SYSEMAIL_DB, else user config `db`, else the data folder. */
export function resolveDbPath(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  userDb: string | undefined,
): { file: string; source: DbPathSource } {
  if (flag) return { file: filePath(flag), source: 'flag' };
  if (env.SYSEMAIL_DB) return { file: filePath(env.SYSEMAIL_DB), source: 'env' };
  if (userDb) return { file: filePath(userDb), source: 'user' };
  return { file: defaultDbPath(env), source: 'default' };
}

/**
 * The folder the spool and the outbox default to: the database file's own folder, so a service account
 * whose home does not exist keeps everything a run needs where its database is. A server database has
 * no folder: its files stay in the data folder.
 */
export function databaseFolder(db: string, env: NodeJS.ProcessEnv = process.env): string {
  return SERVER_DATABASE.test(db) ? dataDir(env) : path.dirname(path.resolve(db));
}

/** Where a command ran, for the paths it is given: the folder, and the home `~/` stands for. */
export interface PathBase {
  cwd: string;
  home: string;
}

/** `~/x` → `$HOME/x`, then absolute against `cwd`: what a path parameter is stored as. */
export function absolutePath(value: string, base: PathBase): string {
  const expanded = value === '~' ? base.home : value.startsWith('~/') ? path.join(base.home, value.slice(2)) : value;
  return path.resolve(base.cwd, expanded);
}

export interface FileOwner {
  uid: number;
  gid: number;
}

/** The account's name, or `#uid` (as sudo -u accepts it) when it has none. */
function accountName(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (id !== undefined && Number(id) === uid && name) return name;
    }
  } catch {
    // no passwd file to read (a container without one): the numeric form still works with sudo
  }
  return `#${uid}`;
}

/**
 * Root working in a folder that belongs to another account (`sudo sysemail ...` on a service's
 * database): that account, to whom the files root creates there must go, or the service can no longer
 * open them. Undefined when not root, or when the folder is root's own or missing.
 */
export function foreignOwner(folder: string): FileOwner | undefined {
  if (process.geteuid?.() !== 0) return undefined;
  let st: import('node:fs').Stats;
  try {
    st = fs.statSync(folder);
  } catch {
    return undefined;
  }
  if (st.uid === 0) return undefined;
  return { uid: st.uid, gid: st.gid };
}

export function ownerRefusal(owner: FileOwner, target: string, cause: unknown): SysemailError {
  const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
  const name = accountName(owner.uid);
  return new SysemailError(
    'noperm',
    'OWNER_CHANGE_REFUSED',
    `${target} belongs to ${name}, and root may not give the files it would create there to that account (${code}); nothing was changed`,
    {
      fix: `Run it as the database's owner: sudo -u ${name} sysemail ...`,
      cause,
    },
  );
}

/** chown of one path and, for a folder, everything in it; only what `lstat` shows is not the owner's already. */
function chownTree(target: string, owner: FileOwner): void {
  const st = fs.lstatSync(target);
  if (st.uid !== owner.uid || st.gid !== owner.gid) fs.lchownSync(target, owner.uid, owner.gid);
  if (st.isDirectory()) for (const name of fs.readdirSync(target)) chownTree(path.join(target, name), owner);
}

/**
 * Gives what root just created at `created` (a file, or a folder with all it holds) to the account
 * owning the folder it was created in. Does nothing unless root works in another account's folder.
 * Throws the `sudo -u` refusal when the system does not let root give files away.
 */
export function keepFolderOwner(created: string): void {
  const owner = foreignOwner(path.dirname(created));
  if (!owner) return;
  try {
    chownTree(created, owner);
  } catch (err) {
    throw ownerRefusal(owner, path.dirname(created), err);
  }
}
