/**
 * Sent marks: a small SQLite file beside the database (`<database>-sent`) in which a distributor notes
 * each message the moment its provider accepted it, before the message's own record, which the
 * worker-thread lane writes a little later together with many others. In a file of its own, so that
 * noting a send never waits for the database's write lock (the worker holds it for its claims and
 * records): one small transaction on the sending thread, a few microseconds.
 *
 * A message marked sent by the holder of its lease, for that claim, is never taken back for sending
 * when the lease runs out (the run was paused past it): a claim records it sent instead, for that run
 * (transitions.ts reclaimIn). Marks of messages recorded since are deleted as their records land; one
 * left behind matches nothing (its message is no longer in sending under that claim).
 */
import fs from 'node:fs';
import nodeModule from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { SysemailError } from '../../core/errors.js';
import type { QueueWrite } from '../ports.js';

export type SentWrite = Extract<QueueWrite, { op: 'sent' }>;

export interface SentMark {
  id: number;
  owner: string;
  attempt: number;
  sentAt: number;
  provider: string;
  response: string | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS marks (
    message_id INTEGER NOT NULL,
    owner TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    provider TEXT NOT NULL,
    response TEXT,
    PRIMARY KEY (message_id, owner, attempt)
  ) WITHOUT ROWID`;

export function sentMarksFile(dbFile: string): string {
  return `${dbFile}-sent`;
}

export class SentMarks {
  private readonly markStmt;
  private readonly getStmt;
  private readonly deleteStmt;
  private readonly dropOwnerStmt;

  private constructor(private readonly db: BetterSqlite3.Database) {
    this.markStmt = db.prepare(
      'INSERT OR REPLACE INTO marks (message_id, owner, attempt, sent_at, provider, response) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.getStmt = db.prepare(
      'SELECT message_id AS id, owner, attempt, sent_at AS sentAt, provider, response FROM marks WHERE message_id = ? AND owner = ? AND attempt = ?',
    );
    this.deleteStmt = db.prepare('DELETE FROM marks WHERE message_id = ? AND owner = ?');
    this.dropOwnerStmt = db.prepare('DELETE FROM marks WHERE owner = ?');
  }

  /**
   * The marks of the database `dbFile`. `create`: make the file when missing (a distributor about to
   * send); else undefined when there is none (nothing was ever marked).
   */
  static open(dbFile: string, create: boolean): SentMarks | undefined {
    const file = sentMarksFile(dbFile);
    if (!create && !fs.existsSync(file)) return undefined;
    try {
      if (create) createLike(file, dbFile);
      const Driver = nodeModule.createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
      const db = new Driver(file, { fileMustExist: true, timeout: 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      return new SentMarks(db);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new SysemailError('ioerr', 'DB_WRITE_FAILED', `cannot open the sent marks ${file} (${e.code ?? e.message})`, {
        fix: 'Check the free disk space and the permissions of the database folder',
        cause: err,
      });
    }
  }

  /** Notes `w`'s message as sent, now (committed when this returns). */
  mark(w: SentWrite): void {
    this.markStmt.run(w.id, w.owner, w.attempt, w.outcome.now, w.outcome.provider, w.outcome.response ?? null);
  }

  /** `owner`'s mark of message `id` for its claim `attempt` (a late mark of an earlier holder is its own row). */
  get(id: number, owner: string, attempt: number): SentMark | undefined {
    return this.getStmt.get(id, owner, attempt) as SentMark | undefined;
  }

  /** Deletes `owner`'s marks of these messages, whose records are in the database now. */
  forget(owner: string, ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.deleteStmt.run(id, owner);
    })();
  }

  dropOwner(owner: string): void {
    this.dropOwnerStmt.run(owner);
  }

  close(): void {
    this.db.close();
  }
}

/** Creates `file` (mode 0600) owned as `like` is: root running a service's distributor leaves it the service's. */
function createLike(file: string, like: string): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  if (process.geteuid?.() !== 0) return;
  const st = fs.statSync(like);
  if (st.uid !== 0 || st.gid !== 0) fs.chownSync(file, st.uid, st.gid);
}
