import type { Command } from 'commander';
import {
  DEFAULT_PROVIDER,
  PROVIDER_CHOICES,
  PROVIDER_NAMES,
  PROMPT_PROVIDER,
  chooseProvider,
  isProviderChoice,
  queuedProvider,
  type ProviderName,
} from '../../core/providers.js';
import { SysemailError } from '../../core/errors.js';
import { action, collect } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { quoted } from '../../core/text.js';
import { verboseProviders } from '../transcript.js';

interface SendFlags {
  to?: string[];
  cc?: string[];
  bcc?: string[];
  from?: string;
  replyTo?: string;
  unsubscribeUrl?: string;
  unsubscribeMailto?: string;
  subject?: string;
  body?: string;
  bodyFile?: string;
  htmlFile?: string;
  attach?: string[];
  provider?: string;
  queue?: boolean;
  template?: string;
  data?: string;
  org?: string;
  user?: string;
  idempotencyKey?: string;
  at?: string;
  in?: string;
  expires?: string;
  priority?: string;
}

interface Draft {
  from?: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject?: string;
  text?: string;
  html?: string;
  attachments: string[];
}

/** Which questions the compose form asks besides To, Cc, Bcc, Subject and Attachments. */
interface ComposeAsks {
  /** Nothing else supplies a sender (no --from, --user, template, user config `from` or sender.default). */
  from: boolean;
  /** No body yet, or one from --body (shown with \n for its line breaks, to keep or change). */
  body: boolean;
}

/**
 * On a TTY with something missing: the compose form, each field pre-filled from the flags (Enter keeps
 * it, Tab edits it, Backspace clears it). Every answer is checked as it is given, so a typo is corrected
 * there instead of throwing away the whole form with an error after the last question.
 */
