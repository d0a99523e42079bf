import type { Command } from 'commander';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';

async function list(ctx: CliContext): Promise<Outcome> {
  const { listSuppressions } = await import('../../app/suppress.js');
  const rows = await listSuppressions(await ctx.store(), Date.now());
  if (ctx.output.json) {
    ctx.output.jsonDoc(rows);
    return 'OK';
  }
  if (rows.length === 0) {
    ctx.output.note('the suppression list is empty');
    return 'OK';
  }
  await ctx.output.table(
    ['address', 'source', 'message', 'since', 'expires', 'reason'],
    rows.map((r) => [r.address, r.source, r.messageId ?? '', r.createdAt, r.expiresAt ?? 'never', r.reason]),
  );
  return 'OK';
}

async function add(ctx: CliContext, address: string, opts: { reason?: string; expires?: string }): Promise<Outcome> {
  const { addSuppression } = await import('../../app/suppress.js');
  const row = await addSuppression(await ctx.store(), { address, reason: opts.reason, expires: opts.expires }, Date.now());
  if (ctx.output.json) ctx.output.jsonDoc(row);
  else
    ctx.output.note(
      `suppressed ${row.address}${row.expiresAt ? ` until ${row.expiresAt}` : ''}: nothing is sent to it until \`sysemail suppress remove ${row.address}\``,
    );
  return 'OK';
}

async function remove(ctx: CliContext, address: string): Promise<Outcome> {
  const { removeSuppression } = await import('../../app/suppress.js');
  const r = await removeSuppression(await ctx.store(), address);
  if (ctx.output.json) ctx.output.jsonDoc(r);
  else ctx.output.note(`${r.address} is no longer suppressed`);
  return 'OK';
}

async function importList(ctx: CliContext, file: string, opts: { reason?: string; expires?: string }): Promise<Outcome> {
  const { readInputFile, readStdin } = await import('../io.js');
  const text = file === '-' ? await readStdin() : readInputFile(file, 'suppression list');
  const { importSuppressions } = await import('../../app/suppress.js');
  const r = await importSuppressions(await ctx.store(), text, { reason: opts.reason, expires: opts.expires, now: Date.now() });
  if (ctx.output.json) ctx.output.jsonDoc(r);
  else ctx.output.note(`${r.addresses} address(es) read, ${r.imported} added or renewed on the suppression list`);
  return 'OK';
}

export function registerSuppress(program: Command): void {
  const suppress = program
    .command('suppress')
    .description('the suppression list: addresses nothing is sent to (permanent refusals, hard bounces, the operator)')
    .addHelpText(
      'after',
      `
Addresses are compared with the domain in any case and the mailbox as written.

Examples:
  $ sysemail suppress list
  $ sysemail suppress add ann@example.com --reason "asked to stop"
  $ sysemail suppress add full@example.com --reason "mailbox full" --expires 7d
  $ sysemail suppress remove ann@example.com
  $ sysemail suppress import bounced.csv`,
    );

  suppress
    .command('list')
    .description('the addresses in effect (expired entries are left out)')
    .addHelpText('after', '\nExample:\n  $ sysemail suppress list --json | jq -r \'.[] | select(.source == "bounce") | .address\'')
    .action(action((ctx) => list(ctx)));

  suppress
    .command('add')
    .description('suppress an address (an entry already there is renewed)')
    .argument('<addr>', 'the address, e.g. ann@example.com')
    .option('--reason <text>', 'why (kept with the entry)')
    .option('--expires <when>', 'lift it by itself after a duration (30d, 12h) or at an ISO 8601 time')
    .addHelpText('after', '\nExample:\n  $ sysemail suppress add ann@example.com --reason "legal hold" --expires 2027-01-31T00:00Z')
    .action(action((ctx, addr: string, opts: { reason?: string; expires?: string }) => add(ctx, addr, opts)));

  suppress
    .command('remove')
    .description('lift the suppression of an address: messages to it are sent again')
    .argument('<addr>', 'the address')
    .addHelpText('after', '\nExample:\n  $ sysemail suppress remove ann@example.com')
    .action(action((ctx, addr: string) => remove(ctx, addr)));

  suppress
    .command('import')
    .description('add many addresses: one per line, or CSV address,reason (- reads standard input); all or nothing')
    .argument('<file>', 'the list, or - for standard input')
    .option('--reason <text>', 'reason for lines that give none (default: imported)')
    .option('--expires <when>', 'every imported entry lapses after a duration (30d) or at an ISO 8601 time')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sysemail suppress import unsubscribed.txt --reason "unsubscribed"\n  $ cut -d, -f1,3 export.csv | sysemail suppress import -',
    )
    .action(action((ctx, file: string, opts: { reason?: string; expires?: string }) => importList(ctx, file, opts)));
}
