/**
 * The one error type of sysemail. `kind` decides the exit code (the table lives in src/cli/exit-codes.ts);
 * `code` is a stable machine-readable identifier shown in `--json` errors.
 */
export type ErrorKind =
  | 'usage'
  | 'data'
  | 'noinput'
  | 'unavailable'
  | 'ioerr'
  | 'tempfail'
  | 'noperm'
  | 'config'
  | 'internal';

export interface ErrorDetails {
  /** What the user can do about it, one sentence. Appended to the message when shown. */
  fix?: string;
  /** The original error, kept for --verbose; never shown to the user by default. */
  cause?: unknown;
  /** Free structured data (e.g. the server's reply) for JSON output and history. */
  data?: Record<string, unknown>;
}

export class SysemailError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly fix?: string;
  readonly data?: Record<string, unknown>;

  constructor(kind: ErrorKind, code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SysemailError';
    this.kind = kind;
    this.code = code;
    this.fix = details.fix;
    this.data = details.data;
  }

  /** The single line a user sees: the problem, then the fix. */
  get line(): string {
    return this.fix ? `${this.message}. ${this.fix}` : this.message;
  }
}

export function isSysemailError(err: unknown): err is SysemailError {
  return err instanceof SysemailError;
}
