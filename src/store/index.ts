/**
 * The store: one SQLite database behind an async interface, so a server database could stand behind
 * it later without changing callers. Each area of the model has its own repository.
 */
import { openDatabase, type OpenOptions, type OpenedDatabase, type SqliteDatabase } from './db.js';
import { MessagesRepo } from './messages.js';
import { ParamsRepo } from './params.js';
import { HistoryRepo } from './history.js';
import { QueueRepo } from './queue.js';
import { TemplatesRepo } from './templates.js';
import { UsersRepo } from './users.js';

export class Store {
  // Repositories prepare their statements when built; build each on first use, so a command that
  // reads one parameter does not prepare the queue's thirty statements.
  private paramsRepo?: ParamsRepo;
  private messagesRepo?: MessagesRepo;
  private queueRepo?: QueueRepo;
  private historyRepo?: HistoryRepo;
  private templatesRepo?: TemplatesRepo;
  private usersRepo?: UsersRepo;

  private constructor(private readonly opened: OpenedDatabase) {}

  get params(): ParamsRepo {
    return (this.paramsRepo ??= new ParamsRepo(this.opened.db));
  }

  get messages(): MessagesRepo {
    return (this.messagesRepo ??= new MessagesRepo(this.opened.db));
  }

  get queue(): QueueRepo {
    return (this.queueRepo ??= new QueueRepo(this.opened.db));
  }

  get history(): HistoryRepo {
    return (this.historyRepo ??= new HistoryRepo(this.opened.db));
  }

  get templates(): TemplatesRepo {
    return (this.templatesRepo ??= new TemplatesRepo(this.opened.db));
  }

  get users(): UsersRepo {
    return (this.usersRepo ??= new UsersRepo(this.opened.db));
  }

  static async open(file: string, options: OpenOptions = {}): Promise<Store | undefined> {
    const opened = await openDatabase(file, options);
    return opened ? new Store(opened) : undefined;
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
