import type { ErrorKind } from '../core/errors.js';

/** sysexits.h codes, as msmtp and sendmail use them. The only kind → exit code table. */
export const EXIT = {
  OK: 0,
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
} as const;

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
