/**
 * The one place where an SQLite error becomes a SysemailError: a locked database is worth retrying
 * (75); a read-only file or folder, a full disk, an I/O error or a damaged file is an I/O failure (74)
 * with what to do about it. Anything else SQLite reports (a wrong statement, a broken constraint) is a
 * bug in sysemail and stays internal.
 */
import path from 'node:path';
import { fs } from '../core/builtins.js';
import { SysemailError, type ErrorCode } from '../core/errors.js';
import { quoted } from '../core/text.js';
import { BUSY_TIMEOUT_MS } from './db.js';

export { BUSY_TIMEOUT_MS };

const BUSY_TIMEOUT_ENV = 'SYSEMAIL_BUSY_TIMEOUT_MS';

/** The lock wait: SYSEMAIL_BUSY_TIMEOUT_MS (milliseconds) when set, for slow shared disks or tests. */
export function busyTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[BUSY_TIMEOUT_ENV];
  if (raw === undefined || raw.trim() === '') return BUSY_TIMEOUT_MS;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    throw new SysemailError('config', 'ENV_INVALID', `${BUSY_TIMEOUT_ENV} must be a whole number of milliseconds (got ${quoted(raw)})`, {
      fix: `Set it to e.g. 10000, or unset ${BUSY_TIMEOUT_ENV} for the default (${BUSY_TIMEOUT_MS})`,
    });
  }
  return Number(raw.trim());
}

interface SqliteLike {
  code?: unknown;
  message?: unknown;
}

/** SQLite's own error code (SQLITE_BUSY, SQLITE_READONLY_DIRECTORY, ...), or undefined. */
export function sqliteCode(err: unknown): string | undefined {
  const code = (err as SqliteLike | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

function writable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function whoAmI(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `this user (uid ${uid})`;
}

/** The folder or the file is what stops the write, so the fix names the right one. */
function readOnlyError(code: string, name: string, file: string | undefined, cause: unknown): SysemailError {
  const dir = file ? path.dirname(file) : undefined;
  if (file && dir && !writable(dir)) {
    return new SysemailError(
      'ioerr',
      'DB_READONLY',
      `database ${file} cannot be used: its folder ${dir} is read-only for ${whoAmI()}, and SQLite keeps its write-ahead log (${path.basename(file)}-wal, -shm) there`,
      {
        fix: `Make the folder writable for the user that runs sysemail (\`ls -ld ${dir}\`), or run sysemail as the folder's owner`,
        cause,
        data: { sqlite: code },
      },
    );
  }
  if (file && fs.existsSync(file) && !writable(file)) {
    return new SysemailError('ioerr', 'DB_READONLY', `database ${file} is read-only for ${whoAmI()}`, {
      fix: `Make it writable for the user that runs sysemail (\`ls -l ${file}\`; chmod 600 as its owner), or run sysemail as the file's owner`,
      cause,
      data: { sqlite: code },
    });
  }
  return new SysemailError('ioerr', 'DB_READONLY', `${name} cannot be written (${code})`, {
    fix: 'Check the permissions of the database file and its folder (and that the file system is not mounted read-only)',
    cause,
    data: { sqlite: code },
  });
}

/**
 * The SysemailError an SQLite error stands for; undefined when `err` is not an SQLite error or is one
 * that only a bug in sysemail can cause. `file` names the database in the message when known.
 */
export function storeFailure(err: unknown, file?: string, waitedMs?: number): SysemailError | undefined {
  const code = sqliteCode(err);
  if (!code) return undefined;
  const name = file ? `database ${file}` : 'the database';
  const detail = typeof (err as SqliteLike).message === 'string' ? ((err as SqliteLike).message as string) : code;
  const base = code.replace(/^(SQLITE_[A-Z]+?)(_[A-Z_]+)?$/, '$1');
  const io = (errCode: ErrorCode, message: string, fix: string) =>
    new SysemailError('ioerr', errCode, message, { fix, cause: err, data: { sqlite: code } });
  switch (base) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED': {
      const waited = waitedMs !== undefined ? ` (waited ${waitedMs >= 1000 ? `${waitedMs / 1000} s` : `${waitedMs} ms`})` : '';
      return new SysemailError('tempfail', 'DB_BUSY', `${name} is locked by another process${waited}`, {
        fix: 'Another sysemail command or program is writing to it; try again in a moment (a distributor run holds the lock only briefly)',
        cause: err,
        data: { sqlite: code },
      });
    }
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
      return readOnlyError(code, name, file, err);
    case 'SQLITE_CANTOPEN':
      if (file && !writable(path.dirname(file))) return readOnlyError(code, name, file, err);
      return io(
        'DB_OPEN_FAILED',
        `cannot open ${name} (${detail})`,
        'Check that the file and its folder exist and are readable and writable by the user that runs sysemail',
      );
    case 'SQLITE_FULL':
      return io(
        'DB_FULL',
        `the disk holding ${name} is full`,
        `Free space on that file system (\`df -h ${file ? path.dirname(file) : '.'}\`) and run the command again; the change was not made`,
      );
    case 'SQLITE_IOERR':
      if (/no space|ENOSPC/i.test(detail)) return storeFailure({ code: 'SQLITE_FULL', message: detail }, file);
      return io(
        'DB_IOERR',
        `I/O error on ${name} (${code}: ${detail})`,
        'Check the disk (free space, `dmesg` for device errors) and the permissions of the file and its folder, then run the command again',
      );
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return io('DB_CORRUPT', `${name} is damaged (${detail})`, 'Restore it from a backup, or point --db at another database');
    case 'SQLITE_NOLFS':
    case 'SQLITE_PROTOCOL':
      return io(
        'DB_IOERR',
        `${name} cannot be used on this file system (${code}: ${detail})`,
        'Keep the database on a local file system (not a network share)',
      );
    case 'SQLITE_TOOBIG':
      return new SysemailError('data', 'DB_VALUE_TOO_BIG', `a value is too big to store in ${name}`, {
        fix: 'Give a smaller value (a body or attachment list within limits.maxMessageMb)',
        cause: err,
      });
    default:
      return undefined;
  }
}
