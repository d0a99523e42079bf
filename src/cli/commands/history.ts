import type { Command } from 'commander';
import type { HistoryEntry } from '../../app/history.js';
import { action, intOption } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { idList } from '../output.js';

interface ListFlags {
  failed?: boolean;
  since?: string;
  to?: string;
  limit?: number;
}

function errorText(e: HistoryEntry['lastError']): string {
  if (!e) return '';
  return (e.response ?? e.code ?? '').replace(/\s+/g, ' ');
}

async function list(ctx: CliContext, flags: ListFlags): Promise<Outcome> {
  const [{ listHistory }, { parseDuration }] = await Promise.all([import('../../app/history.js'), import('../../core/duration.js')]);
  // `history` is scripted and read often: only its repository's code is loaded
  const rows = await listHistory(await ctx.store(['history']), {
    failed: flags.failed,
    sinceMs: flags.since === undefined ? undefined : parseDuration(flags.since, '--since'),
    to: flags.to,
    limit: flags.limit,
    now: Date.now(),
  });
  if (ctx.output.json) {
    ctx.output.jsonDoc(rows);
    return 'OK';
  }
  await ctx.output.table(
    ['id', 'status', 'created', 'sent', 'to', 'subject', 'attempts', 'error', 'diagnosis'],
    rows.map((r) => [r.id, r.status, r.createdAt, r.sentAt, r.to.join(', '), r.subject, r.attempts, errorText(r.lastError), r.diagnosis]),
  );
  if (rows.length === 0) ctx.output.note('no messages match');
  return 'OK';
}

async function show(ctx: CliContext, idText: string): Promise<Outcome> {
  const [{ showHistory }, { parseIds }, { catalogue }] = await Promise.all([
    import('../../app/history.js'),
    import('../../app/queue.js'),
    import('../../core/diagnosis/index.js'),
  ]);
  const [id] = parseIds([idText]);
  const d = await showHistory(await ctx.store(), id);
  if (ctx.output.json) {
    ctx.output.jsonDoc(d);
    return 'OK';
  }
  const c = await ctx.output.chalk();
  ctx.output.line(`${c.bold(`message ${d.id}`)}  ${d.status}${d.forced ? ' (forced over the throttle limit)' : ''}`);
  ctx.output.line(`  from:     ${d.from}`);
  ctx.output.line(`  to:       ${[...d.to, ...d.cc.map((x) => `cc ${x}`), ...d.bcc.map((x) => `bcc ${x}`)].join(', ')}`);
  ctx.output.line(`  subject:  ${d.subject}`);
  ctx.output.line(`  created:  ${d.createdAt}${d.sentAt ? `   sent: ${d.sentAt} via ${d.provider}` : ''}`);
  if (d.messageId) ctx.output.line(`  id:       ${d.messageId}`);
  if (d.attachments.length) ctx.output.line(`  files:    ${d.attachments.map((a) => `${a.filename} (${a.size} B)`).join(', ')}`);
  if (d.nextAttemptAt) ctx.output.line(`  next try: ${d.nextAttemptAt} (${d.deferralReason ?? ''})`);
  ctx.output.line(`  attempts: ${d.attempts}${d.deferrals ? `, throttle deferrals: ${d.deferrals}` : ''}`);
  for (const a of d.attemptLog) {
    const code = [a.responseCode, a.enhancedCode, a.code].filter((x) => x !== null && x !== undefined).join(' ');
    ctx.output.line(`  - ${a.at} ${a.provider ?? ''} ${a.outcome ?? ''}${code ? ` [${code}]` : ''}`);
    if (a.response) ctx.output.line(`      ${a.response.replace(/\n/g, '\n      ')}`);
    if (a.diagnosis) ctx.output.line(`      diagnosis: ${a.diagnosis} (see \`sysemail diagnose --history ${d.id}\`)`);
  }
  const cause = d.diagnosis ? catalogue.find((e) => e.id === d.diagnosis) : undefined;
  if (cause) {
    ctx.output.line(`  ${c.bold('diagnosis:')} ${cause.id}  ${cause.title}`);
    ctx.output.line(`  ${c.bold('fix:')} ${cause.fix}`);
  }
  return 'OK';
}

async function purge(ctx: CliContext, opts: { olderThan?: string; dryRun?: boolean }): Promise<Outcome> {
  const [{ purgeHistory, purgeDryRun, retentionDays }, { parseDuration }] = await Promise.all([
    import('../../app/history.js'),
    import('../../core/duration.js'),
  ]);
  const age = opts.olderThan !== undefined ? parseDuration(opts.olderThan, '--older-than') : undefined;
  const store = await ctx.store();
  const cutoff = Date.now() - (age ?? retentionDays(await ctx.settings()) * 86_400_000);
  const before = new Date(cutoff).toISOString();
  if (opts.dryRun) {
    const { ids } = await purgeDryRun({ store, cutoff });
    if (ctx.output.json) ctx.output.jsonDoc({ deleted: ids.length, before, dryRun: true, ids });
    else {
      ctx.output.note(
        `${ids.length} sent/failed message(s) created before ${before} would be deleted${ids.length ? `: ${idList(ids)}` : ''} (dry run: nothing deleted)`,
      );
    }
    return 'OK';
  }
  const { spoolDirOf } = await import('../../app/spool.js');
  const r = await purgeHistory({ store, cutoff, spoolDir: spoolDirOf(await ctx.settings()) });
  if (ctx.output.json) ctx.output.jsonDoc({ deleted: r.deleted, before, dryRun: false });
  else ctx.output.note(`${r.deleted} sent/failed message(s) created before ${before} deleted`);
  return 'OK';
}

export function registerHistory(program: Command): void {
  const history = program
    .command('history')
    .description("sent and failed messages, newest first, with the server's words of the last failure")
    .option('--failed', 'only failed messages')
    .option('--since <duration>', 'only messages created in the last DURATION (e.g. 7d, 12h, 30m)')
    .option('--to <addr>', 'only messages to this recipient (To, Cc or Bcc)')
    .option('--limit <n>', 'at most N rows, 0 = all (default 50)', intOption('--limit', 0))
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail history --failed --since 7d
  $ sysemail history --to ann@example.com --json | jq '.[0].lastError'
  $ sysemail history show 42
  $ sysemail history purge --older-than 90d`,
    )
    .action(action((ctx, opts: ListFlags) => list(ctx, opts)));

  history
    .command('show')
    .description("one message with every attempt, the server's words and the diagnosis")
    .argument('<id>', 'message id')
    .action(action((ctx, id: string) => show(ctx, id)));

  history
    .command('purge')
    .description('delete sent and failed messages older than history.retentionDays (or --older-than)')
    .option('--older-than <duration>', 'age, e.g. 30d (default: history.retentionDays, 0 = 30 days)')
    .option('--dry-run', 'count and list what would be deleted, delete nothing')
    .addHelpText('after', '\nExamples:\n  $ sysemail history purge --older-than 90d --dry-run\n  $ sysemail history purge --json')
    .action(action((ctx, opts: { olderThan?: string; dryRun?: boolean }) => purge(ctx, opts)));
}
