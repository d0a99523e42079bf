/**
 * Runs the built binary (bin/sysemail.js → dist/) the way a user would, in a private home and data folder.
 * `npm test` builds first; run `npm run build` before running an end-to-end file on its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type Options, type Result } from 'execa';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'sysemail.js');

export interface Sandbox {
  dir: string;
  home: string;
  db: string;
  env: Record<string, string>;
  /** Runs `sysemail ARGS` with --db pointing into the sandbox unless `noDb`. */
  run(args: string[], options?: RunOptions): Promise<Result>;
  cleanup(): void;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  cwd?: string;
  noDb?: boolean;
  timeout?: number;
}

export function sandbox(prefix = 'sysemail-e2e-'): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  const db = path.join(dir, 'data', 'sysemail.db');
  const env: Record<string, string> = {
    HOME: home,
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    NO_COLOR: '1',
  };
  return {
    dir,
    home,
    db,
    env,
    run(args, options = {}) {
      const finalArgs = options.noDb ? args : ['--db', db, ...args];
      const childEnv: Record<string, string | undefined> = { ...cleanEnv(), ...env, ...options.env };
      const execOptions: Options = {
        cwd: options.cwd ?? dir,
        env: childEnv,
        extendEnv: false,
        reject: false,
        timeout: options.timeout ?? 30_000,
        input: options.input,
        stdin: options.input === undefined ? 'ignore' : undefined,
      };
      return execa(process.execPath, [BIN, ...finalArgs], execOptions) as unknown as Promise<Result>;
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The parent's environment without any SYSEMAIL_* setting that could leak into a test. */
export function cleanEnv(): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SYSEMAIL_') || k === 'SYSEMAIL_REQUIRE_KEYCHAIN') out[k] = v;
  return out;
}

export function json<T = Record<string, unknown>>(text: string): T {
  return JSON.parse(text) as T;
}
