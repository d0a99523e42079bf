/**
 * Opening the database a command names: a `postgres://` or `postgresql://` URL opens the PostgreSQL
 * store (its driver loaded only then), anything else the SQLite file.
 */
import { isServerDatabase } from '../config/paths.js';
import type { StoreOptions } from './sqlite/store.js';
import type { SqliteStore } from './sqlite/store.js';
import type { PgStore } from './pg/store.js';

export type OpenedStore = SqliteStore | PgStore;

export async function openStore(db: string, options: StoreOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<OpenedStore | undefined> {
  if (isServerDatabase(db)) {
    const { PgStore } = await import('./pg/store.js');
    return PgStore.open(db, { env: options.env });
  }
  const { SqliteStore } = await import('./sqlite/store.js');
  return SqliteStore.open(db, options);
}
