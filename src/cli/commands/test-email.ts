import type { Command } from 'commander';
import { Option } from 'commander';
import { PROVIDER_LIST, PROVIDER_NAMES, chooseProvider, type ProviderName } from '../../core/providers.js';
import type { PhaseResult } from '../../providers/types.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { verboseProviders } from '../transcript.js';

interface TestFlags {
  to?: string;
  from?: string;
  user?: string;
  provider?: ProviderName;
  quitAfter?: 'connect' | 'tls' | 'ehlo' | 'auth' | 'mail' | 'rcpt';
  dnsServer?: string;
}

async function run(ctx: CliContext, flags: TestFlags): Promise<Outcome> {
  const store = await ctx.store();
  const settings = await ctx.settings();
  const provider = chooseProvider({ flag: flags.provider, interactive: 'no-prompt', settings });
  const c = await ctx.output.chalk();
  const width = 8;
  const print = (p: PhaseResult) => {
    if (ctx.output.json) return;
    const mark = p.ok ? c.green('✔') : c.red('✖');
    const detail = p.detail.replace(/\r?\n/g, ' | ');
    ctx.output.line(`${mark} ${p.phase.padEnd(width)} ${c.dim(`${String(p.ms).padStart(5)} ms`)}  ${detail}`);
  };
  if (!ctx.output.json)
    ctx.output.note(`testing ${provider}${flags.quitAfter ? ` up to ${flags.quitAfter}` : ' with a real test message'}…`);
  const { testEmail } = await import('../../app/test-email.js');
  const result = await testEmail(
    {
      provider,
      ...(flags.to ? { to: flags.to } : {}),
      ...(flags.from ? { from: flags.from } : {}),
      ...(flags.user ? { userId: flags.user } : {}),
      ...(flags.quitAfter ? { quitAfter: flags.quitAfter } : {}),
      ...(flags.dnsServer ? { dnsServer: flags.dnsServer } : {}),
      onPhase: print,
    },
    { store, settings, secrets: { dbId: store.id, env: ctx.env }, ...verboseProviders(ctx) },
  );
  if (ctx.output.json) {
    ctx.output.jsonDoc({ ok: result.ok, provider: result.provider, phases: result.phases, diagnosis: result.diagnosis, dkim: result.dkim });
  } else {
    const mark = result.dkim.ok ? c.green('✔') : result.dkim.signed ? c.red('✖') : c.yellow('!');
    ctx.output.line(`${mark} ${'dkim'.padEnd(width)}            ${result.dkim.detail}`);
  }
  if (ctx.output.json) {
    // printed above
  } else if (!result.ok) {
    for (const d of result.diagnosis.slice(0, 2)) ctx.output.note(`${c.yellow('likely cause:')} ${d.title} (${d.id}). ${d.fix}`);
  } else {
    ctx.output.note(flags.quitAfter ? `ok: every step up to ${flags.quitAfter} passed` : 'ok: the test message was accepted');
  }
  if (result.ok) return 'OK';
  // the step that failed ends the command as its error would: main reports it (exit code by its kind)
  if (result.error) throw result.error;
  return 'SOFTWARE';
}

export function registerTestEmail(program: Command): void {
  program
    .command('test-email')
    .description("test the sending setup with a real transaction, step by step, each with its time and the server's words")
    .option('--to <addr>', 'recipient of the test message (not needed with --quit-after connect|tls|ehlo|auth|mail)')
    .option('--from <addr>', 'sender (default as for send)')
    .option('--user <id>', "use this user's sender address")
    .addOption(
      new Option('--provider <provider>', `${PROVIDER_LIST} (default: interactive.provider, else batch.provider)`).choices(PROVIDER_NAMES),
    )
    .addOption(
      new Option('--quit-after <phase>', 'stop after this step; auth = connection and sign-in test that sends nothing').choices([
        'connect',
        'tls',
        'ehlo',
        'auth',
        'mail',
        'rcpt',
      ]),
    )
    .option('--dns-server <host[:port]>', 'DNS server for the DKIM check of the test message (default: the system resolver)')
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail test-email --quit-after auth
  $ sysemail test-email --to me@example.com
  $ sysemail test-email --provider exchange --to me@example.com --json

A failed step ends with its exit code: 75 try later, 77 sign-in refused, 78 configuration, 69 refused.`,
    )
    .action(action((ctx, flags: TestFlags) => run(ctx, flags)));
}