async function compose(ctx: CliContext, draft: Draft, asks: ComposeAsks): Promise<Draft> {
  const { loadPrompts } = await import('../prompts.js');
  const { input } = await loadPrompts(ctx.output);
  const { parseMailbox, splitAddressList } = await import('../../core/message.js');
  const { measureAttachments } = await import('../../app/send.js');
  const list = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const ask = (message: string, prefill: string, validate?: (value: string) => string | true) =>
    input({ message, default: prefill, ...(validate ? { validate } : {}) });
  const addresses = (value: string): string | true => {
    const bad = splitAddressList(value).find((a) => !parseMailbox(a));
    return bad === undefined ? true : `${quoted(bad)} is not a valid email address: write user@example.com or Name <user@example.com>`;
  };
  const mailbox = (value: string): string | true =>
    value.trim() === ''
      ? 'A sender address is needed'
      : parseMailbox(value)
        ? true
        : `${quoted(value.trim())} is not a valid email address: write user@example.com or Name <user@example.com>`;
  // with --cc or --bcc given, To may stay empty (undisclosed recipients)
  const hasOtherRecipients = draft.cc.length + draft.bcc.length > 0;

  const from = asks.from ? (await ask('From:', draft.from ?? '', mailbox)).trim() : draft.from;
  const to = await ask('To:', draft.to.join(', '), (v) =>
    v.trim() === '' && !hasOtherRecipients ? 'At least one recipient is needed' : addresses(v),
  );
  const cc = await ask('Cc:', draft.cc.join(', '), addresses);
  const bcc = await ask('Bcc:', draft.bcc.join(', '), addresses);
  const subject = await ask('Subject:', draft.subject ?? '');
  let text = draft.text;
  if (asks.body) text = await askBody(ctx, draft.text);
  const attachments = await ask('Attachments (paths, comma separated):', draft.attachments.join(', '), (v) => {
    try {
      measureAttachments(list(v));
      return true;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  });
  return {
    ...draft,
    ...(from !== undefined ? { from } : {}),
    to: to.trim() ? [to] : [],
    cc: cc.trim() ? [cc] : [],
    bcc: bcc.trim() ? [bcc] : [],
    subject,
    ...(text !== undefined ? { text } : {}),
    attachments: list(attachments),
  };
}

/**
 * The body, as text and exactly as typed (a backslash is a backslash): in the operator's editor
 * ($VISUAL, else $EDITOR) when one is set, otherwise line by line up to a line holding only ".", as
 * mail(1) ends a message.
 */
async function askBody(ctx: CliContext, prefill: string | undefined): Promise<string> {
  const { loadPrompts } = await import('../prompts.js');
  const { editor, input } = await loadPrompts(ctx.output);
  if (ctx.env.VISUAL || ctx.env.EDITOR) {
    return editor({ message: 'Body:', default: prefill ?? '', postfix: '.txt' });
  }
  const single = prefill !== undefined && !prefill.includes('\n');
  const keeps = prefill === undefined ? '' : single ? '; Enter keeps' : `; Enter keeps the ${prefill.split('\n').length}-line body given`;
  const first = await input({ message: `Body (a line with only "." ends it${keeps}):`, ...(single ? { default: prefill } : {}) });
  if (prefill !== undefined && (first === prefill || first === '')) return prefill;
  if (first === '.') return '';
  const lines = [first];
  // bounded like any input: a body this long belongs in --body-file
  for (let n = 2; n <= 10_000; n++) {
    const line = await input({ message: `Body, line ${n}:` });
    if (line === '.') break;
    lines.push(line);
  }
  return lines.join('\n');
}

/** "How would you like to send email?" with the option to remember the answer in the user config. */
async function askProvider(ctx: CliContext): Promise<ProviderName> {
  const { loadPrompts } = await import('../prompts.js');
  const { select, confirm } = await loadPrompts(ctx.output);
  const choice = await select<ProviderName>({
    message: 'How would you like to send email?',
    choices: [
      { name: 'Use an email app, such as Outlook (writes an .eml file to open and send)', value: 'eml' },
      { name: 'Use Exchange Online (Microsoft Graph)', value: 'exchange' },
      { name: 'Use the SMTP server (smtp.host)', value: 'smtp' },
    ],
  });
  if (await confirm({ message: 'Remember my choice (do not ask again)?', default: false })) {
    const { rememberProvider } = await import('../../config/remember.js');
    const saved = rememberProvider(ctx.userConfig.file, ctx.env.HOME || (await import('node:os')).homedir(), choice);
    ctx.output.note(`saved "provider": "${choice}" in ${saved.file} (change it there, or set it to "prompt" to be asked again)`);
  }
  return choice;
}

async function run(ctx: CliContext, flags: SendFlags): Promise<Outcome> {
  if (flags.provider !== undefined && !isProviderChoice(flags.provider)) {
    throw new SysemailError(
      'usage',
      'PROVIDER_INVALID',
      `--provider must be one of ${PROVIDER_CHOICES.join(', ')} (got ${quoted(flags.provider)})`,
      { fix: 'Example: --provider smtp' },
    );
  }
  if (flags.body !== undefined && flags.bodyFile !== undefined) {
    throw new SysemailError('usage', 'BODY_TWICE', '--body and --body-file both give the text body', {
      fix: 'Use one of them (--html-file may go with either)',
    });
  }
  if (flags.data !== undefined && flags.template === undefined) {
    throw new SysemailError(
      'usage',
      'DATA_WITHOUT_TEMPLATE',
      '--data gives placeholder values for a template, but no --template was given',
      { fix: 'Add --template ID' },
    );
  }
  const { deliveryFlags } = await import('../delivery-flags.js');
  const delivery = deliveryFlags(flags);
  // a due time means the distributor sends it: --at/--in queue the message
  const queue = !!flags.queue || delivery.when?.at !== undefined || delivery.when?.in !== undefined;
  const { readInputFile, readStdin, readTemplateData } = await import('../io.js');
  let text = flags.body;
  if (flags.bodyFile !== undefined) text = flags.bodyFile === '-' ? await readStdin() : readInputFile(flags.bodyFile, 'body file');
  const html = flags.htmlFile !== undefined ? readInputFile(flags.htmlFile, 'HTML file') : undefined;
  let templateData: Record<string, unknown> | undefined;
  if (flags.template !== undefined) templateData = await readTemplateData(flags.data);

  let draft: Draft = {
    from: flags.from,
    to: flags.to ?? [],
    cc: flags.cc ?? [],
    bcc: flags.bcc ?? [],
    subject: flags.subject,
    text,
    html,
    attachments: flags.attach ?? [],
  };
  const noRecipient = draft.to.length + draft.cc.length + draft.bcc.length === 0;
  const noBody = text === undefined && html === undefined && flags.template === undefined;
  const noSubject = flags.subject === undefined && flags.template === undefined;
  const composing = (noRecipient || noBody || noSubject) && ctx.output.interactive;
  if (noRecipient && !composing) {
    throw new SysemailError('usage', 'NO_RECIPIENT', 'no recipient was given', { fix: 'Give --to ADDR (repeatable, comma lists allowed)' });
  }

  const store = await ctx.store();
  const settings = await ctx.settings();
  const { providerOfUser, sendMessage } = await import('../../app/send.js');
  // an unknown --user is refused before the compose form asks anything
  const ofUser = flags.user !== undefined ? await providerOfUser(store, flags.user) : null;
  if (composing) {
    const senderKnown =
      flags.from !== undefined || flags.user !== undefined || flags.template !== undefined || !!settings.string('sender.default');
    const bodyFromFlag = flags.body !== undefined && flags.htmlFile === undefined;
    draft = await compose(ctx, draft, { from: !senderKnown, body: noBody || bodyFromFlag });
  }
  // --provider > the --user's own provider > user config "provider" > interactive.provider
  const flag = isProviderChoice(flags.provider) ? flags.provider : undefined;
  let provider: ProviderName | null;
  if (queue) {
    provider = queuedProvider({ flag, user: ofUser });
  } else {
    const wanted = chooseProvider({ flag, user: ofUser, interactive: 'ask', settings });
    if (wanted !== PROMPT_PROVIDER) provider = wanted;
    else if (ctx.output.interactive) provider = await askProvider(ctx);
    else {
      // guessing would be worse than stopping: an .eml nobody opens is a message reported sent and never delivered
      throw new SysemailError(
        'config',
        'PROVIDER_NOT_CHOSEN',
        'no provider chosen: interactive.provider is prompt and there is no terminal to ask how to send',
        {
          fix: `Give --provider ${PROVIDER_NAMES.join('|')}, set "provider" in your .emailrc.json, or \`sysemail params set interactive.provider ${DEFAULT_PROVIDER}\``,
        },
      );
    }
  }

  if (ctx.output.isTTY && !queue && provider !== 'eml') ctx.output.note(`sending via ${provider}…`);
  const outcome = await sendMessage(
    {
      to: draft.to,
      cc: draft.cc,
      bcc: draft.bcc,
      ...(draft.from !== undefined ? { from: draft.from } : {}),
      ...(flags.replyTo !== undefined ? { replyTo: flags.replyTo } : {}),
      ...(flags.unsubscribeUrl !== undefined ? { unsubscribeUrl: flags.unsubscribeUrl } : {}),
      ...(flags.unsubscribeMailto !== undefined ? { unsubscribeMailto: flags.unsubscribeMailto } : {}),
      ...(draft.subject !== undefined ? { subject: draft.subject } : {}),
      ...(draft.text !== undefined ? { text: draft.text } : {}),
      ...(draft.html !== undefined ? { html: draft.html } : {}),
      attachments: draft.attachments,
      ...(flags.user !== undefined ? { userId: flags.user } : {}),
      ...(flags.template !== undefined ? { templateId: flags.template, templateData } : {}),
      ...(flags.org !== undefined ? { org: flags.org } : {}),
      provider,
      queue,
      delivery,
    },
    { store, settings, secrets: { dbId: store.id, env: ctx.env }, ...verboseProviders(ctx) },
  );
  for (const w of outcome.warnings) await ctx.output.warn(w);
  if (ctx.output.json) {
    ctx.output.jsonDoc({
      id: outcome.id,
      status: outcome.status,
      provider: outcome.provider,
      messageId: outcome.messageId ?? null,
      file: outcome.file ?? null,
      ...(outcome.response ? { response: outcome.response } : {}),
      ...(outcome.warnings.length ? { warnings: outcome.warnings } : {}),
      duplicate: outcome.duplicate,
      ...(outcome.status === 'queued' ? queuedFields(outcome) : {}),
    });
    return 'OK';
  }
  if (outcome.duplicate) {
    ctx.output.note(`already queued as message ${outcome.id} with this idempotency key; nothing new was queued`);
    ctx.output.line(String(outcome.id));
  } else if (outcome.status === 'queued') {
    const due = outcome.dueAt !== undefined ? ` at ${new Date(outcome.dueAt).toISOString()}` : '';
    ctx.output.note(
      `queued as message ${outcome.id}; \`sysemail queue run\` sends it${due} through ${outcome.provider ?? 'batch.provider'}`,
    );
    ctx.output.line(String(outcome.id));
  } else if (outcome.file) {
    ctx.output.note(`message ${outcome.id} written for your email app; open the file to review and send it:`);
    ctx.output.line(outcome.file);
  } else {
    ctx.output.note(`message ${outcome.id} sent via ${outcome.provider}${outcome.response ? `: ${outcome.response}` : ''}`);
    ctx.output.line(outcome.messageId ?? String(outcome.id));
  }
  return 'OK';
}

/** The due time, expiry and priority of a queued message, as --json shows them. */
function queuedFields(o: { dueAt?: number; expiresAt?: number; priority?: string }) {
  return {
    dueAt: o.dueAt !== undefined ? new Date(o.dueAt).toISOString() : null,
    expiresAt: o.expiresAt !== undefined ? new Date(o.expiresAt).toISOString() : null,
    priority: o.priority ?? 'normal',
  };
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .description('send an email now (SMTP, Exchange Online or an .eml file for your email app), or queue it for the distributor')
    .option('--to <addr>', 'recipient (repeatable; comma lists and "Name <addr>" allowed)', collect)
    .option('--cc <addr>', 'copy recipient (repeatable)', collect)
    .option('--bcc <addr>', 'blind copy recipient (repeatable)', collect)
    .option('--from <addr>', 'sender (default: --user\'s sender, user config "from", then sender.default)')
    .option('--reply-to <addr>', 'Reply-To address')
    .option(
      '--unsubscribe-url <url>',
      'one-click unsubscribe (RFC 8058): an https URL that accepts a POST; adds List-Unsubscribe and List-Unsubscribe-Post',
    )
    .option('--unsubscribe-mailto <addr>', 'unsubscribe by mail: an address or mailto: URI in List-Unsubscribe')
    .option('--subject <text>', 'subject')
    .option('--body <text>', 'plain-text body')
    .option('--body-file <file>', 'plain-text body from a file (- = standard input)')
    .option('--html-file <file>', 'HTML body from a file (may go with --body or --body-file as the text alternative)')
    .option('--attach <file>', 'attachment (repeatable)', collect)
    .option(
      '--provider <provider>',
      `${PROVIDER_NAMES.join(', ')} or ${PROMPT_PROVIDER} (default: the --user's provider, user config "provider", then interactive.provider; without a terminal prompt is an error)`,
    )
    .option('--queue', 'store for the distributor batch (`sysemail queue run`) instead of sending now')
    .option('--template <id>', 'render this template for the subject and body')
    .option('--data <file>', 'JSON object of placeholder values for --template (- = standard input)')
    .option('--org <org>', 'organisation whose template wins over the system one')
    .option('--user <id>', 'send as this user (their sender address; see `sysemail users list`)')
    .option(
      '--idempotency-key <key>',
      'queue it once: a second message with this key is not queued again (queue.idempotencyRetentionHours)',
    )
    .option('--at <time>', 'not sent before this ISO 8601 time, e.g. 2026-12-24T08:00+01:00 (queues the message)')
    .option('--in <duration>', 'not sent before this long from now, e.g. 30m, 2h, 1d (queues the message)')
    .option('--expires <time|duration>', 'fails as expired instead of going out late after this time, or this long after it is due')
    .option(
      '--priority <priority>',
      "high, normal or low: the distributor sends higher priorities first (default: the template's, else normal)",
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail send --to ann@example.com --subject "Invoice 42" --body-file invoice.txt --attach invoice.pdf --provider smtp
  $ sysemail send --to "Ann Lee <ann@example.com>, bob@example.com" --subject Hello --body Hi --provider eml
  $ sysemail send --to ops@example.com --subject "Nightly report" --body-file report.txt --queue
  $ sysemail send --to ann@example.com --template welcome --data ann.json --json
  $ sysemail send --to ann@example.com --subject "Your invoice" --body-file inv.txt --queue --idempotency-key invoice-42
  $ sysemail send --to team@example.com --subject Standup --body "In 10 minutes" --at 2026-12-24T08:00+01:00 --expires 30m

With --json it prints {"id","status","provider","messageId","file","duplicate"} (queued messages also
"dueAt", "expiresAt", "priority"). Exit codes: 65 bad address or
header, 66 unreadable attachment, 69 refused for good, 75 try later, 77 sign-in or Send As refused,
78 configuration.`,
    )
    .action(action((ctx, flags: SendFlags) => run(ctx, flags)));
}
