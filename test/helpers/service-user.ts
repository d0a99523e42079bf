/**
 * Runs the built binary as a service account would: an unprivileged user (nobody, uid 65534, through
 * util-linux `setpriv`) when the tests run as root, else the current user; always with
 * HOME=/nonexistent and nothing of the caller's environment but PATH.
 *
 *   const home = serviceFolder('sysemail-svc-');   // a folder that user owns, world-traversable parents
 *   const r = await asService(['--db', home.db, 'queue', 'run'], { cwd: home.dir });
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type Options, type ResultPromise } from 'execa';
import { BIN, ROOT, type CliResult } from './cli.js';

export const IS_ROOT = process.getuid?.() === 0;
export const SERVICE_UID = IS_ROOT ? 65534 : (process.getuid?.() ?? 0);
export const SERVICE_GID = IS_ROOT ? 65534 : (process.getgid?.() ?? 0);
export const SETPRIV = '/usr/bin/setpriv';
export const SERVICE_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Can the unprivileged account read this checkout (the build and node_modules)? Not when it lies under
 * a private folder such as /root: then the tests that need another account are skipped, saying why.
 */
export function serviceAccountCanRun(): boolean {
  if (!IS_ROOT) return true;
  const probe = spawnSync(
    SETPRIV,
    [
      `--reuid=${SERVICE_UID}`,
      `--regid=${SERVICE_GID}`,
      '--clear-groups',
      process.execPath,
      '-e',
      `require(${JSON.stringify(path.join(ROOT, 'node_modules', 'better-sqlite3'))}); require('fs').accessSync(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js'))})`,
    ],
    { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? SERVICE_PATH, HOME: '/nonexistent' } },
  );
  if (probe.status === 0) return true;
  if (process.env.SYSEMAIL_REQUIRE_SERVICE_USER === '1') {
    throw new Error(
      `SYSEMAIL_REQUIRE_SERVICE_USER is set but uid ${SERVICE_UID} cannot read ${ROOT}: run the suite from a world-readable folder`,
    );
  }
  console.warn(
    `skipping the tests run as uid ${SERVICE_UID}: it cannot read ${ROOT} (${(probe.error?.message ?? probe.stderr).trim().split('\n')[0]})`,
  );
  return false;
}

export interface ServiceFolder {
  /** Parent of everything, root's (or the caller's), mode 0755. */
  root: string;
  /** The service account's own folder (as systemd's StateDirectory would make it). */
  dir: string;
  db: string;
  cleanup(): void;
}

export function serviceFolder(prefix = 'sysemail-svc-'): ServiceFolder {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(root, 0o755);
  const dir = path.join(root, 'state');
  fs.mkdirSync(dir, { mode: 0o700 });
  if (IS_ROOT) fs.chownSync(dir, SERVICE_UID, SERVICE_GID);
  return { root, dir, db: path.join(dir, 'sysemail.db'), cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** Writes a file as the service account would own it (mode 0600 unless told). */
export function writeServiceFile(file: string, content: string, mode = 0o600): void {
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
  if (IS_ROOT) fs.chownSync(file, SERVICE_UID, SERVICE_GID);
}

/** The environment a unit or cron job gives the command: PATH, HOME=/nonexistent and `env`. */
export function serviceEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: `${path.dirname(process.execPath)}:${SERVICE_PATH}`, HOME: '/nonexistent', LANG: 'C.UTF-8', ...env };
}

/** Starts `file args` as the service account (setpriv when root). */
export function startAsService(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeout?: number; input?: string },
): ResultPromise<Options> {
  const [cmd, argv] = IS_ROOT
    ? [SETPRIV, [`--reuid=${SERVICE_UID}`, `--regid=${SERVICE_GID}`, '--clear-groups', file, ...args]]
    : [file, [...args]];
  return execa(cmd, argv, {
    cwd: options.cwd,
    env: serviceEnv(options.env),
    extendEnv: false,
    reject: false,
    timeout: options.timeout ?? 30_000,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
  });
}

/** Runs `sysemail ARGS` (this checkout's build) as the service account and waits for it. */
export async function asService(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeout?: number; input?: string },
): Promise<CliResult> {
  const r = await startAsService(process.execPath, [BIN, ...args], options);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), signal: r.signal ?? undefined };
}

/** Runs `sysemail ARGS` as root (the tests' own user), as `sudo sysemail ...` would: root's HOME. */
export async function asAdmin(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; home: string; prefix?: readonly string[] },
): Promise<CliResult> {
  const prefix = options.prefix ?? [];
  const [cmd, argv] =
    prefix.length > 0 ? [prefix[0], [...prefix.slice(1), process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  const r = await execa(cmd, argv, {
    cwd: options.cwd,
    env: { PATH: serviceEnv().PATH, HOME: options.home, NO_COLOR: '1', ...options.env },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), signal: r.signal ?? undefined };
}
