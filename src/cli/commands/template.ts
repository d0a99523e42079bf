import type { Command } from 'commander';
import type { TemplateCheck } from '../../app/templates.js';
import { SysemailError } from '../../core/errors.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';

interface AddOptions {
  subject: string;
  bodyFile?: string;
  htmlFile?: string;
  textFile?: string;
  sender?: string;
  org?: string;
  description?: string;
  bulk?: string;
  unsubscribeUrl?: string;
  unsubscribeMailto?: string;
  priority?: string;
  replace?: boolean;
}

function yesNo(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(yes|true|1)$/i.test(value)) return true;
  if (/^(no|false|0)$/i.test(value)) return false;
  throw new SysemailError('usage', 'USAGE', `--bulk takes yes or no (got ${value})`, { fix: 'Example: --bulk yes' });
}

function scope(t: { org: string | null }): string {
  return t.org === null ? 'system' : `org ${t.org}`;
}

async function add(ctx: CliContext, id: string, opts: AddOptions): Promise<Outcome> {
  if (opts.bodyFile !== undefined && opts.textFile !== undefined) {
    throw new SysemailError('usage', 'TEMPLATE_TWO_TEXT_BODIES', '--body-file and --text-file both give the plain-text body', {
      fix: 'Use --body-file F alone, or --html-file F with --text-file F',
    });
  }
  if (opts.bodyFile !== undefined && opts.htmlFile !== undefined) {
    throw new SysemailError('usage', 'TEMPLATE_BODY_AND_HTML', '--body-file and --html-file cannot be combined', {
      fix: 'For an HTML template with a plain-text part, use --html-file F --text-file F',
    });
  }
  const { readInputFile } = await import('../io.js');
  const textFile = opts.bodyFile ?? opts.textFile;
  const text = textFile === undefined ? undefined : readInputFile(textFile, 'body file');
  const html = opts.htmlFile === undefined ? undefined : readInputFile(opts.htmlFile, 'HTML body file');
  const { addTemplate } = await import('../../app/templates.js');
  const { template, replaced } = await addTemplate(
    await ctx.store(),
    {
      id,
      org: opts.org,
      subject: opts.subject,
      text,
      html,
      sender: opts.sender,
      description: opts.description,
      bulk: yesNo(opts.bulk),
      unsubscribeUrl: opts.unsubscribeUrl,
      unsubscribeMailto: opts.unsubscribeMailto,
      priority: opts.priority,
      replace: opts.replace,
    },
    Date.now(),
  );
  if (ctx.output.json) ctx.output.jsonDoc({ ...template, replaced });
  else ctx.output.note(`${replaced ? 'replaced' : 'added'} ${scope(template)} template ${template.id}`);
  return 'OK';
}

type SetOptions = Omit<Partial<AddOptions>, 'replace'>;

async function set(ctx: CliContext, id: string, opts: SetOptions): Promise<Outcome> {
  if (opts.bodyFile !== undefined && opts.textFile !== undefined) {
    throw new SysemailError('usage', 'TEMPLATE_TWO_TEXT_BODIES', '--body-file and --text-file both give the plain-text body', {
      fix: 'Give one of them',
    });
  }
  const { readInputFile } = await import('../io.js');
  const textFile = opts.bodyFile ?? opts.textFile;
  // '' clears a body, as it clears the sender and the description
  const read = (file: string | undefined, what: string) => (file === undefined || file === '' ? file : readInputFile(file, what));
  const { setTemplate } = await import('../../app/templates.js');
  const template = await setTemplate(
    await ctx.store(),
    id,
    opts.org,
    {
      subject: opts.subject,
      text: read(textFile, 'body file'),
      html: read(opts.htmlFile, 'HTML body file'),
      sender: opts.sender,
      description: opts.description,
      bulk: yesNo(opts.bulk),
      unsubscribeUrl: opts.unsubscribeUrl,
      unsubscribeMailto: opts.unsubscribeMailto,
      priority: opts.priority,
    },
    Date.now(),
  );
  if (ctx.output.json) ctx.output.jsonDoc(template);
  else ctx.output.note(`updated ${scope(template)} template ${template.id}`);
  return 'OK';
}

