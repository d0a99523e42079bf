/**
 * The one error type of sysemail. `kind` decides the exit code (the table lives in src/cli/exit-codes.ts);
 * `code` is a stable machine-readable identifier shown in `--json` errors, one of src/core/error-codes.ts.
 */
import type { ErrorCode } from './error-codes.js';

export type { ErrorCode } from './error-codes.js';

export type ErrorKind = 'usage' | 'data' | 'noinput' | 'unavailable' | 'ioerr' | 'tempfail' | 'noperm' | 'config' | 'internal';

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
  readonly code: ErrorCode;
  readonly fix?: string;
  readonly data?: Record<string, unknown>;

  constructor(kind: ErrorKind, code: ErrorCode, message: string, details: ErrorDetails = {}) {
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

// ---- user values inside messages ------------------------------------------------------------------

/** The characters a terminal would act on instead of showing: C0/C1 controls, DEL, bidi overrides. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\r': '\\r', '\n': '\\n', '\t': '\\t', '\0': '\\0' };

export const QUOTE_MAX = 80;

/** The text with every control character written as an escape (`\r`, `\n`, `\0`, `\u001b`): one printable line. */
export function escapeControls(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => NAMED[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `'value'` for an error message: control characters escaped (`\r`, `\n`, `\0`, `\u001b`), cut to
 * about `max` characters with the full length said, so the message stays one readable line.
 */
export function quoted(value: unknown, max = QUOTE_MAX): string {
  const text = typeof value === 'string' ? value : String(value);
  const chars = [...text];
  const cut = chars.length > max;
  const shown = escapeControls(cut ? chars.slice(0, max).join('') : text);
  return cut ? `'${shown}…' (${chars.length} characters)` : `'${shown}'`;
}
