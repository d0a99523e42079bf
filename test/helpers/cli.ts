/**
 * Runs the built binary (bin/sysemail.js → dist/) the way a user would, in a private home and data folder.
 * Every vitest run builds dist/ first (test/global-setup.ts), so a single end-to-end file runs fresh code too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'sysemail.js');

export interface Sandbox {
  dir: string;
  home: string;
  db: string;
  env: Record<string, string>;
  /** Runs `sysemail ARGS` with --db pointing into the sandbox unless `noDb`. */
  run(args: string[], options?: RunOptions): Promise<CliResult>;
  cleanup(): void;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when the process was killed (timeout or signal). */
  signal?: string;
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
    async run(args, options = {}) {
      const finalArgs = options.noDb ? args : ['--db', db, ...args];
      const childEnv: Record<string, string | undefined> = { ...cleanEnv(), ...env, ...options.env };
      const r = await execa(process.execPath, [BIN, ...finalArgs], {
        cwd: options.cwd ?? dir,
        env: childEnv,
        extendEnv: false,
        reject: false,
        timeout: options.timeout ?? 30_000,
        ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), signal: r.signal ?? undefined };
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