async function list(ctx: CliContext, opts: { org?: string }): Promise<Outcome> {
  const { listTemplates } = await import('../../app/templates.js');
  const rows = await listTemplates(await ctx.store(), opts.org);
  if (ctx.output.json) {
    ctx.output.jsonDoc({ templates: rows.map(({ text: _t, html: _h, ...rest }) => rest) });
    return 'OK';
  }
  if (rows.length === 0) {
    ctx.output.note('no templates yet; add one with `sysemail template add ID --subject S --body-file F --sender ADDR`');
    return 'OK';
  }
  await ctx.output.table(
    ['id', 'scope', 'subject', 'sender', 'description'],
    rows.map((t) => [t.id, scope(t), t.subject, t.sender ?? '', t.description ?? '']),
  );
  return 'OK';
}

async function show(ctx: CliContext, id: string, opts: { org?: string }): Promise<Outcome> {
  const { showTemplate } = await import('../../app/templates.js');
  const t = await showTemplate(await ctx.store(), id, opts.org);
  if (ctx.output.json) {
    ctx.output.jsonDoc(t);
    return 'OK';
  }
  const c = await ctx.output.chalk();
  const field = (name: string, value: string | null) => ctx.output.line(`${c.bold(name.padEnd(13))}${value ?? c.dim('(none)')}`);
  field('id', t.id);
  field('scope', opts.org && t.org === null ? `system (organisation ${opts.org} has no own template ${t.id})` : scope(t));
  field('sender', t.sender);
  field('subject', t.subject);
  field('description', t.description);
  field('bulk', t.bulk ? 'yes' : 'no');
  field('unsubscribe', [t.unsubscribeUrl, t.unsubscribeMailto].filter(Boolean).join(', ') || null);
  field('priority', t.priority ?? 'normal');
  field('placeholders', t.placeholders.length ? t.placeholders.map((n) => `%${n}%`).join(' ') : '');
  field('updated', t.updatedAt);
  for (const [name, body] of [
    ['text body', t.text],
    ['HTML body', t.html],
  ] as const) {
    if (body === null) continue;
    ctx.output.line();
    ctx.output.line(c.bold(`${name}:`));
    ctx.output.line(body.trimEnd());
  }
  return 'OK';
}

async function remove(ctx: CliContext, id: string, opts: { org?: string }): Promise<Outcome> {
  const { removeTemplate } = await import('../../app/templates.js');
  const removed = await removeTemplate(await ctx.store(), id, opts.org);
  if (ctx.output.json) ctx.output.jsonDoc({ removed });
  else ctx.output.note(`removed ${scope(removed)} template ${id}`);
  return 'OK';
}

async function verify(ctx: CliContext, id: string | undefined): Promise<Outcome> {
  const { verifyTemplates } = await import('../../app/templates.js');
  const result = await verifyTemplates(await ctx.store(), id);
  if (ctx.output.json) {
    ctx.output.jsonDoc(result);
    return result.ok ? 'OK' : 'CHECK_FAILED';
  }
  if (result.templates.length === 0) {
    ctx.output.note('no templates to verify');
    return 'OK';
  }
  const c = await ctx.output.chalk();
  const label = (t: TemplateCheck) => `${t.id} (${scope(t)})`;
  for (const t of result.templates) {
    if (t.ok) {
      ctx.output.line(`${c.green('ok')}    ${label(t)}`);
      continue;
    }
    for (const p of t.problems) {
      const part = p.part && p.part !== 'sender' ? `${p.part}: ` : '';
      ctx.output.line(`${c.red('FAIL')}  ${label(t)}: ${part}${p.message}. Fix: ${p.fix}`);
    }
  }
  return result.ok ? 'OK' : 'CHECK_FAILED';
}

