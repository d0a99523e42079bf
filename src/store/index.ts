/**
 * The store: the ports use cases depend on (./ports.ts) and the SQLite implementation that opens a
 * database file (./sqlite/). `Store` here is the SQLite store, which the CLI opens and the
 * distributor's lanes need as such; a use case takes the port type `Store` from ./ports.ts.
 */
export { SqliteStore, SqliteStore as Store, type StoreOptions } from './sqlite/store.js';
