#!/usr/bin/env node
// Writes man/sysemail.1 from the commands' own definitions: the commander program in dist/ (run
// `npm run build` first), its options and help texts, the exit code table and the parameter list.
// `--stdout` prints the page instead of writing it (the unit test compares the two).
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const target = path.join(root, 'man', 'sysemail.1');

/** What each exit code of the exit table means; a code missing here stops the generation. */
const EXIT_MEANING = {
  OK: 'Done.',
  CHECK_FAILED:
    '\\fBdiagnose\\fR: a check failed or, with \\fB\\-\\-error\\fR, nothing known matched; \\fBtemplate verify\\fR: a template has a problem.',
  USAGE: 'Usage error: unknown command or option, missing argument (the nearest spelling is suggested).',
  DATAERR:
    'Bad input: malformed address, header with CR or LF, unknown parameter key, value of the wrong type, template placeholder without a value.',
  NOINPUT: 'A named input file (attachment, body file, data file, import file) does not exist or cannot be read.',
  UNAVAILABLE: 'Permanent send failure (SMTP 5xx, Graph 4xx other than 401, 403 and 429).',
  SOFTWARE: 'Internal error (a bug): run again with \\fB\\-v\\fR and report it.',
  IOERR: 'Database or file I/O failure, corrupt or read-only database, full disk.',
  TEMPFAIL: 'Temporary failure (SMTP 4xx, timeout, connection refused, locked database, Graph 429 or 5xx): retrying may work.',
  NOPERM: 'Authentication refused, Send As denied, Graph 401 or 403.',
  CONFIG: 'Missing or invalid configuration, secret not found, keychain unavailable.',
  INTERRUPTED: 'Cancelled with Ctrl-C (SIGINT): at an interactive question, or a second Ctrl-C that stops \\fBqueue run\\fR at once.',
  TERMINATED: 'A second SIGTERM made \\fBqueue run\\fR leave at once, as a shell reports SIGTERM.',
  BROKEN_PIPE: 'The reader of the output went away, as a shell reports SIGPIPE.',
};

async function load(file, names) {
  const full = path.join(dist, file);
  if (!fs.existsSync(full)) fail(`dist/${file} is missing; run \`npm run build\` first`);
  const mod = await import(full);
  for (const name of names) if (!(name in mod)) fail(`dist/${file} has no export ${name}; update scripts/gen-man.js`);
  return mod;
}

function fail(message) {
  console.error(`gen-man: ${message}`);
  process.exit(1);
}

/** Text for roff: backslashes escaped, hyphens as minus signs, no line starting with a control character. */
function roff(text) {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? '\\&' + line : line))
    .join('\n');
}

const bold = (text) => `\\fB${roff(text)}\\fR`;

/** `--to <addr>` as bold option with an italic argument. */
function flags(text) {
  return text
    .split(/(<[^>]+>|\[[^\]]+\])/)
    .map((part) => (/^[<[]/.test(part) ? `\\fI${roff(part)}\\fR` : part ? bold(part) : ''))
    .join('');
}

/** The text commander prints after a command's help (its examples and notes). */
function afterHelp(cmd) {
  let text = '';
  cmd.emit('afterHelp', { error: false, command: cmd, write: (s) => (text += s) });
  return text.replace(/^\n+|\s+$/g, '');
}

