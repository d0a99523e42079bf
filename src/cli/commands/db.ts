import path from 'node:path';
import type { Command } from 'commander';
import { fs } from '../../core/builtins.js';
import { SysemailError } from '../../core/errors.js';
import { isServerDatabase, maskedDbUrl } from '../../config/paths.js';
import type { Store } from '../../store/ports.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { progressBar } from '../progress.js';

async function copy(ctx: CliContext, opts: { to: string }): Promise<Outcome> {
  const from = ctx.dbPath;
  if (!isServerDatabase(from) && !fs.existsSync(from)) {
    throw new SysemailError('noinput', 'DB_COPY_NO_SOURCE', `there is no database at ${from} to copy`, {
      fix: 'Name the database to copy with --db PATH (or SYSEMAIL_DB)',
    });
  }
  const to = isServerDatabase(opts.to) ? opts.to : path.resolve(ctx.cwd, opts.to);
  if (to === from) {
    throw new SysemailError('usage', 'DB_COPY_SAME_DATABASE', `--to ${maskedDbUrl(to)} is the database being copied`, {
      fix: 'Give --to the URL of another, empty database',
    });
  }
  if (!isServerDatabase(to)) {
    throw new SysemailError('usage', 'DB_COPY_UNSUPPORTED', `--to ${to} is not a PostgreSQL URL: db copy fills a PostgreSQL database`, {
      fix: 'Create an empty database (createdb sysemail) and give --to postgres://USER@HOST:5432/sysemail',
    });
  }
  const [{ copyDatabase }, { openStore }] = await Promise.all([import('../../app/copy.js'), import('../../store/open.js')]);
  const source = await ctx.store();
  const settings = await ctx.settings();
  const target = (await openStore(to, { env: ctx.env })) as Store;
  const bar = progressBar('copying', { json: ctx.output.json, quiet: ctx.output.quiet });
  try {
    const r = await copyDatabase({ source, target, settings, onProgress: (done, total) => bar.update(done, total) });
    bar.done();
    if (r.inFlight > 0)
      await ctx.output.warn(
        `${r.inFlight} message(s) were being sent while copying: they are copied as sending, and a distributor on the new database sends them again once their leases run out`,
      );
    const copied = {
      params: r.rows.params,
      messages: r.rows.messages,
      templates: r.rows.templates,
      users: r.rows.users,
      attempts: r.rows.attempts,
      attachments: r.rows.message_attachments,
      runs: r.rows.distributor_runs,
      suppressions: r.rows.suppressions,
      bounces: r.rows.bounces,
    };
    if (ctx.output.json) {
      ctx.output.jsonDoc({ copied, secretsToSet: r.secretsToSet, from: r.source.location, to: r.target.location });
      return 'OK';
    }
    ctx.output.note(
      `copied ${copied.params} parameter(s), ${copied.messages} message(s) with ${copied.attempts} attempt(s) and ${copied.attachments} attachment(s), ` +
        `${copied.templates} template(s), ${copied.users} user(s) and ${copied.runs} distributor run(s) into ${r.target.location}`,
    );
    if (r.secretsToSet.length > 0) {
      ctx.output.line(`set again for the new database (its keychain entries are its own): ${r.secretsToSet.join(', ')}`);
      for (const name of r.secretsToSet) {
        const dkim = /^dkim:([^.]+)\._domainkey\.(.+)$/.exec(name);
        ctx.output.line(
          dkim
            ? `  sysemail --db '${r.target.location}' dkim add --domain ${dkim[2]} --selector ${dkim[1]} --stdin < PRIVATE-KEY.pem`
            : `  printf %s "$SECRET" | sysemail --db '${r.target.location}' params set ${name} --stdin`,
        );
      }
    }
    return 'OK';
  } finally {
    bar.done();
    await target.close();
  }
}

export function registerDb(program: Command): void {
  const db = program.command('db').description('the database itself: copy it into a new one');
  db.command('copy')
    .description('copy the whole database (parameters, queue, history, templates, users) into an empty PostgreSQL database, all or nothing')
    .requiredOption('--to <url>', 'the empty target database: postgres://USER@HOST:PORT/DBNAME (its password is never printed)')
    .addHelpText(
      'after',
      `
The target must be empty (a new database: createdb NAME); it is filled in one transaction, so a copy
that fails leaves it empty. Ids are kept. The target has its own database id: secrets kept in the
OS keychain must be set again for it (the copy names them). Stop the distributors first.

Examples:
  $ createdb -h db.example.com -U sysemail sysemail
  $ sysemail db copy --to postgres://sysemail@db.example.com:5432/sysemail
  $ sysemail db copy --to "$NEW_DB" --json | jq .secretsToSet`,
    )
    .action(action(async (ctx, opts: { to: string }) => copy(ctx, opts)));
}
