import type { Command } from 'commander';
import type { ChecklistResult, Check } from '../../app/diagnose/index.js';
import type { CauseView } from '../../app/diagnose/error.js';
import { PROVIDER_LIST, PROVIDER_NAMES, isProviderName } from '../../core/providers.js';
import { action, collect } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { usageError } from '../errors.js';
import { quoted } from '../../core/text.js';

interface DiagnoseFlags {
  error?: string;
  history?: string;
  offline?: boolean;
  to?: string;
  provider?: string;
  bulk?: boolean;
  dnsServer?: string;
  selector?: string[];
  dkimDomain?: string;
}

const SYMBOL: Record<Check['status'], string> = { pass: '✔', warn: '!', fail: '✖', skip: '-' };

type Chalk = Awaited<ReturnType<CliContext['output']['chalk']>>;

function printChecks(ctx: CliContext, c: Chalk, checks: Check[]): void {
  const paint = { pass: c.green, warn: c.yellow, fail: c.red, skip: c.dim };
  for (const check of checks) {
    if (ctx.output.quiet && (check.status === 'pass' || check.status === 'skip')) continue;
    ctx.output.line(
      `${paint[check.status](SYMBOL[check.status])} ${c.bold(check.id)}  ${check.detail}${check.diagnosis ? c.dim(` [${check.diagnosis}]`) : ''}`,
    );
    if (check.fix && check.status !== 'pass') ctx.output.line(`    ${c.cyan('fix:')} ${check.fix}`);
    if (check.rule && !ctx.output.quiet) ctx.output.line(`    ${c.dim(`rule: ${check.rule}`)}`);
  }
}

function checkJson(check: Check): Record<string, unknown> {
  return {
    id: check.id,
    status: check.status,
    detail: check.detail,
    fix: check.fix,
    ...(check.diagnosis ? { diagnosis: check.diagnosis } : {}),
    ...(check.rule ? { rule: check.rule } : {}),
  };
}

/** The sender-domain checks (`diagnose sender`) and the bulk-sender rules (`diagnose --bulk`). */
async function domainChecks(
  ctx: CliContext,
  mode: 'sender' | 'bulk',
  domainArg: string | undefined,
  flags: DiagnoseFlags,
): Promise<Outcome> {
  const [{ runDomainChecks }] = await Promise.all([import('../../app/diagnose/domain.js')]);
  const store = await ctx.store();
  const settings = await ctx.settings();
  const result = await runDomainChecks({
    mode,
    store,
    settings,
    ...(domainArg !== undefined ? { domain: domainArg } : {}),
    ...(flags.dnsServer !== undefined ? { dnsServer: flags.dnsServer } : {}),
    selectors: flags.selector ?? [],
    ...(flags.dkimDomain !== undefined ? { dkimDomain: flags.dkimDomain } : {}),
  });
  if (ctx.output.json) {
    ctx.output.jsonDoc({ domain: result.domain, ok: result.ok, checks: result.checks.map(checkJson) });
  } else {
    const c = await ctx.output.chalk();
    printChecks(ctx, c, result.checks);
    const failed = result.checks.filter((x) => x.status === 'fail').length;
    const warned = result.checks.filter((x) => x.status === 'warn').length;
    ctx.output.note(
      failed === 0 && warned === 0 ? `${result.domain}: all checks passed` : `${result.domain}: ${failed} problem(s), ${warned} warning(s)`,
    );
  }
  return result.ok ? 'OK' : 'CHECK_FAILED';
}

async function serverDatabaseChecks(ctx: CliContext): Promise<Check[]> {
  const { isServerDatabase } = await import('../../config/paths.js');
  if (!isServerDatabase(ctx.dbPath)) return [];
  const { databaseChecks } = await import('../../app/diagnose/database.js');
  return databaseChecks({ url: ctx.dbPath, env: ctx.env });
}

async function checklist(ctx: CliContext, flags: DiagnoseFlags): Promise<Outcome> {
  const { runChecklist } = await import('../../app/diagnose/index.js');
  if (flags.provider !== undefined && !isProviderName(flags.provider)) {
    throw usageError(`unknown provider ${quoted(flags.provider)}`, `Use --provider ${PROVIDER_NAMES.join(', ')}`);
  }
  const c = await ctx.output.chalk();
  // a server database is checked step by step first: one that cannot be opened still gets its diagnosis
  const database = await serverDatabaseChecks(ctx);
  if (database.some((x) => x.status === 'fail')) {
    if (ctx.output.json) ctx.output.jsonDoc({ provider: null, ok: false, checks: database.map(checkJson) });
    else {
      printChecks(ctx, c, database);
      ctx.output.note(`${database.filter((x) => x.status === 'fail').length} problem(s) with the database: fix them first`);
    }
    return 'CHECK_FAILED';
  }
  if (!ctx.output.json) printChecks(ctx, c, database);
  const store = await ctx.store();
  const settings = await ctx.settings();
  const checked: ChecklistResult = await runChecklist({
    store,
    settings,
    secrets: { dbId: store.id, env: ctx.env },
    ...(flags.provider ? { provider: flags.provider } : {}),
    offline: !!flags.offline,
    ...(flags.to !== undefined ? { to: flags.to } : {}),
    // live on a terminal: each group as soon as it is known
    ...(ctx.output.json ? {} : { onChecks: (group: Check[]) => printChecks(ctx, c, group) }),
  });
  const result = { ...checked, checks: [...database, ...checked.checks], ok: checked.ok && !database.some((x) => x.status === 'fail') };
  if (ctx.output.json) {
    ctx.output.jsonDoc({ provider: result.provider, ok: result.ok, checks: result.checks.map(checkJson) });
  } else {
    const failed = result.checks.filter((x) => x.status === 'fail').length;
    const warned = result.checks.filter((x) => x.status === 'warn').length;
    ctx.output.note(failed === 0 && warned === 0 ? 'all checks passed' : `${failed} problem(s), ${warned} warning(s)`);
  }
  return result.ok ? 'OK' : 'CHECK_FAILED';
}

