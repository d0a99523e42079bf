import type { Command } from 'commander';
import type { LimitInput } from '../../app/governor.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { governorTable, limitText as limit } from '../governor-table.js';

async function list(ctx: CliContext): Promise<Outcome> {
  const { governorView } = await import('../../app/governor.js');
  const keys = await governorView(await ctx.store(), await ctx.settings(), Date.now());
  if (ctx.output.json) {
    ctx.output.jsonDoc({ keys });
    return 'OK';
  }
  if (keys.length === 0) {
    ctx.output.note('no sending mailbox known yet: keys appear once smtp.username or exchange.mailbox is set, or a message was sent');
    return 'OK';
  }
  await governorTable(ctx.output, keys);
  return 'OK';
}

async function set(ctx: CliContext, key: string, opts: LimitInput): Promise<Outcome> {
  const { governorView, setGovernorLimits } = await import('../../app/governor.js');
  const store = await ctx.store();
  const k = await setGovernorLimits(store, key, opts, Date.now());
  const view = (await governorView(store, await ctx.settings(), Date.now())).find(
    (v) => v.provider === k.provider && v.mailbox === k.mailbox,
  );
  if (ctx.output.json) ctx.output.jsonDoc(view ?? null);
  else if (view)
    ctx.output.note(
      `${view.key}: per minute ${limit(view.limits.perMinute, view.source.perMinute)}, concurrency ${limit(view.limits.concurrency, view.source.concurrency)}, recipients per 24 h ${limit(view.limits.perDay, view.source.perDay)}`,
    );
  return 'OK';
}

async function reset(ctx: CliContext, key: string): Promise<Outcome> {
  const { resetGovernor } = await import('../../app/governor.js');
  const r = await resetGovernor(await ctx.store(), key);
  if (ctx.output.json) ctx.output.jsonDoc(r);
  else ctx.output.note(r.changed ? `${r.key}: back to its provider's defaults, pause lifted` : `${r.key} had no limits set and no pause`);
  return 'OK';
}

export function registerGovernor(program: Command): void {
  const governor = program
    .command('governor')
    .description('the send governor: limits per sending mailbox (messages per minute, concurrent sends, recipients per 24 hours)')
    .addHelpText(
      'after',
      `
A key is PROVIDER:MAILBOX: smtp:USER for the signed-in SMTP user (the From address on a relay without
sign-in), exchange:MAILBOX for exchange.mailbox. Unset limits follow the provider: with throttling.enabled,
smtp.perMinuteLimit / exchange.perMinuteLimit per minute, and for Microsoft 365 3 SMTP connections
(4 Graph requests) at once and 10,000 recipients per 24 hours. 0 = no limit.

Examples:
  $ sysemail governor list
  $ sysemail governor set smtp:billing@example.com --per-minute 10 --concurrency 3 --per-day 10000
  $ sysemail governor set smtp:billing@example.com --per-day default
  $ sysemail governor reset smtp:billing@example.com`,
    );

  governor
    .command('list')
    .description('every known sending mailbox: its limits, their use right now, and any pause a server asked for')
    .addHelpText('after', '\nExample:\n  $ sysemail governor list --json | jq .keys')
    .action(action((ctx) => list(ctx)));

  governor
    .command('set')
    .description("sets a mailbox's limits (the others keep theirs); `default` gives one back to the provider's default")
    .argument('<key>', 'PROVIDER:MAILBOX, e.g. smtp:ops@example.com')
    .option('--per-minute <n>', 'messages per minute (0 = no limit, or default)')
    .option('--concurrency <n>', 'sends at the same time, each over its own connection (0 = no limit, or default)')
    .option('--per-day <n>', 'recipients per rolling 24 hours (0 = no limit, or default)')
    .addHelpText('after', '\nExample:\n  $ sysemail governor set smtp:ops@example.com --per-minute 30 --concurrency 3')
    .action(action((ctx, key: string, opts: LimitInput) => set(ctx, key, opts)));

  governor
    .command('reset')
    .description("forgets a mailbox's limits (back to the provider's defaults) and lifts a pause")
    .argument('<key>', 'PROVIDER:MAILBOX')
    .addHelpText('after', '\nExample:\n  $ sysemail governor reset smtp:ops@example.com')
    .action(action((ctx, key: string) => reset(ctx, key)));
}
