/**
 * Entry point. `--version` answers before anything else is loaded; every other command builds the
 * commander program, whose actions load their modules lazily. Here alone a command's ending (its
 * outcome, or its error through reportError) becomes the process's exit code.
 */
import fs from 'node:fs';
import type { GlobalOptions } from './context.js';
import { EXIT, exitCode, type Ending } from './exit-codes.js';

export function version(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const watched = new WeakSet<NodeJS.WriteStream>();

/**
 * Node ignores SIGPIPE, so a reader that went away (`sysemail queue list | head -1`) surfaces as an
 * EPIPE error on the next write. Stop there, silently, as a command that SIGPIPE ends: nobody reads the
 * rest, and a stack trace on the terminal would only hide the output that was wanted.
 */
export function stopWhenReaderLeaves(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): void {
  if (watched.has(stdout)) return;
  watched.add(stdout);
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.BROKEN_PIPE);
    stderr.write(`sysemail: cannot write the output (${err.code ?? err.message}). Check where standard output goes\n`);
    process.exit(EXIT.IOERR);
  });
  // with stderr gone too there is nowhere left to say anything
  stderr.on('error', () => undefined);
}

export async function main(argv: string[]): Promise<number> {
  stopWhenReaderLeaves();
  const args = argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(version() + '\n');
    return EXIT.OK;
  }
  const fast = paramsGetArgs(args);
  if (fast) return exitOf(await runParamsGet(fast.key, fast.globals));
  const { run } = await import('./program.js');
  return exitOf(await run(argv));
}

async function exitOf(ending: Ending): Promise<number> {
  if ('exit' in ending) return exitCode(ending.exit);
  const { reportError } = await import('./errors.js');
  return reportError(ending.error, { json: ending.json, verbose: ending.verbose });
}

type FastGlobals = GlobalOptions;

/**
 * `params get KEY` is what scripts call in loops, so it skips building the commander program. Only the
 * plain form qualifies: the global options and exactly `params get KEY`; anything else (help, unknown
 * flags, `--db=x`) takes the normal path, which gives the same result and the usual errors.
 */
export function paramsGetArgs(args: readonly string[]): { key: string; globals: FastGlobals } | undefined {
  const globals: FastGlobals = {};
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--db' || a === '--config') {
      const v = args[++i];
      if (v === undefined || v.startsWith('-')) return undefined;
      globals[a === '--db' ? 'db' : 'config'] = v;
    } else if (a === '--json') globals.json = true;
    else if (a === '--no-color') globals.color = false;
    else if (a === '-q' || a === '--quiet') globals.quiet = true;
    else if (a === '-v' || a === '--verbose') globals.verbose = true;
    else if (a.startsWith('-')) return undefined;
    else words.push(a);
  }
  if (words.length !== 3 || words[0] !== 'params' || words[1] !== 'get') return undefined;
  return { key: words[2], globals };
}

async function runParamsGet(key: string, globals: FastGlobals): Promise<Ending> {
  // the store and its SQLite driver are needed in any case: start loading them alongside the rest
  void import('../store/index.js').catch(() => undefined);
  const [{ CliContext }, { get }] = await Promise.all([import('./context.js'), import('./commands/params.js')]);
  const ctx = new CliContext(globals);
  ctx.paramsOnly = true;
  try {
    await ctx.init();
    return { exit: await get(ctx, key) };
  } catch (err) {
    return { error: (await ctx.storeFailure(err)) ?? err, json: !!globals.json, verbose: !!globals.verbose };
  } finally {
    await ctx.close();
  }
}