async function printCauses(ctx: CliContext, matches: CauseView[]): Promise<void> {
  const c = await ctx.output.chalk();
  let excerpt: string | undefined;
  for (const m of matches) {
    if (m.excerpt !== undefined && m.excerpt !== excerpt) {
      excerpt = m.excerpt;
      ctx.output.line(c.dim(`── ${m.excerpt.split('\n')[0]}`));
    }
    ctx.output.line(`${c.bold(m.id)}  ${m.title}`);
    ctx.output.line(`  ${m.explanation}`);
    ctx.output.line(`  ${c.cyan('fix:')} ${m.fix}`);
    ctx.output.line(`  ${m.retryable ? 'retrying later may work' : 'retrying will not help until this is fixed'}`);
  }
}

function causeJson(m: CauseView): Record<string, unknown> {
  return {
    id: m.id,
    title: m.title,
    explanation: m.explanation,
    fix: m.fix,
    retryable: m.retryable,
    ...(m.excerpt !== undefined ? { excerpt: m.excerpt } : {}),
  };
}

async function nothingMatched(ctx: CliContext, what: string): Promise<Outcome> {
  const { COLLECT_NEXT } = await import('../../app/diagnose/error.js');
  if (ctx.output.json) ctx.output.jsonDoc({ matches: [], next: COLLECT_NEXT });
  else ctx.output.note(`${what} matches no known cause. To see the whole conversation with the server, run: ${COLLECT_NEXT}`);
  return 'CHECK_FAILED';
}

async function fromError(ctx: CliContext, text: string): Promise<Outcome> {
  const [{ diagnoseErrorText }, { readStdin }] = await Promise.all([import('../../app/diagnose/error.js'), import('../io.js')]);
  const input = text === '-' ? await readStdin() : text;
  if (input.trim() === '')
    throw usageError(
      '--error needs the error text (or - to read it from stdin)',
      'e.g. sysemail diagnose --error "535 5.7.8 Authentication credentials invalid"',
    );
  const d = diagnoseErrorText(input);
  if (d.matches.length === 0) return nothingMatched(ctx, 'this error');
  if (ctx.output.json) ctx.output.jsonDoc({ matches: d.matches.map(causeJson) });
  else {
    await printCauses(ctx, d.matches);
    if (d.findings.length > 1) ctx.output.note(`${d.findings.length} distinct errors found`);
  }
  return 'OK';
}

async function fromHistory(ctx: CliContext, idText: string): Promise<Outcome> {
  const [{ diagnoseHistory }, { parseIds }] = await Promise.all([import('../../app/diagnose/error.js'), import('../../app/queue.js')]);
  const [id] = parseIds([idText]);
  const d = await diagnoseHistory(await ctx.store(), id);
  if (ctx.output.json) {
    if (d.matches.length === 0) {
      const { COLLECT_NEXT } = await import('../../app/diagnose/error.js');
      ctx.output.jsonDoc({ id: d.id, status: d.status, matches: [], attempts: d.attempts, next: COLLECT_NEXT });
      return 'CHECK_FAILED';
    }
    ctx.output.jsonDoc({ id: d.id, status: d.status, matches: d.matches.map(causeJson), attempts: d.attempts });
    return 'OK';
  }
  const c = await ctx.output.chalk();
  ctx.output.line(`${c.bold(`message ${d.id}`)}  ${d.status}, ${d.attempts.length} failed attempt(s)`);
  for (const a of d.attempts) {
    ctx.output.line(`  - ${a.at} ${a.provider ?? ''} ${a.outcome ?? ''}${a.ids.length ? ` [${a.ids.join(', ')}]` : ''}`);
    if (a.response) ctx.output.line(`      ${a.response.replace(/\n/g, '\n      ')}`);
  }
  if (d.matches.length === 0)
    return nothingMatched(ctx, d.attempts.length === 0 ? `message ${d.id} has no failed attempt; it` : `the failure of message ${d.id}`);
  ctx.output.line();
  await printCauses(ctx, d.matches);
  return 'OK';
}

