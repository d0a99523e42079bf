/**
 * The commander program: global options, the command groups, and how one command line ended (its
 * outcome or its error), which main.ts turns into the exit code.
 */
import type * as CommanderModule from 'commander';
import { nodeModule } from '../core/builtins.js';
import { quoted } from '../core/text.js';
import type { CommandEnding } from './action.js';
import { usageError } from './errors.js';
import type { Ending } from './exit-codes.js';
import { version } from './main.js';
// through require: commander is CommonJS, and importing it as an ES module costs a scan of its
// source for named exports on every start
const { Command, CommanderError } = nodeModule.createRequire(import.meta.url)('commander') as typeof CommanderModule;
type Command = CommanderModule.Command;
type Register = (program: Command) => void;

/**
 * Command groups by top-level name. Only the group the command line names is loaded, so a command does
 * not pay for the definitions of all the others; help and unknown commands load them all.
 */
export const GROUPS: Record<string, () => Promise<Register>> = {
  params: async () => (await import('./commands/params.js')).registerParams,
  send: async () => (await import('./commands/send.js')).registerSend,
  'test-email': async () => (await import('./commands/test-email.js')).registerTestEmail,
  queue: async () => (await import('./commands/queue.js')).registerQueue,
  history: async () => (await import('./commands/history.js')).registerHistory,
  diagnose: async () => (await import('./commands/diagnose.js')).registerDiagnose,
  template: async () => (await import('./commands/template.js')).registerTemplate,
  users: async () => (await import('./commands/users.js')).registerUsers,
  notify: async () => (await import('./commands/notify.js')).registerNotify,
  governor: async () => (await import('./commands/governor.js')).registerGovernor,
  db: async () => (await import('./commands/db.js')).registerDb,
  suppress: async () => (await import('./commands/suppress.js')).registerSuppress,
  bounces: async () => (await import('./commands/bounces.js')).registerBounces,
  dkim: async () => (await import('./commands/dkim.js')).registerDkim,
};

/** Global options that take a value: the word after them is not the command. */
const VALUE_OPTIONS = new Set(['--db', '--config']);

/** The top-level command named on the command line, if any. */
export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

export async function buildProgram(onError: (text: string) => void, args: readonly string[] = []): Promise<Command & CommandEnding> {
  const program: Command & CommandEnding = new Command();
  program
    .name('sysemail')
    .description("Configure and run an application's outbound email: parameters, a send queue, throttling, history and diagnosis.")
    .option('--db <path>', 'database file (default: $SYSEMAIL_DB, user config db, or ~/.local/share/sysemail/sysemail.db)')
    .option('--config <file>', 'user config file (default: .emailrc etc. searched from the current folder up, then ~)')
    .option('--json', 'machine-readable output: one JSON document (JSON Lines for streams); errors as JSON on stderr')
    .option('--no-color', 'no colour (also NO_COLOR or a non-TTY output)')
    .option('-q, --quiet', 'print only results and errors')
    .option('-v, --verbose', 'more detail, including the cause of errors')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str) => onError(str) })
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail params set smtp.host smtp.office365.com smtp.port 587
  $ printf %s "$PW" | sysemail params set smtp.password --stdin
  $ sysemail params list
  $ sysemail params get smtp.host --json

Exit codes follow sysexits.h: 64 usage, 65 bad data, 66 missing input, 69 permanent send failure,
74 I/O, 75 temporary failure, 77 permission refused, 78 configuration.`,
    );
  const named = commandName(args);
  const wanted = named !== undefined && named in GROUPS && !args.includes('--help') && !args.includes('-h') ? [named] : Object.keys(GROUPS);
  for (const register of await Promise.all(wanted.map((name) => GROUPS[name]()))) register(program);
  return program;
}

/** Cleans commander's message ("error: unknown option '--x'\n(Did you mean --y?)") into one line. */
function commanderLine(text: string): string {
  return (
    text
      .replace(/^error:\s*/i, '')
      // commander quotes the word it refused as given: escape and shorten it like every other value
      .replace(/'([^']*)'/g, (_, word: string) => quoted(word))
      .replace(/\s*\n\s*/g, ' ')
      .trim()
  );
}

export async function run(argv: string[]): Promise<Ending> {
  const wantsJson = argv.includes('--json');
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  let commanderMessage = '';
  const program = await buildProgram((text) => {
    commanderMessage += text;
  }, argv.slice(2));
  try {
    await program.parseAsync(argv);
    return { exit: program.outcome ?? 'OK' };
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { exit: 'OK' };
      if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return { exit: 'USAGE' };
      const line = commanderLine(commanderMessage || err.message);
      return { error: usageError(line, 'See `sysemail --help` or `sysemail <command> --help`'), json: wantsJson, verbose: false };
    }
    // the global options as commander parsed them, else as the words say (an error before parsing ended)
    const globals = program.opts<{ json?: boolean; verbose?: boolean }>();
    return { error: err, json: !!globals.json || wantsJson, verbose: !!globals.verbose || verbose };
  }
}
