/**
 * What `db copy` moves between two databases, table by table, the same on every backend: the tables
 * in the order their references allow, each table's key (rows are read in its order), and which
 * columns hold JSON, a flag or bytes. A row travels in a portable form: JSON columns as parsed values,
 * flags as booleans, bytes as a Buffer, times and ids as numbers; each adapter converts from and to
 * its own columns.
 *
 * Every table of a sysemail database is either copied (COPY_TABLES) or deliberately left out
 * (NOT_COPIED); a table in neither list makes the copy refuse, so a table added by a later migration
 * cannot be lost silently by a copy that does not know it.
 */

export interface CopyTableSpec {
  /** Columns of the key, in the order rows are read. */
  key: readonly string[];
  json?: readonly string[];
  flags?: readonly string[];
  bytes?: readonly string[];
  /** The key is a generated id: the target's id sequence is moved past the ids copied. */
  identity?: boolean;
}

export const COPY_TABLES = {
  params: { key: ['key'], json: ['value'] },
  templates: { key: ['id', 'org'], flags: ['bulk'] },
  users: { key: ['id'], flags: ['notify_email'] },
  messages: {
    key: ['id'],
    json: ['to_addrs', 'cc_addrs', 'bcc_addrs', 'attachments', 'headers', 'last_error'],
    flags: ['forced'],
    identity: true,
  },
  message_attachments: { key: ['message_id', 'position'], bytes: ['content'] },
  attempts: { key: ['id'], json: ['failure'], identity: true },
  distributor_runs: { key: ['id'], identity: true },
  suppressions: { key: ['address'] },
  bounces: { key: ['report_key', 'recipient'] },
  dkim_keys: { key: ['domain', 'selector'] },
  governor_limits: { key: ['provider', 'mailbox'] },
} as const satisfies Record<string, CopyTableSpec>;

export type CopyTable = keyof typeof COPY_TABLES;

/** Parents before children: a target that checks references accepts each batch as it comes. */
export const COPY_ORDER = Object.keys(COPY_TABLES) as CopyTable[];

/**
 * Tables that stay behind: the database's own id and schema version (the target keeps its own), the
 * throttle window (a minute's worth of counts), the governor's live state, and how SQLite keeps long bodies and its id counters
 * (folded into the messages rows and the sequences).
 */
export const NOT_COPIED: readonly string[] = [
  'meta',
  'schema_version',
  'throttle_sends',
  'message_bodies',
  'sqlite_sequence',
  // the governor's moment-to-moment state: pauses a server asked for, leased slots, the last day's sends
  'governor_pauses',
  'governor_slots',
  'governor_sends',
];

/** One row in portable form: column name → value. */
export type PortableRow = Record<string, unknown>;

export interface CopyBatch {
  table: CopyTable;
  rows: PortableRow[];
}

/** Rows per table. */
export type CopyCounts = Record<CopyTable, number>;

export function zeroCounts(): CopyCounts {
  return Object.fromEntries(COPY_ORDER.map((t) => [t, 0])) as CopyCounts;
}

/** The tables of a database that neither list names (a newer sysemail's, or another program's). */
export function unknownTables(present: readonly string[]): string[] {
  return present.filter((t) => !(t in COPY_TABLES) && !NOT_COPIED.includes(t)).sort();
}

/** Columns of a source row that hold JSON, flags or bytes, by table. */
export function columnKinds(table: CopyTable): { json: ReadonlySet<string>; flags: ReadonlySet<string>; bytes: ReadonlySet<string> } {
  const spec: CopyTableSpec = COPY_TABLES[table];
  return { json: new Set(spec.json ?? []), flags: new Set(spec.flags ?? []), bytes: new Set(spec.bytes ?? []) };
}
