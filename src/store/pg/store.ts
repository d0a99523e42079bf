/**
 * The PostgreSQL store: a database on a server, shared by the distributors of several hosts,
 * fulfilling the same ports (../ports.ts) as the SQLite file. The driver (`pg`) is loaded only here,
 * when a `postgres://` URL is opened, so SQLite commands never pay for it.
 */
import type { Client, ClientBase, PoolConfig } from 'pg';
import { SysemailError } from '../../core/errors.js';
import type { BackendInfo, CopySource, CopyTarget, QueueWakeups, Store } from '../ports.js';
import { PgDatabase, migrate } from './db.js';
import { pgFailure, rememberSecret } from './errors.js';
import { PgDkimKeysRepo } from './dkim.js';
import { PgGovernorRepo } from './governor.js';
import { PgQueueListener } from './listen.js';
import { PgMessagesRepo } from './messages.js';
import { PgDiagnosisReads, PgHistoryRepo, PgTemplatesRepo, PgUsersRepo } from './records.js';
import { PgOperatorRepo, PgParamsRepo, PgRunsRepo } from './repos.js';
import { PgSuppressionsRepo } from './suppressions.js';
import { pgTarget } from './url.js';

const BIGINT_OID = 20;

/**
 * A session idle inside a transaction this long is ended by the server. sysemail's transactions never
 * wait between statements; a process that stops in the middle of one (SIGSTOP, a frozen VM) would
 * otherwise keep its row locks, so its expired leases could not be taken back by any other host.
 */
const IDLE_IN_TRANSACTION_MS = 15_000;

export interface PgStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** Connections kept open at most (a distributor's claims, renewals and writes overlap). */
  maxConnections?: number;
}

type Driver = (typeof import('pg'))['default'];

async function loadDriver(): Promise<Driver> {
  try {
    return (await import('pg')).default;
  } catch (err) {
    throw new SysemailError('internal', 'PG_DRIVER_MISSING', 'the PostgreSQL driver (pg) could not be loaded', {
      fix: 'Reinstall sysemail with `npm ci` so its dependencies are complete',
      cause: err,
    });
  }
}

export class PgStore implements Store {
  readonly params: PgParamsRepo;
  readonly messages: PgMessagesRepo;
  readonly runs: PgRunsRepo;
  readonly operator: PgOperatorRepo;
  readonly history: PgHistoryRepo;
  readonly templates: PgTemplatesRepo;
  readonly users: PgUsersRepo;
  readonly dkim: PgDkimKeysRepo;
  readonly diagnosis: PgDiagnosisReads;
  readonly governor: PgGovernorRepo;
  readonly suppressions: PgSuppressionsRepo;

  private constructor(
    private readonly db: PgDatabase,
    readonly id: string,
    readonly created: boolean,
    private readonly newClient: () => Client,
  ) {
    this.params = new PgParamsRepo(db);
    this.messages = new PgMessagesRepo(db);
    this.runs = new PgRunsRepo(db);
    this.operator = new PgOperatorRepo(db);
    this.history = new PgHistoryRepo(db);
    this.templates = new PgTemplatesRepo(db);
    this.users = new PgUsersRepo(db);
    this.dkim = new PgDkimKeysRepo(db);
    this.diagnosis = new PgDiagnosisReads(db);
    this.governor = new PgGovernorRepo(db);
    this.suppressions = new PgSuppressionsRepo(db);
  }

  /** Connects, brings the schema up to date (refusing a newer one) and reads the database's id. */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const target = pgTarget(url, options.env ?? process.env);
    rememberSecret(target.password);
    const pg = await loadDriver();
    const config: PoolConfig = {
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.user,
      password: target.password,
      ssl: target.ssl,
      connectionTimeoutMillis: target.connectTimeoutMs,
      max: options.maxConnections ?? 4,
      application_name: 'sysemail',
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      // The prepared statements look messages up by their keys whatever the values, so one plan serves
      // every call: planned again on each call (the server's default for the first ones) it cost as much
      // as running it. Set before the pool hands the connection out (pg-pool waits for the promise); a
      // server without the setting (before 12) keeps its own choice.
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- pg-pool awaits it; its types say void
      onConnect: (client: ClientBase) =>
        client.query('SET plan_cache_mode = force_generic_plan').then(
          () => undefined,
          () => undefined,
        ),
      // epoch milliseconds and ids are bigint columns: numbers, not strings (they stay below 2^53)
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === BIGINT_OID
            ? Number
            : (pg.types.getTypeParser(oid, format) as (value: string) => unknown)) as typeof pg.types.getTypeParser,
      },
    };
    const pool = new pg.Pool(config);
    // an idle connection the server dropped must not crash the process; the next query reports it
    pool.on('error', () => {});
    const db = new PgDatabase(pool, target.label);
    try {
      const { id, created } = await migrate(db);
      return new PgStore(db, id, created, () => new pg.Client({ ...config, application_name: 'sysemail listen' }));
    } catch (err) {
      await pool.end().catch(() => {});
      throw pgFailure(err, target.label);
    }
  }

  /** The database as it may be printed (password masked). */
  get label(): string {
    return this.db.label;
  }

  /** Same as label: what commands print as "the database" (never the password). */
  get file(): string {
    return this.db.label;
  }

  async describe(): Promise<BackendInfo> {
    return { backend: 'postgresql', version: await this.serverVersion(), location: this.db.label };
  }

  /** The server's version, for `queue status` and `diagnose`. */
  async serverVersion(): Promise<string> {
    return (await this.db.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0].v;
  }

  async copySource(): Promise<CopySource> {
    const { PgCopySource } = await import('./copy.js');
    return PgCopySource.begin(this.db);
  }

  copyTarget(): CopyTarget {
    return new PgCopyTargetLazy(this.db);
  }

  /** A connection of its own that LISTENs for queued messages (`queue run --watch`). */
  async listen(): Promise<QueueWakeups> {
    const listener = new PgQueueListener(this.newClient);
    await listener.start();
    return listener;
  }

  /** The connection pool: for tests and PostgreSQL-only tools, never for use cases. */
  get pool(): PgDatabase['pool'] {
    return this.db.pool;
  }

  async close(): Promise<void> {
    await this.db.close().catch(() => {});
  }
}

/** The copy target's code is loaded when a copy starts, not with every command. */
class PgCopyTargetLazy implements CopyTarget {
  constructor(private readonly db: PgDatabase) {}
  async load(...args: Parameters<CopyTarget['load']>): ReturnType<CopyTarget['load']> {
    const { PgCopyTarget } = await import('./copy.js');
    return new PgCopyTarget(this.db).load(...args);
  }
}
