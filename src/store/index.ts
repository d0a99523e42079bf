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
  readonly params: ParamsRepo;
  readonly messages: MessagesRepo;
  readonly queue: QueueRepo;
  readonly history: HistoryRepo;
  readonly templates: TemplatesRepo;
  readonly users: UsersRepo;

  private constructor(private readonly opened: OpenedDatabase) {
    this.params = new ParamsRepo(opened.db);
    this.messages = new MessagesRepo(opened.db);
    this.queue = new QueueRepo(opened.db);
    this.history = new HistoryRepo(opened.db);
    this.templates = new TemplatesRepo(opened.db);
    this.users = new UsersRepo(opened.db);
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