function fullName(cmd) {
  const names = [];
  for (let c = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function optionsOf(cmd) {
  return cmd.options.filter((o) => !o.hidden);
}

/** An after-help text as roff: example lines (indented) kept as they are, prose as paragraphs. */
function helpBlock(text) {
  if (!text) return [];
  const out = [];
  for (const para of text.split(/\n\s*\n/)) {
    const lines = para.split('\n');
    const heading = /^[A-Z][\w ]*:$/.test(lines[0]) ? lines.shift() : undefined;
    if (heading) out.push('.PP', `\\fI${roff(heading.slice(0, -1))}\\fR:`);
    if (lines.length === 0) continue;
    if (lines.every((l) => /^\s/.test(l))) {
      out.push('.PP', '.nf', '.RS 4', ...lines.map((l) => roff(l.replace(/^\s{2}/, ''))), '.RE', '.fi');
    } else {
      out.push('.PP', roff(lines.map((l) => l.trim()).join(' ')));
    }
  }
  return out;
}

function commandSection(cmd) {
  const out = [];
  const usage = `${fullName(cmd)} ${cmd.usage()}`.trim();
  out.push('.SS ' + roff(fullName(cmd)), '.PP', flags(usage), '.PP', roff(cmd.description()));
  for (const o of optionsOf(cmd)) out.push('.TP', flags(o.flags), roff(o.description));
  out.push(...helpBlock(afterHelp(cmd)));
  for (const sub of cmd.commands) out.push(...commandSection(sub));
  return out;
}

const { buildProgram } = await load('cli/program.js', ['buildProgram']);
const { EXIT } = await load('cli/exit-codes.js', ['EXIT']);
const { PARAMS, envNameOf } = await load('core/params.js', ['PARAMS', 'envNameOf']);
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const program = await buildProgram(() => {});

const missing = Object.keys(EXIT).filter((name) => !(name in EXIT_MEANING));
if (missing.length) fail(`no meaning for exit code ${missing.join(', ')}: add it to EXIT_MEANING`);

const page = [
  `.\\" Generated by scripts/gen-man.js from the commands' own help; do not edit (run \`npm run man\`).`,
  `.TH SYSEMAIL 1 "" "sysemail ${pkg.version}" "User Commands"`,
  '.SH NAME',
  `sysemail \\- ${roff(
    program
      .description()
      .replace(/^./, (c) => c.toLowerCase())
      .replace(/\.$/, ''),
  )}`,
  '.SH SYNOPSIS',
  `${bold('sysemail')} [\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]`,
  ...program.commands.map((c) => `.br\n${bold('sysemail')} ${flags(`${c.name()} ${c.usage()}`)}`),
  '.SH DESCRIPTION',
  roff(
    'sysemail keeps the email parameters, a send queue and the history of every attempt in one SQLite ' +
      'database; it sends through SMTP, Exchange Online (Microsoft Graph) or by writing an .eml file, drains ' +
      'the queue with a distributor batch (queue run) that throttles and retries, and diagnose explains a ' +
      'failure and names its fix. Secrets stay in the OS keychain or a non-interactive source, never in the database.',
  ),
  '.PP',
  roff('For one value the most specific layer wins: flag > environment > user config > params > default.'),
  '.SH GLOBAL OPTIONS',
  ...optionsOf(program).flatMap((o) => ['.TP', flags(o.flags), roff(o.description)]),
  '.TP',
  flags('-h, --help'),
  roff('show help; every command has its own, with examples'),
  '.SH COMMANDS',
  ...program.commands.flatMap((c) => commandSection(c)),
  '.SH EXIT STATUS',
  roff('The sysexits.h codes that msmtp and sendmail use:'),
  ...Object.entries(EXIT).flatMap(([name, code]) => ['.TP', `\\fB${code}\\fR (${roff(name)})`, EXIT_MEANING[name]]),
  '.SH ENVIRONMENT',
  '.TP',
  bold('SYSEMAIL_DB'),
  roff('The database file, when --db is not given.'),
  '.TP',
  `${bold('SYSEMAIL_SMTP_PASSWORD')}, ${bold('SYSEMAIL_SMTP_CLIENT_SECRET')}, ${bold('SYSEMAIL_EXCHANGE_CLIENT_SECRET')}`,
  roff('The secrets; they win over the password command, the password file and the keychain.'),
  '.TP',
  bold('SYSEMAIL_BUSY_TIMEOUT_MS'),
  roff('How long to wait for another writer of the database (default 10000).'),
  '.TP',
  `${bold('NO_COLOR')}`,
  roff('Set: no colour.'),
  '.TP',
  `${bold('VISUAL')}, ${bold('EDITOR')}`,
  roff("The editor of send's compose form."),
  '.TP',
  bold('XDG_DATA_HOME'),
  roff('Base of the default database folder.'),
  '.PP',
  roff('Every parameter can be set from the environment:'),
  '.PP',
  '.nf',
  '.RS 4',
  '.ta 44n',
  ...PARAMS.filter((p) => p.type.kind !== 'secret').map((p) => `${roff(envNameOf(p.key))}\t${roff(p.key)}`),
  '.RE',
  '.fi',
  '.SH FILES',
  '.TP',
  bold('~/.local/share/sysemail/sysemail.db'),
  roff(
    'The default database ($XDG_DATA_HOME/sysemail/sysemail.db): parameters, queue, history, templates, users. ' +
      'Beside it: outbox/ (the .eml files of the eml provider) and spool/ (attachments of queued messages).',
  ),
  '.TP',
  `${bold('.emailrc')}, ${bold('.emailrc.json')}, ${bold('.emailrc.yaml')}, ${bold('email.config.js')}, ${bold('package.json')} (key ${bold('email')})`,
  roff('The user config (from, provider, db, color), searched from the current folder up, then in the home folder.'),
  '.SH SEE ALSO',
  roff("msmtp(1), swaks(1), sendmail(8), sysexits.h. The guides in the package's docs/ folder and README.md."),
  '',
].join('\n');

if (process.argv.includes('--stdout')) {
  process.stdout.write(page);
} else {
  const before = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
  if (before === page) {
    console.log('man/sysemail.1: up to date');
  } else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, page);
    console.log('man/sysemail.1: written');
  }
}
