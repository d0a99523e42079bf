/**
 * The store: one SQLite database behind an async interface, so a server database could stand behind
 * it later without changing callers. Each area of the model has its own repository.
 */
import { openDatabase, type OpenOptions, type OpenedDatabase, type SqliteDatabase } from './db.js';
import { ParamsRepo } from './params.js';
import type { HistoryRepo } from './history.js';
import type { MessagesRepo } from './messages.js';
import type { QueueRepo } from './queue.js';
import type { TemplatesRepo } from './templates.js';
import type { UsersRepo } from './users.js';

export interface StoreOptions extends OpenOptions {
  /**
   * Load only the parameters repository: for `params get`, which scripts call in loops, so it does not
   * pay for loading the queue, history, template and user code.
   */
  paramsOnly?: boolean;
}

/** The repository classes that are loaded when the store opens (unless paramsOnly). */
interface RepoClasses {
  MessagesRepo: typeof MessagesRepo;
  QueueRepo: typeof QueueRepo;
  HistoryRepo: typeof HistoryRepo;
  TemplatesRepo: typeof TemplatesRepo;
  UsersRepo: typeof UsersRepo;
}

async function loadRepoClasses(): Promise<RepoClasses> {
  const [messages, queue, history, templates, users] = await Promise.all([
    import('./messages.js'),
    import('./queue.js'),
    import('./history.js'),
    import('./templates.js'),
    import('./users.js'),
  ]);
  return {
    MessagesRepo: messages.MessagesRepo,
    QueueRepo: queue.QueueRepo,
    HistoryRepo: history.HistoryRepo,
    TemplatesRepo: templates.TemplatesRepo,
    UsersRepo: users.UsersRepo,
  };
}

export class Store {
  // Repositories prepare their statements when built; build each on first use, so a command that
  // reads one parameter does not prepare the queue's thirty statements.
  private paramsRepo?: ParamsRepo;
  private messagesRepo?: MessagesRepo;
  private queueRepo?: QueueRepo;
  private historyRepo?: HistoryRepo;
  private templatesRepo?: TemplatesRepo;
  private usersRepo?: UsersRepo;

  private constructor(
    private readonly opened: OpenedDatabase,
    private readonly classes: RepoClasses | undefined,
  ) {}

  private repoClasses(): RepoClasses {
    if (!this.classes) throw new Error('internal: this store was opened with paramsOnly');
    return this.classes;
  }

  get params(): ParamsRepo {
    return (this.paramsRepo ??= new ParamsRepo(this.opened.db));
  }

  get messages(): MessagesRepo {
    return (this.messagesRepo ??= new (this.repoClasses().MessagesRepo)(this.opened.db));
  }

  get queue(): QueueRepo {
    return (this.queueRepo ??= new (this.repoClasses().QueueRepo)(this.opened.db));
  }

  get history(): HistoryRepo {
    return (this.historyRepo ??= new (this.repoClasses().HistoryRepo)(this.opened.db));
  }

  get templates(): TemplatesRepo {
    return (this.templatesRepo ??= new (this.repoClasses().TemplatesRepo)(this.opened.db));
  }

  get users(): UsersRepo {
    return (this.usersRepo ??= new (this.repoClasses().UsersRepo)(this.opened.db));
  }

  static async open(file: string, options: StoreOptions = {}): Promise<Store | undefined> {
    const [opened, classes] = await Promise.all([openDatabase(file, options), options.paramsOnly ? undefined : loadRepoClasses()]);
    return opened ? new Store(opened, classes) : undefined;
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

  /** For repositories added by other modules; not for use cases. */
  get sqlite(): SqliteDatabase {
    return this.opened.db;
  }

  async close(): Promise<void> {
    if (this.opened.db.open) this.opened.db.close();
  }
}
