/**
 * The non-interactive secret sources that override the keychain: a password command (as msmtp's
 * passwordeval) and a password file. Their failures are SECRET_UNAVAILABLE configuration errors that
 * name the command's status or the file, never what the command printed or the file holds.
 */
import { spawn } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { SysemailError } from '../core/errors.js';
import { defaultTimeout } from '../core/timeouts.js';

/** How long `smtp.passwordCommand` may run before it is killed. */
export const PASSWORD_COMMAND_TIMEOUT_MS = defaultTimeout('passwordCommandMs');
/** More output than this is not a password; the command is stopped. */
const PASSWORD_COMMAND_MAX_BYTES = 64 * 1024;
/** A password file is read up to this size; the secret is its first line. */
const PASSWORD_FILE_MAX_BYTES = 64 * 1024;

function unavailable(message: string, fix: string, data: Record<string, unknown>, cause?: unknown): SysemailError {
  return new SysemailError('config', 'SECRET_UNAVAILABLE', message, { fix, data, cause });
}

type CommandOutcome =
  | { kind: 'exit'; status: number | null; signal: NodeJS.Signals | null; stdout: Buffer }
  | { kind: 'timeout' }
  | { kind: 'too-much-output' }
  | { kind: 'spawn-error'; error: Error };

function runShell(command: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    // Own process group, so a timeout also stops what the shell started (`sh -c 'gpg ...'`).
    // The sources are non-interactive by contract, so losing the controlling terminal is intended.
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (outcome: CommandOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      child.stdout.destroy();
    };
    const timer = setTimeout(() => {
      killGroup();
      finish({ kind: 'timeout' });
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > PASSWORD_COMMAND_MAX_BYTES) {
        killGroup();
        finish({ kind: 'too-much-output' });
        return;
      }
      chunks.push(chunk);
    });
    child.on('error', (error) => finish({ kind: 'spawn-error', error }));
    child.on('close', (status, signal) => finish({ kind: 'exit', status, signal, stdout: Buffer.concat(chunks) }));
  });
}

function commandFix(key: string): string {
  return `Run ${key} yourself: it must print the secret on stdout and exit 0 (or unset it: sysemail params unset ${key})`;
}

/**
 * Runs `command` through /bin/sh -c with `env`; its stdout without one trailing newline is the secret.
 * Non-zero exit, a signal, a timeout or empty output is SECRET_UNAVAILABLE naming the status only.
 */
export async function runPasswordCommand(
  command: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number = PASSWORD_COMMAND_TIMEOUT_MS,
  key = 'smtp.passwordCommand',
): Promise<string> {
  const data = { source: 'command', key };
  const COMMAND_FIX = commandFix(key);
  const outcome = await runShell(command, env, timeoutMs);
  switch (outcome.kind) {
    case 'timeout':
      throw unavailable(`${key} did not finish within ${timeoutMs / 1000} s and was stopped`, COMMAND_FIX, {
        ...data,
        timeoutMs,
      });
    case 'too-much-output':
      throw unavailable(`${key} printed more than ${PASSWORD_COMMAND_MAX_BYTES} bytes and was stopped`, COMMAND_FIX, data);
    case 'spawn-error':
      throw unavailable(`${key} could not be started: /bin/sh failed to run`, COMMAND_FIX, data, outcome.error);
    case 'exit': {
      if (outcome.status !== 0) {
        const how = outcome.status === null ? `was killed by ${outcome.signal ?? 'a signal'}` : `exited with status ${outcome.status}`;
        throw unavailable(`${key} ${how}`, COMMAND_FIX, {
          ...data,
          exitCode: outcome.status,
          signal: outcome.signal,
        });
      }
      const secret = outcome.stdout.toString('utf8').replace(/\r?\n$/, '');
      if (secret === '') {
        throw unavailable(`${key} exited with status 0 but printed nothing`, COMMAND_FIX, { ...data, exitCode: 0 });
      }
      return secret;
    }
  }
}

/** `~/x` → `$HOME/x`, as users write paths in configuration. */
function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path !== '~' && !path.startsWith('~/')) return path;
  return (env.HOME || homedir()) + path.slice(1);
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function errnoOf(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/**
 * Reads the secret from the first line of `path`. The file must be a regular file that neither group
 * nor others may read (checked on the open file, so it cannot be swapped between check and read).
 */
export async function readPasswordFile(path: string, env: NodeJS.ProcessEnv, key = 'smtp.passwordFile'): Promise<string> {
  const file = expandHome(path, env);
  const data = { source: 'file', key, path: file };
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const errno = errnoOf(err);
    const why =
      errno === 'ENOENT'
        ? 'does not exist'
        : errno === 'EACCES'
          ? 'is not readable by this user'
          : `cannot be opened (${errno ?? 'error'})`;
    throw unavailable(
      `${key} ${file} ${why}`,
      'Create it with mode 0600 holding the secret on its first line, ' + `or point ${key} at it: sysemail params set ${key} PATH`,
      { ...data, errno },
      err,
    );
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw unavailable(`${key} ${file} is not a regular file`, `Point ${key} at a file holding the secret on its first line`, data);
    }
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw unavailable(
        `${key} ${file} is readable by group or others (mode ${mode}), so it is not used`,
        `Restrict it: chmod 600 ${shellQuote(file)}`,
        { ...data, mode },
      );
    }
    const buffer = Buffer.alloc(Math.min(stat.size, PASSWORD_FILE_MAX_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const secret = buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/, 1)[0] ?? '';
    if (secret === '') {
      throw unavailable(`${key} ${file} is empty or its first line is blank`, 'Put the secret on the first line of the file', data);
    }
    return secret;
  } catch (err) {
    if (err instanceof SysemailError) throw err;
    throw unavailable(`${key} ${file} cannot be read (${errnoOf(err) ?? 'error'})`, 'Check the file and its permissions', data, err);
  } finally {
    await handle.close();
  }
}
