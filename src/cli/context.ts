/**
 * What every command needs, loaded once and only when asked for: global options, the output, the user
 * config, the store and the effective settings.
 */
import type { RepoModuleName } from '../store/sqlite/store.js';
import os from 'node:os';
import { Settings } from '../core/precedence.js';
import { SysemailError, isSysemailError } from '../core/errors.js';
import type { ParamValue } from '../core/params.js';
import { databaseFolder, resolveDbPath, type PathBase } from '../config/paths.js';
import type { LoadedUserConfig } from '../config/user.js';
import type { Store } from '../store/index.js';
import { Output } from './output.js';

export interface GlobalOptions {
  db?: string;
  config?: string;
  json?: boolean;
  color?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export class CliContext {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  output!: Output;
  private user?: LoadedUserConfig;
  private opened?: Store;
  /** Set by commands that only read parameters, so the store loads nothing else. */
  paramsOnly = false;

  constructor(
    readonly globals: GlobalOptions,
    env: NodeJS.ProcessEnv = process.env,
    cwd = process.cwd(),
  ) {
    this.env = env;
    this.cwd = cwd;
  }

  /** Loads the user layer (it decides colour and the database path) and sets up the output. */
  async init(): Promise<this> {
    const { loadUserConfig } = await import('../config/user.js');
    try {
      this.user = await loadUserConfig({ file: this.globals.config, cwd: this.cwd, home: this.env.HOME || os.homedir() });
    } finally {
      this.output = new Output({
        json: !!this.globals.json,
        color: this.globals.color !== false && !this.env.NO_COLOR && this.user?.config.color !== false,
        quiet: !!this.globals.quiet,
        verbose: !!this.globals.verbose,
      });
    }
    for (const w of this.user.warnings) await this.output.warn(w);
    return this;
  }

  get userConfig(): LoadedUserConfig {
    if (!this.user) throw new Error('internal: CliContext.init() was not called');
    return this.user;
  }

  get dbPath(): string {
    return resolveDbPath(this.globals.db, this.env, this.userConfig.config.db).file;
  }

  /** The folder of the database: where the spool and the outbox are unless params say otherwise. */
  get databaseFolder(): string {
    return databaseFolder(this.dbPath, this.env);
  }

  /** What relative and `~/` paths given to this command are resolved against. */
  get pathBase(): PathBase {
    return { cwd: this.cwd, home: this.env.HOME || os.homedir() };
  }

  /**
   * Opens (creating on first use) the database. `only`: a command that reads one repository names it,
   * so the others' code is not loaded (SQLite; a server database ignores it).
   */
  async store(only?: readonly RepoModuleName[]): Promise<Store> {
    if (!this.opened) {
      const { openStore } = await import('../store/open.js');
      const store = (await openStore(this.dbPath, { paramsOnly: this.paramsOnly, only, env: this.env })) as Store | undefined;
      if (!store) throw new SysemailError('internal', 'DB_NOT_OPENED', 'database could not be opened');
      this.opened = store;
    }
    return this.opened;
  }

  /** Effective parameter values. `flags` are only the options the user really gave. */
  async settings(flags?: ReadonlyMap<string, ParamValue>): Promise<Settings> {
    const store = await this.store();
    const { userParamLayer } = await import('../config/user.js');
    const { settings, errors } = Settings.from({
      params: await store.params.all(),
      user: userParamLayer(this.userConfig.config),
      userFile: this.userConfig.file,
      env: this.env,
      flags,
      dataDir: this.databaseFolder,
    });
    if (errors.length > 0) {
      throw new SysemailError('config', 'ENV_INVALID', errors.map((e) => e.message).join('; '), {
        fix: `Correct or unset ${errors.map((e) => e.origin).join(', ')}`,
      });
    }
    return settings;
  }

  /** What an SQLite error raised by a command stands for, naming the open database; undefined for other errors. */
  async storeFailure(err: unknown): Promise<SysemailError | undefined> {
    if (isSysemailError(err)) return undefined;
    const { storeFailure, busyTimeoutMs } = await import('../store/sqlite-errors.js');
    let waited: number | undefined;
    try {
      waited = busyTimeoutMs(this.env);
    } catch {
      waited = undefined;
    }
    return storeFailure(err, this.opened?.file, waited);
  }

  async close(): Promise<void> {
    await this.opened?.close();
    this.opened = undefined;
  }
}
