import type { ErrorKind } from '../core/errors.js';

/**
 * Every exit code sysemail ends with: sysexits.h codes, as msmtp and sendmail use them, plus the codes a
 * shell gives a command a signal stopped. The only kind → exit code table; nothing else in the program
 * writes an exit code as a number.
 */
export const EXIT = {
  OK: 0,
  /** `diagnose` (a check failed, or nothing known matched) and `template verify` (a template is bad). */
  CHECK_FAILED: 1,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  IOERR: 74,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
  /** 128 + SIGINT, as a shell reports a command stopped with Ctrl-C. */
  INTERRUPTED: 130,
  /** 128 + SIGPIPE: the reader went away (`| head`), as a shell reports a command that SIGPIPE stopped. */
  BROKEN_PIPE: 141,
  /** 128 + SIGTERM: `queue run --watch` told twice to stop leaves at once, as a shell reports SIGTERM. */
  TERMINATED: 143,
} as const;

export type ExitName = keyof typeof EXIT;

/**
 * How a command ended that did not throw. A command returns one of these names (or nothing, for OK);
 * main.ts alone turns it into the process's exit code.
 */
export type Outcome = Extract<ExitName, 'OK' | 'CHECK_FAILED' | 'SOFTWARE'>;

/** How one command line ended: a named exit, or an error that reportError turns into a message and code. */
export type Ending = { exit: ExitName } | { error: unknown; json: boolean; verbose: boolean };

const BY_KIND: Record<ErrorKind, number> = {
  usage: EXIT.USAGE,
  data: EXIT.DATAERR,
  noinput: EXIT.NOINPUT,
  unavailable: EXIT.UNAVAILABLE,
  internal: EXIT.SOFTWARE,
  ioerr: EXIT.IOERR,
  tempfail: EXIT.TEMPFAIL,
  noperm: EXIT.NOPERM,
  config: EXIT.CONFIG,
};

export function exitCodeOf(kind: ErrorKind): number {
  return BY_KIND[kind];
}

/** The exit code of a named ending. */
export function exitCode(name: ExitName): number {
  return EXIT[name];
}

/** The exit code of a signal's name, as a shell reports a command that signal stopped. */
export function signalExit(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.TERMINATED;
}
