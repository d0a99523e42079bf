import type { Command } from 'commander';
import type { NotificationMessage } from '../../app/notify.js';
import { PROVIDER_LIST, chooseProvider } from '../../core/providers.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';

interface NotifyOptions {
  template: string;
  user: string;
  org?: string;
  data?: string;
  now?: boolean;
  provider?: string;
}

async function run(ctx: CliContext, opts: NotifyOptions): Promise<Outcome> {
  const { readTemplateData } = await import('../io.js');
  const data = await readTemplateData(opts.data);
  const { notify } = await import('../../app/notify.js');
  const { parseProviderName } = await import('../../app/users.js');
  const provider = opts.provider === undefined ? undefined : parseProviderName(opts.provider);
  const store = await ctx.store();
  const settings = await ctx.settings();
  const deliver = opts.now
    ? async (m: NotificationMessage) => {
        const { sendMessage } = await import('../../app/send.js');
        const provider = chooseProvider({ user: m.provider, settings });
        const sent = await sendMessage(
          {
            from: m.from,
            to: m.to,
            subject: m.subject,
            text: m.text,
            html: m.html,
            userId: m.userId,
            meta: { templateId: m.templateId, org: m.org ?? undefined },
            provider,
          },
          { store, settings, secrets: { dbId: store.id, env: ctx.env } },
        );
        for (const w of sent.warnings) await ctx.output.warn(w);
        return {
          id: sent.id,
          provider,
          ...(sent.messageId ? { messageId: sent.messageId } : {}),
          ...(sent.file ? { file: sent.file } : {}),
        };
      }
    : undefined;
  const result = await notify(
    { store, settings, deliver },
    { templateId: opts.template, userId: opts.user, org: opts.org, data, now: !!opts.now, provider },
  );
  if (ctx.output.json) {
    ctx.output.jsonDoc(result);
    return 'OK';
  }
  if (result.skipped && result.suppression) {
    const { suppressedError } = await import('../../app/suppress.js');
    throw suppressedError(result.suppression);
  }
  if (result.skipped) {
    ctx.output.note(`nothing sent: ${result.reason}`);
    return 'OK';
  }
  const via = result.provider ?? 'the batch provider';
  ctx.output.note(
    result.status === 'queued'
      ? `queued message ${result.id} to ${result.to} (${result.subject}); \`sysemail queue run\` sends it through ${via}`
      : `sent message ${result.id} to ${result.to} via ${via}${result.file ? `: ${result.file}` : ''}`,
  );
  return 'OK';
}

export function registerNotify(program: Command): void {
  program
    .command('notify')
    .description("email a user from a template (the organisation's, else the system one), queued for the distributor")
    .requiredOption('--template <id>', 'template id')
    .requiredOption('--user <id>', 'user to notify (see `sysemail users list`)')
    .option('--org <org>', 'organisation: its own template wins over the system one')
    .option('--data <file>', 'JSON object of placeholder values (- = standard input)')
    .option('--now', 'send at once instead of queueing for `sysemail queue run`')
    .option('--provider <provider>', `${PROVIDER_LIST} (default: batch.provider)`)
    .addHelpText(
      'after',
      `
A user with --notify-email no gets nothing; the command says so and exits 0
(--json: {"skipped":true,"reason":"..."}). A placeholder without a value is an error (65) naming every
missing one. The From is the template's sender, else sender.default.

Examples:
  $ echo '{"document":"PO-1042","approver":{"name":"Ada"}}' > data.json
  $ sysemail notify --template approval-waiting --user ada --org usmf --data data.json
  $ jq -n --arg m "$MONTH" '{month:$m}' | sysemail notify --template statement-ready --user bob --data - --now --json`,
    )
    .action(action((ctx, opts: NotifyOptions) => run(ctx, opts)));
}
