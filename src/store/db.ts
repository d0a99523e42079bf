/**
 * Opening the SQLite database safely: refuse files that are not sysemail databases or that a newer
 * sysemail wrote, leaving them untouched; create new ones private (folder 0700, file 0600).
 */
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { foreignOwner, ownerRefusal } from '../config/paths.js';
import { crypto, fs, nodeModule } from '../core/builtins.js';
import { SysemailError, type ErrorCode } from '../core/errors.js';
import { MIGRATIONS } from './migrations.js';

/** How long a writer waits for another process's lock before giving up (SYSEMAIL_BUSY_TIMEOUT_MS changes it). */
export const BUSY_TIMEOUT_MS = 10_000;

// Loaded when needed: `params get` runs on every start of a script's loop and never meets an error
// or a missing database.
const sqliteErrors = () => import('./sqlite-errors.js');

export type SqliteDatabase = BetterSqlite3.Database;

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
export interface OpenOptions {
  /** Open without creating or migrating (read-only commands on a database that may not exist yet). */
  readonly?: boolean;
  /** How long to wait for another writer's lock; default busyTimeoutMs(). */
  busyTimeoutMs?: number;
}

function ioError(code: ErrorCode, message: string, fix: string, cause?: unknown): SysemailError {
  return new SysemailError('ioerr', code, message, { fix, cause });
}

function checkExistingFile(file: string): 'missing' | 'empty' | 'sqlite' {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return 'missing';
    if (e.code === 'EISDIR')
      throw ioError('DB_NOT_A_FILE', `database path ${file} is a folder`, 'Give --db the path of a file, e.g. --db ./sysemail.db', err);
    throw ioError(
      'DB_UNREADABLE',
      `cannot read database ${file} (${e.code ?? e.message})`,
      'Check the file permissions or choose another --db path',
      err,
    );
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw ioError('DB_NOT_A_FILE', `database path ${file} is not a regular file`, 'Give --db the path of a file');
    if (st.size === 0) return 'empty';
    const head = Buffer.alloc(16);
    const n = fs.readSync(fd, head, 0, 16, 0);
    if (n < 16 || !head.equals(SQLITE_HEADER)) {
      throw ioError(
        'DB_NOT_SQLITE',
        `${file} is not an SQLite database (the file was left unchanged)`,
        'Point --db (or SYSEMAIL_DB) at a sysemail database, or at a new path to create one',
      );
    }
    return 'sqlite';
  } finally {
    fs.closeSync(fd);
  }
}

async function createPrivateFile(file: string): Promise<void> {
  const dir = path.dirname(file);
  const { makeFolders } = await import('./folders.js');
  try {
    makeFolders(dir, 0o700);
    const fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o600);
    fs.closeSync(fd);
    fs.chmodSync(file, 0o600); // umask may have narrowed it further, never widened; be exact
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST' && fs.existsSync(file)) return;
    const why =
      e.code === 'ENOENT'
        ? `the folder ${dir} cannot be created there`
        : e.code === 'EACCES' || e.code === 'EPERM'
          ? 'permission denied'
          : e.code === 'ENOSPC'
            ? 'the disk is full'
            : e.code === 'EROFS'
              ? 'read-only file system'
              : (e.code ?? e.message);
    throw ioError(
      'DB_CREATE_FAILED',
      `cannot create database ${file} (${why})`,
      'Choose a writable location with --db PATH or SYSEMAIL_DB',
      err,
    );
  }
}

/**
 * Root on another account's database (`sudo sysemail params set ...` on a service's): the database and
 * an existing -wal/-shm go to the folder's owner, or nothing is done. SQLite gives the -wal/-shm it
 * creates later to the database file's owner itself.
 */
function keepDatabaseOwner(file: string, created: boolean): void {
  const folder = path.dirname(file);
  const owner = foreignOwner(folder);
  if (!owner) return;
  try {
    // first the folder, to its own owner: it changes nothing, and tells whether root may give files
    // away at all before anything is written (SQLite gives the -wal it creates to the database's owner)
    try {
      fs.chownSync(folder, owner.uid, owner.gid);
    } catch (err) {
      // nothing can be created on a read-only file system: reading needs no owner
      if ((err as NodeJS.ErrnoException).code === 'EROFS') return;
      throw err;
    }
    // only what is not the owner's already: a database in order keeps its group (it may be shared)
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      const st = fs.statSync(f, { throwIfNoEntry: false });
      if (st && st.uid !== owner.uid) fs.chownSync(f, owner.uid, owner.gid);
    }
  } catch (err) {
    if (created) fs.rmSync(file, { force: true });
    throw ownerRefusal(owner, folder, err);
  }
}

