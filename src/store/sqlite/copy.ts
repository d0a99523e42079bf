/**
 * The SQLite database as the source of `db copy`: one read transaction (a snapshot the distributors'
 * writes do not change), each table read in key order, long bodies folded back into their messages,
 * and the spooled attachment files read as the message_attachments rows a server database keeps.
 */
import { fs } from '../../core/builtins.js';
import { SysemailError } from '../../core/errors.js';
import {
  COPY_ORDER,
  COPY_TABLES,
  columnKinds,
  unknownTables,
  zeroCounts,
  type CopyBatch,
  type CopyTable,
  type CopyTableSpec,
  type PortableRow,
} from '../copy.js';
import type { CopySource, StoredAttachment } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { fillBodies, type MessageDbRow } from './rows.js';

/** Statuses whose attachments are still to be sent (or may be, after `queue release`): their files must be there. */
const UNFINISHED = new Set(['pending', 'sending', 'deferred', 'held']);

export class SqliteCopySource implements CopySource {
  private open = false;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly file: string,
  ) {}

  /** Starts the snapshot: a read transaction, refused when the database holds a table no list names. */
  begin(): this {
    const tables = (this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    const unknown = unknownTables(tables);
    if (unknown.length > 0) {
      throw new SysemailError(
        'internal',
        'DB_COPY_UNKNOWN_TABLE',
        `database ${this.file} has table(s) ${unknown.join(', ')} that this sysemail cannot copy (nothing was written)`,
        { fix: 'Copy with the sysemail version that wrote the database' },
      );
    }
    this.db.exec('BEGIN');
    // the snapshot starts at the first read
    this.db.prepare('SELECT count(*) FROM meta').get();
    this.open = true;
    return this;
  }

  async survey() {
    const counts = zeroCounts();
    for (const t of COPY_ORDER) {
      if (t === 'message_attachments') continue;
      counts[t] = (this.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    }
    counts.message_attachments = (
      this.db.prepare('SELECT coalesce(sum(json_array_length(attachments)), 0) AS n FROM messages').get() as { n: number }
    ).n;
    const nextIds: Partial<Record<CopyTable, number>> = {};
    const seq = new Map(
      (this.db.prepare('SELECT name, seq FROM sqlite_sequence').all() as { name: string; seq: number }[]).map((r) => [r.name, r.seq]),
    );
    for (const t of COPY_ORDER) {
      const spec: CopyTableSpec = COPY_TABLES[t];
      if (!spec.identity) continue;
      const max = (this.db.prepare(`SELECT max(id) AS m FROM ${t}`).get() as { m: number | null }).m ?? 0;
      nextIds[t] = Math.max(max, seq.get(t) ?? 0) + 1;
    }
    return { counts, nextIds };
  }

  async *batches(size: number): AsyncIterable<CopyBatch> {
    for (const table of COPY_ORDER) {
      if (table === 'message_attachments') continue; // read with their messages
      for (const rows of this.pages(table, size)) {
        if (table !== 'messages') {
          yield { table, rows: rows.map((r) => portable(table, r)) };
          continue;
        }
        const messages = fillBodies(this.db, rows as unknown as MessageDbRow[]) as unknown as PortableRow[];
        yield { table, rows: messages.map((r) => portable(table, r)) };
        for (const m of messages) {
          const attachments = JSON.parse(m.attachments as string) as StoredAttachment[];
          for (const [position, a] of attachments.entries()) {
            const content = this.attachmentContent(m, a);
            if (content)
              yield {
                table: 'message_attachments',
                rows: [{ message_id: m.id, position, filename: a.filename, content_type: a.contentType ?? null, content }],
              };
          }
        }
      }
    }
  }

  /** The spooled bytes of an attachment; a file gone is refused for a message still to be sent. */
  private attachmentContent(m: PortableRow, a: StoredAttachment): Buffer | undefined {
    if (!a.path) return undefined;
    try {
      return fs.readFileSync(a.path);
    } catch (err) {
      if (!UNFINISHED.has(m.status as string)) return undefined;
      throw new SysemailError(
        'noinput',
        'DB_COPY_ATTACHMENT_MISSING',
        `attachment ${a.path} of queued message ${String(m.id)} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); nothing was written`,
        {
          fix: `Restore the spool folder, or remove the message with \`sysemail queue delete ${String(m.id)}\`, then copy again`,
          cause: err,
        },
      );
    }
  }

  /** A table's rows in key order, `size` at a time (keyset paging: each page is one index range). */
  private *pages(table: CopyTable, size: number): Generator<PortableRow[]> {
    const key = (COPY_TABLES[table] as CopyTableSpec).key;
    const cols = key.join(', ');
    const first = this.db.prepare(`SELECT * FROM ${table} ORDER BY ${cols} LIMIT ?`);
    const next = this.db.prepare(`SELECT * FROM ${table} WHERE (${cols}) > (${key.map(() => '?').join(', ')}) ORDER BY ${cols} LIMIT ?`);
    let rows = first.all(size) as PortableRow[];
    while (rows.length > 0) {
      yield rows;
      if (rows.length < size) return;
      const last = rows[rows.length - 1];
      rows = next.all(...key.map((k) => last[k]), size) as PortableRow[];
    }
  }

  async close(): Promise<void> {
    if (this.open && this.db.inTransaction) this.db.exec('COMMIT');
    this.open = false;
  }
}

/** A row as SQLite stores it → the portable form: JSON parsed, flags as booleans; SQLite's own columns dropped. */
function portable(table: CopyTable, r: PortableRow): PortableRow {
  const kinds = columnKinds(table);
  const out: PortableRow = {};
  for (const [k, v] of Object.entries(r)) {
    if (table === 'messages' && k === 'body_apart') continue;
    if (kinds.json.has(k)) out[k] = v === null ? null : (JSON.parse(v as string) as unknown);
    else if (kinds.flags.has(k)) out[k] = v === null ? null : v === 1;
    else out[k] = v;
  }
  return out;
}