export function registerTemplate(program: Command): void {
  const template = program
    .command('template')
    .description('email templates with %name% placeholders: system-wide, or per organisation (which wins)')
    .addHelpText(
      'after',
      `
Placeholders are written %name% (dotted names reach nested data: %approver.name%); %% is a literal
percent sign. An organisation's template wins over the system template of the same id.

Examples:
  $ sysemail template add approval-waiting --subject "Approval waiting: %document%" \\
      --html-file approval.html --text-file approval.txt --sender workflow@example.com
  $ sysemail template add approval-waiting --org usmf --subject "[USMF] %document% awaits you" \\
      --body-file approval-usmf.txt --sender workflow-usmf@example.com
  $ sysemail template list --org usmf
  $ sysemail template verify`,
    );

  template
    .command('add')
    .description('add a template (system-wide, or for one organisation with --org)')
    .argument('<id>', 'template id, e.g. approval-waiting')
    .requiredOption('--subject <subject>', 'subject line; may hold placeholders')
    .option('--body-file <file>', 'plain-text body')
    .option('--html-file <file>', 'HTML body (values are HTML-escaped when rendered)')
    .option('--text-file <file>', 'plain-text alternative to go with --html-file')
    .option('--sender <addr>', 'From address of emails made from this template (else sender.default)')
    .option('--org <org>', 'organisation the template belongs to (default: system template)')
    .option('--description <text>', 'what the template is for')
    .option('--bulk <yes|no>', 'bulk mail (newsletters, campaigns): template verify then requires one-click unsubscribe')
    .option(
      '--unsubscribe-url <url>',
      'one-click unsubscribe URL (https, accepts a POST); placeholders allowed, e.g. https://example.com/u?t=%token%',
    )
    .option('--unsubscribe-mailto <addr>', 'unsubscribe mail address (or mailto: URI) for List-Unsubscribe; placeholders allowed')
    .option('--priority <priority>', 'high, normal or low: priority of the messages made from it unless send/notify give one')
    .option('--replace', 'overwrite an existing template of the same id and scope')
    .addHelpText(
      'after',
      '\nExample:\n  $ sysemail template add statement-ready --subject "Your statement for %month% is ready" \\\n      --body-file statement.txt --sender billing@example.com --description "monthly statement"',
    )
    .action(action((ctx, id: string, opts: AddOptions) => add(ctx, id, opts)));

  template
    .command('set')
    .description('change the given fields of an existing template of one scope')
    .argument('<id>', 'template id')
    .option('--subject <subject>', 'subject line')
    .option('--body-file <file>', "plain-text body ('' removes it)")
    .option('--html-file <file>', "HTML body ('' removes it)")
    .option('--text-file <file>', 'same as --body-file')
    .option('--sender <addr>', "From address ('' clears it: sender.default is used)")
    .option('--org <org>', 'organisation the template belongs to (default: system template)')
    .option('--description <text>', 'what the template is for')
    .option('--bulk <yes|no>', 'bulk mail: template verify then requires one-click unsubscribe')
    .option('--unsubscribe-url <url>', "one-click unsubscribe URL (https); '' removes it")
    .option('--unsubscribe-mailto <addr>', "unsubscribe mail address; '' removes it")
    .option('--priority <priority>', "high, normal or low ('' clears it: normal)")
    .addHelpText(
      'after',
      '\nExamples:\n  $ sysemail template set approval-waiting --sender workflow@example.com\n  $ sysemail template set approval-waiting --org usmf --html-file approval-usmf.html',
    )
    .action(action((ctx, id: string, opts: SetOptions) => set(ctx, id, opts)));

  template
    .command('list')
    .description('the templates; with --org, the ones that organisation uses (its own and the system ones)')
    .option('--org <org>', 'organisation')
    .addHelpText('after', "\nExample:\n  $ sysemail template list --org usmf --json | jq -r '.templates[].id'")
    .action(action((ctx, opts: { org?: string }) => list(ctx, opts)));

  template
    .command('show')
    .description('one template with its placeholders; with --org, the one that organisation uses')
    .argument('<id>', 'template id')
    .option('--org <org>', 'organisation')
    .addHelpText('after', '\nExample:\n  $ sysemail template show approval-waiting --org usmf')
    .action(action((ctx, id: string, opts: { org?: string }) => show(ctx, id, opts)));

  template
    .command('remove')
    .description('remove a template of one scope (system-wide, or --org)')
    .argument('<id>', 'template id')
    .option('--org <org>', 'organisation')
    .addHelpText('after', '\nExample:\n  $ sysemail template remove approval-waiting --org usmf')
    .action(action((ctx, id: string, opts: { org?: string }) => remove(ctx, id, opts)));

  template
    .command('verify')
    .description('check that each template has a valid sender and parses; exit 1 naming any problem')
    .argument('[id]', 'template id (default: every template)')
    .addHelpText('after', '\nExamples:\n  $ sysemail template verify\n  $ sysemail template verify approval-waiting --json')
    .action(action((ctx, id: string | undefined) => verify(ctx, id)));
}
