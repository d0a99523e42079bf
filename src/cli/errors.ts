/** The single place where an error becomes a message and an exit code. */
import { SysemailError, isSysemailError, type ErrorCode } from '../core/errors.js';
import { escapeControls } from '../core/text.js';
import { storeFailure } from '../store/sqlite-errors.js';
import { EXIT, exitCodeOf } from './exit-codes.js';

export interface ReportOptions {
  json: boolean;
  verbose: boolean;
  write?: (text: string) => void;
}

export function reportError(err: unknown, options: ReportOptions): number {
  const write = options.write ?? ((t: string) => process.stderr.write(t));
  // Ctrl-C at a prompt is the operator changing their mind, not a bug: say so and exit as a shell would
  if (err instanceof Error && err.name === 'ExitPromptError') {
    const code: ErrorCode = 'CANCELLED';
    write(
      options.json
        ? JSON.stringify({ error: { code, message: 'cancelled at the prompt', exitCode: EXIT.INTERRUPTED } }) + '\n'
        : 'sysemail: cancelled at the prompt\n',
    );
    return EXIT.INTERRUPTED;
  }
  const e: SysemailError = isSysemailError(err)
    ? err
    : (storeFailure(err) ??
      new SysemailError('internal', 'INTERNAL', `internal error: ${err instanceof Error ? err.message : String(err)}`, {
        fix: 'This is a bug in sysemail; run again with -v and report the output',
        cause: err,
      }));
  const exitCode = exitCodeOf(e.kind);
  if (options.json) {
    const payload: Record<string, unknown> = { code: e.code, message: e.line, exitCode };
    if (e.data) payload.data = e.data;
    write(JSON.stringify({ error: payload }) + '\n');
  } else {
    // whatever a message quotes (a server's reply, a path), it stays one line that cannot forge another
    write(`sysemail: ${escapeControls(e.line)}\n`);
  }
  if (options.verbose) {
    const cause = isSysemailError(err) ? err.cause : err;
    // a stack helps only with a bug; for a known failure the causes' own words say more to an admin
    if (e.kind === 'internal' && cause instanceof Error && cause.stack) write(`\n${cause.stack}\n`);
    // the keychain library's words are never repeated: they might carry what it was asked for
    else if (e.code !== 'KEYCHAIN_UNAVAILABLE') for (const line of causeChain(cause)) write(`  cause: ${line}\n`);
  }
  return exitCode;
}

/** The messages of an error's causes, one line each, without stacks. */
function causeChain(cause: unknown): string[] {
  const lines: string[] = [];
  for (let c = cause, depth = 0; c instanceof Error && depth < 4; c = c.cause, depth++) {
    const text = c.message.split(/\r?\n/)[0].trim();
    if (text && !lines.includes(text)) lines.push(text);
  }
  return lines;
}

/** Commander's parse errors (unknown command/option, missing argument) are usage errors: 64. */
export function usageError(message: string, fix?: string): SysemailError {
  return new SysemailError('usage', 'USAGE', message, { fix: fix ?? 'See `sysemail --help`' });
}

export { EXIT };