/**
 * The compiled addon's path, handed to the driver so it skips the `bindings` package's probing of many
 * candidate paths on every start.
 */
function nativeBindingPath(): string | undefined {
  try {
    const pkg = nodeModule.createRequire(import.meta.url).resolve('better-sqlite3/package.json');
    const file = path.join(path.dirname(pkg), 'build', 'Release', 'better_sqlite3.node');
    return fs.existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    // through require: the driver is CommonJS, and importing it as an ES module costs a parse of its
    // source for named exports on every start
    return nodeModule.createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  } catch (err) {
    throw new SysemailError('internal', 'SQLITE_DRIVER_MISSING', 'the SQLite driver (better-sqlite3) could not be loaded', {
      fix: 'Reinstall sysemail with `npm ci` so the native module is built for this Node.js',
      cause: err,
    });
  }
}

export interface OpenedDatabase {
  db: SqliteDatabase;
  file: string;
  /** The database's own random id: ties keychain entries to this database. */
  id: string;
  created: boolean;
}

export async function openDatabase(file: string, options: OpenOptions = {}): Promise<OpenedDatabase | undefined> {
  const state = checkExistingFile(file);
  if (state === 'missing' && options.readonly) return undefined;
  if (state === 'missing') await createPrivateFile(file);
  keepDatabaseOwner(file, state === 'missing');
  const Driver = await loadDriver();
  const timeout =
    options.busyTimeoutMs ?? (process.env.SYSEMAIL_BUSY_TIMEOUT_MS ? (await sqliteErrors()).busyTimeoutMs() : BUSY_TIMEOUT_MS);
  let db: SqliteDatabase;
  try {
    db = new Driver(file, { fileMustExist: true, readonly: false, timeout, nativeBinding: nativeBindingPath() });
  } catch (err) {
    throw (
      (await sqliteErrors()).storeFailure(err, file, timeout) ??
      ioError(
        'DB_OPEN_FAILED',
        `cannot open database ${file} (${(err as Error).message})`,
        'Check the file and folder permissions, or choose another --db path',
        err,
      )
    );
  }
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new SysemailError(
        'config',
        'DB_TOO_NEW',
        `database ${file} was written by a newer sysemail (schema ${version}, this one knows ${MIGRATIONS.length})`,
        {
          fix: 'Upgrade sysemail on this machine; the database was left unchanged',
        },
      );
    }
    if (version === 0) {
      const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
      if (tables.n > 0) {
        throw ioError(
          'DB_FOREIGN',
          `${file} is an SQLite database but not a sysemail one (the file was left unchanged)`,
          'Point --db at a sysemail database, or at a new path to create one',
        );
      }
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const created = migrate(db, version);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'db_id'").get() as { value: string } | undefined;
    if (!row) throw ioError('DB_CORRUPT', `database ${file} has no id`, 'The database is damaged; restore it from a backup');
    return { db, file, id: row.value, created };
  } catch (err) {
    db.close();
    if (err instanceof SysemailError) throw err;
    const known = (await sqliteErrors()).storeFailure(err, file, timeout);
    if (known) throw known;
    const e = err as { code?: string; message?: string };
    throw ioError(
      'DB_CORRUPT',
      `database ${file} cannot be read (${e.message ?? String(err)})`,
      'The file may be damaged; restore it from a backup or choose another --db path',
      err,
    );
  }
}

/** Applies the missing migrations in one write transaction. Returns true when the database was new. */
function migrate(db: SqliteDatabase, from: number): boolean {
  if (from === MIGRATIONS.length) return false;
  const apply = db.transaction(() => {
    // re-read inside the lock: another process may have migrated meanwhile
    const current = db.pragma('user_version', { simple: true }) as number;
    for (let i = current; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]);
    if (current === 0) {
      const now = Date.now();
      const ins = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      ins.run('db_id', crypto().randomBytes(16).toString('hex'));
      ins.run('created_at', String(now));
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  });
  apply.immediate();
  return from === 0;
}