export function registerDiagnose(program: Command): void {
  const diagnose = program
    .command('diagnose')
    .description('check the whole sending path (configuration, secret, DNS, TLS, sign-in, sender, distributor) or explain an error')
    .option('--error <text>', 'explain this error text; - reads it (or a whole log excerpt) from stdin')
    .option('--history <id>', 'explain the failed attempts of this message')
    .option('--offline', 'no network: configuration, secret, distributor and recent failures only')
    .option('--to <addr>', 'also check this recipient (RCPT TO, then RSET: nothing is sent)')
    .option('--provider <name>', `check ${PROVIDER_LIST} (default: batch.provider)`)
    .option('--bulk', "check the bulk-sender rules of Gmail, Yahoo and Outlook.com for sender.default's domain")
    .option('--dns-server <host[:port]>', 'with --bulk or `sender`: ask this DNS server (default: the system resolver)')
    .option('--selector <s>', 'with --bulk or `sender`: a DKIM selector to check (repeatable)', collect)
    .option('--dkim-domain <domain>', 'with --bulk or `sender`: the d= domain the selectors belong to (default: the sender domain)')
    .addHelpText(
      'after',
      `
Exit status: 0 all checks passed (or the error matched a known cause), 1 a check failed (or nothing
known matched), 75 (--bulk) the DNS server does not answer, 78 sysemail's own configuration cannot be read.

Examples:
  $ sysemail diagnose
  $ sysemail diagnose --offline --json | jq '.checks[] | select(.status=="fail")'
  $ sysemail diagnose --to ann@example.com
  $ sysemail diagnose --error "535 5.7.139 Authentication unsuccessful, basic authentication is disabled"
  $ journalctl -u myapp --since today | sysemail diagnose --error -
  $ sysemail diagnose --history 42
  $ sysemail diagnose sender example.com --selector s1
  $ sysemail diagnose --bulk --selector s1 --json`,
    )
    .action(
      action(async (ctx, flags: DiagnoseFlags) => {
        const modes = [flags.error !== undefined, flags.history !== undefined].filter(Boolean).length;
        if (modes > 1) throw usageError('--error and --history cannot be combined', 'Give one of them');
        if (modes === 1 && (flags.offline || flags.to !== undefined || flags.provider !== undefined)) {
          throw usageError(
            '--offline, --to and --provider belong to the checklist, not to --error or --history',
            'Drop them, or run `sysemail diagnose` alone',
          );
        }
        const domainFlags = flags.dnsServer !== undefined || flags.selector !== undefined || flags.dkimDomain !== undefined;
        if (domainFlags && !flags.bulk) {
          throw usageError(
            '--dns-server, --selector and --dkim-domain belong to --bulk and `diagnose sender`',
            'Add --bulk, or run `sysemail diagnose sender DOMAIN ...`',
          );
        }
        if (flags.bulk) {
          if (modes === 1 || flags.offline || flags.to !== undefined || flags.provider !== undefined) {
            throw usageError(
              '--bulk cannot be combined with --error, --history, --offline, --to or --provider',
              'Run `sysemail diagnose --bulk` alone',
            );
          }
          return domainChecks(ctx, 'bulk', undefined, flags);
        }
        if (flags.error !== undefined) return fromError(ctx, flags.error);
        if (flags.history !== undefined) return fromHistory(ctx, flags.history);
        return checklist(ctx, flags);
      }),
    );

  diagnose
    .command('sender [domain]')
    .description("check a sender domain's DNS: MX, SPF (and whether smtp.host may send), DKIM, DMARC and alignment, MTA-STS, TLS-RPT")
    .option('--dns-server <host[:port]>', 'ask this DNS server (default: the system resolver)')
    .option('--selector <s>', 'a DKIM selector to check (repeatable)', collect)
    .option('--dkim-domain <domain>', 'the d= domain the selectors belong to (default: DOMAIN)')
    .addHelpText(
      'after',
      `
DOMAIN defaults to the domain of sender.default. Nothing is sent: only DNS is asked.

Exit status: 0 every check passed or only warned, 1 a check failed, 75 the DNS server does not answer.

Examples:
  $ sysemail diagnose sender example.com --selector s1
  $ sysemail diagnose sender --dns-server 192.0.2.53 --json | jq '.checks[] | select(.status=="fail")'`,
    )
    // the parent command parses the options it shares with this one: read them merged
    .action((domain: string | undefined, flags: DiagnoseFlags, cmd: Command) =>
      action(async (ctx) => {
        const all = cmd.optsWithGlobals<DiagnoseFlags>();
        if (
          all.error !== undefined ||
          all.history !== undefined ||
          all.offline ||
          all.to !== undefined ||
          all.provider !== undefined ||
          all.bulk
        ) {
          throw usageError(
            '--error, --history, --offline, --to, --provider and --bulk do not apply to `diagnose sender`',
            'Run `sysemail diagnose sender DOMAIN [--dns-server HOST] [--selector S]`',
          );
        }
        return domainChecks(ctx, 'sender', domain, all);
      })(domain, flags, cmd),
    );
}
