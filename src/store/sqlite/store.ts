/**
 * The SQLite store: one database file fulfilling the store ports (../ports.ts). Each repository is
 * built on first use, so a command that reads one parameter does not prepare the queue's statements;
 * with `paramsOnly` the other repositories' code is not even loaded.
 */
import type { BackendInfo, CopySource, Store } from '../ports.js';
import { openDatabase, type OpenOptions, type OpenedDatabase, type SqliteDatabase } from '../db.js';
import { SqliteParamsRepo } from './params.js';
import type { SqliteDiagnosisReads } from './diagnosis.js';
import type { SqliteGovernorRepo } from './governor.js';
import type { SqliteHistoryRepo } from './history.js';
import type { SqliteSuppressionsRepo } from './suppressions.js';
import type { QueueRepo, SqliteMessagesRepo, SqliteOperatorRepo, SqliteRunsRepo } from './repos.js';
import type { SqliteTemplatesRepo } from './templates.js';
import type { SqliteUsersRepo } from './users.js';
import type { SqliteDkimKeysRepo } from './dkim.js';

export interface StoreOptions extends OpenOptions {
  /**
   * Load only the parameters repository: for `params get`, which scripts call in loops, so it does not
   * pay for loading the queue, history, template and user code.
   */
  paramsOnly?: boolean;
  /**
   * Load only these repository modules (besides the parameters): for a read-only command that scripts
   * call often, such as `history`. A repository left out is a bug the first time it is used.
   */
  only?: readonly RepoModuleName[];
}

export type RepoModuleName = keyof RepoModules;

/** The repository modules that are loaded when the store opens (unless paramsOnly). */
interface RepoModules {
  repos: typeof import('./repos.js');
  history: typeof import('./history.js');
  templates: typeof import('./templates.js');
  users: typeof import('./users.js');
  dkim: typeof import('./dkim.js');
  diagnosis: typeof import('./diagnosis.js');
  governor: typeof import('./governor.js');
  suppressions: typeof import('./suppressions.js');
}

const LOADERS: { [K in RepoModuleName]: () => Promise<RepoModules[K]> } = {
  repos: () => import('./repos.js'),
  history: () => import('./history.js'),
  templates: () => import('./templates.js'),
  users: () => import('./users.js'),
  dkim: () => import('./dkim.js'),
  diagnosis: () => import('./diagnosis.js'),
  governor: () => import('./governor.js'),
  suppressions: () => import('./suppressions.js'),
};

async function loadRepoModules(only?: readonly RepoModuleName[]): Promise<Partial<RepoModules>> {
  const names = only ?? (Object.keys(LOADERS) as RepoModuleName[]);
  const loaded = await Promise.all(names.map(async (n) => [n, await LOADERS[n]()] as const));
  return Object.fromEntries(loaded);
}

export class SqliteStore implements Store {
  private paramsRepo?: SqliteParamsRepo;
  private queueRepo?: QueueRepo;
  private messagesRepo?: SqliteMessagesRepo;
  private runsRepo?: SqliteRunsRepo;
  private operatorRepo?: SqliteOperatorRepo;
  private historyRepo?: SqliteHistoryRepo;
  private templatesRepo?: SqliteTemplatesRepo;
  private usersRepo?: SqliteUsersRepo;
  private dkimRepo?: SqliteDkimKeysRepo;
  private diagnosisReads?: SqliteDiagnosisReads;
  private governorRepo?: SqliteGovernorRepo;
  private suppressionsRepo?: SqliteSuppressionsRepo;

  private constructor(
    private readonly opened: OpenedDatabase,
    private readonly modules: Partial<RepoModules>,
  ) {}

  private mod<K extends RepoModuleName>(name: K): RepoModules[K] {
    const m = this.modules[name];
    if (!m) throw new Error(`internal: this store was opened without its ${name} repository`);
    return m;
  }

  static async open(file: string, options: StoreOptions = {}): Promise<SqliteStore | undefined> {
    const [opened, modules] = await Promise.all([openDatabase(file, options), options.paramsOnly ? {} : loadRepoModules(options.only)]);
    return opened ? new SqliteStore(opened, modules) : undefined;
  }

  get params(): SqliteParamsRepo {
    return (this.paramsRepo ??= new SqliteParamsRepo(this.opened.db));
  }

  /**
   * The synchronous SQLite queue, for the distributor's lanes (SQLite-only adapters that apply their
   * writes from a buffer or a worker thread). Use cases go through `messages`, `runs` and `operator`.
   */
  get queue(): QueueRepo {
    return (this.queueRepo ??= new (this.mod('repos').QueueRepo)(this.opened.db));
  }

  get messages(): SqliteMessagesRepo {
    return (this.messagesRepo ??= new (this.mod('repos').SqliteMessagesRepo)(this.opened.db, () => this.queue));
  }

  get runs(): SqliteRunsRepo {
    return (this.runsRepo ??= new (this.mod('repos').SqliteRunsRepo)(this.queue));
  }

  get operator(): SqliteOperatorRepo {
    return (this.operatorRepo ??= new (this.mod('repos').SqliteOperatorRepo)(this.queue));
  }

  get history(): SqliteHistoryRepo {
    return (this.historyRepo ??= new (this.mod('history').SqliteHistoryRepo)(this.opened.db));
  }

  get templates(): SqliteTemplatesRepo {
    return (this.templatesRepo ??= new (this.mod('templates').SqliteTemplatesRepo)(this.opened.db));
  }

  get users(): SqliteUsersRepo {
    return (this.usersRepo ??= new (this.mod('users').SqliteUsersRepo)(this.opened.db));
  }

  get dkim(): SqliteDkimKeysRepo {
    return (this.dkimRepo ??= new (this.mod('dkim').SqliteDkimKeysRepo)(this.opened.db));
  }

  get diagnosis(): SqliteDiagnosisReads {
    return (this.diagnosisReads ??= new (this.mod('diagnosis').SqliteDiagnosisReads)(this.opened.db));
  }

  get governor(): SqliteGovernorRepo {
    return (this.governorRepo ??= new (this.mod('governor').SqliteGovernorRepo)(this.opened.db));
  }

  get suppressions(): SqliteSuppressionsRepo {
    return (this.suppressionsRepo ??= new (this.mod('suppressions').SqliteSuppressionsRepo)(this.opened.db));
  }

  /** The database's own random id. */
  get id(): string {
    return this.opened.id;
  }

  get file(): string {
    return this.opened.file;
  }

  get created(): boolean {
    return this.opened.created;
  }

  /** The connection itself: for tests and SQLite-only tools, never for use cases. */
  get sqlite(): SqliteDatabase {
    return this.opened.db;
  }

  async describe(): Promise<BackendInfo> {
    const { version } = this.opened.db.prepare('SELECT sqlite_version() AS version').get() as { version: string };
    return { backend: 'sqlite', version, location: this.opened.file };
  }

  async copySource(): Promise<CopySource> {
    const { SqliteCopySource } = await import('./copy.js');
    return new SqliteCopySource(this.opened.db, this.opened.file).begin();
  }

  async close(): Promise<void> {
    this.queueRepo?.close();
    if (this.opened.db.open) this.opened.db.close();
  }
}
