/**
 * Runs a command on a real pseudo-terminal, so code that checks `isTTY`, sets raw mode and draws prompts
 * (inquirer) behaves as it does for a person at a terminal. util-linux `script` owns the terminal: it
 * gives the command the slave side as stdin/stdout/stderr and copies everything the command draws (and
 * the terminal echoes) to its own stdout, which is what `output()` shows.
 *
 *   const term = spawnPty(process.execPath, [BIN, 'send'], { env, cwd });
 *   await term.waitFor('To:');
 *   term.type('ann@example.com');
 *   term.press('enter');
 *   const { exitCode } = await term.exit();
 *   term.kill(); // in afterEach/finally: always
 *
 * Keystrokes go in only after the prompt text is on the screen: before a prompt puts the terminal into
 * raw mode the line discipline would echo them, and they could land in the wrong prompt.
 */
import { spawnSync } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { execa, type ResultPromise } from 'execa';

export const SCRIPT = '/usr/bin/script';

/** Raw-mode bytes a terminal sends for each key. */
export const KEYS = {
  enter: '\r',
  down: '\x1b[B',
  up: '\x1b[A',
  space: ' ',
  tab: '\t',
  backspace: '\x7f',
  'ctrl-c': '\x03',
} as const;
export type Key = keyof typeof KEYS;

export interface PtyOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Terminal size the command sees (a pipe-driven `script` would otherwise leave it 0×0). */
  cols?: number;
  rows?: number;
}

export interface PtyExit {
  exitCode: number;
  signal?: string;
}

export interface Pty {
  /**
   * Resolves with the screen text (ANSI stripped) once `pattern` appears after the previous match;
   * rejects after `timeoutMs` (or when the command exits first) showing what was on the screen.
   */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  type(text: string): void;
  press(key: Key, times?: number): void;
  /** Everything drawn so far, ANSI escape sequences stripped and CR/LF turned into LF. */
  output(): string;
  /** Everything drawn so far, as the terminal received it (escape sequences included). */
  raw(): string;
  /** Resolves when the command ends; after `timeoutMs` kills it and rejects. */
  exit(timeoutMs?: number): Promise<PtyExit>;
  /** Kills the command if it still runs. Safe to call more than once. */
  kill(): void;
}

let scriptChecked = false;

/** Throws a clear error when util-linux `script` is not there to provide the terminal. */
export function requireScript(): void {
  if (scriptChecked) return;
  const probe = spawnSync(SCRIPT, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0 || !/util-linux/.test(probe.stdout)) {
    throw new Error(
      `the interactive tests need util-linux \`script\` at ${SCRIPT} to run commands on a pseudo-terminal ` +
        `(${probe.error ? probe.error.message : (probe.stderr || probe.stdout).trim() || `exit ${probe.status}`}). ` +
        'Install util-linux: on Debian/Ubuntu `apt-get install bsdutils` (it provides /usr/bin/script).',
    );
  }
  scriptChecked = true;
}

/** POSIX-shell single quoting: `script -c` hands its command to a shell. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const DEFAULT_WAIT_MS = 20_000;
const DEFAULT_EXIT_MS = 30_000;

export function spawnPty(file: string, args: readonly string[], options: PtyOptions = {}): Pty {
  requireScript();
  const cols = options.cols ?? 120;
  const rows = options.rows ?? 40;
  // exec: the command itself leads the terminal's session, so it gets SIGHUP if `script` is killed
  const command = `stty cols ${cols} rows ${rows} && exec ${[file, ...args].map(shellQuote).join(' ')}`;
  const child: ResultPromise = execa(SCRIPT, ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
    cwd: options.cwd,
    env: { ...options.env, SHELL: '/bin/sh', TERM: options.env?.TERM ?? 'xterm-256color' },
    extendEnv: false,
    reject: false,
    buffer: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    forceKillAfterDelay: 2_000,
  });

  let rawText = '';
  let cursor = 0;
  let ended: PtyExit | undefined;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    rawText += chunk;
    wake();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    // only `script` itself writes here (the command's stderr is the terminal)
    rawText += `\n[script] ${chunk}`;
    wake();
  });
  child.stdin?.on('error', () => undefined);
  const finished: Promise<PtyExit> = child.then((r) => {
    ended = { exitCode: r.exitCode ?? -1, ...(r.signal ? { signal: r.signal } : {}) };
    wake();
    return ended;
  });

  const screen = () => stripVTControlCharacters(rawText).replace(/\r+\n/g, '\n').replace(/\r/g, '\n');
  const show = () => `--- terminal output ---\n${screen()}\n--- end ---`;

  function find(pattern: string | RegExp): { index: number; end: number } | undefined {
    const text = screen();
    if (typeof pattern === 'string') {
      const i = text.indexOf(pattern, cursor);
      return i < 0 ? undefined : { index: i, end: i + pattern.length };
    }
    const re = new RegExp(pattern.source, pattern.flags.replace('g', '') + 'g');
    re.lastIndex = cursor;
    const m = re.exec(text);
    return m ? { index: m.index, end: m.index + m[0].length } : undefined;
  }

  function write(data: string): void {
    if (ended) throw new Error(`cannot type ${JSON.stringify(data)}: the command has already exited (${ended.exitCode})\n${show()}`);
    child.stdin?.write(data);
  }

  const pty: Pty = {
    waitFor(pattern, timeoutMs = DEFAULT_WAIT_MS) {
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(new Error(`waiting for ${String(pattern)}: not shown within ${timeoutMs} ms\n${show()}`));
        }, timeoutMs);
        const check = () => {
          const hit = find(pattern);
          if (hit) {
            cursor = hit.end;
            done();
            resolve(screen());
          } else if (ended) {
            done();
            reject(new Error(`waiting for ${String(pattern)}: the command exited (${ended.exitCode}) without showing it\n${show()}`));
          }
        };
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    type(text) {
      write(text);
    },
    press(key, times = 1) {
      write(KEYS[key].repeat(times));
    },
    output: screen,
    raw: () => rawText,
    exit(timeoutMs = DEFAULT_EXIT_MS) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          pty.kill();
          reject(new Error(`the command did not exit within ${timeoutMs} ms (killed)\n${show()}`));
        }, timeoutMs);
      });
      return Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
    },
    kill() {
      if (ended) return;
      child.stdin?.destroy();
      // killing `script` closes the terminal's master side: the command gets SIGHUP as at a closed window
      child.kill('SIGTERM');
    },
  };
  return pty;
}
