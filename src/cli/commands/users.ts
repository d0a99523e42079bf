import type { Command } from 'commander';
import type { UserInput, UserView } from '../../app/users.js';
import { PROVIDER_LIST } from '../../core/providers.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';

async function showOne(ctx: CliContext, u: UserView): Promise<void> {
  const c = await ctx.output.chalk();
  const field = (name: string, value: string | null) => ctx.output.line(`${c.bold(name.padEnd(13))}${value ?? c.dim('(none)')}`);
  field('id', u.id);
  field('name', u.name);
  field('email', u.email);
  field('sender email', u.senderEmail);
  field('sends as', u.sendsAs);
  field('provider', u.provider);
  field('notify email', u.notifyEmail ? 'yes' : 'no');
  field('updated', u.updatedAt);
}

async function add(ctx: CliContext, id: string, opts: UserInput): Promise<Outcome> {
  const { addUser } = await import('../../app/users.js');
  const user = await addUser(await ctx.store(), id, opts, Date.now());
  if (ctx.output.json) ctx.output.jsonDoc(user);
  else ctx.output.note(`added user ${user.id} <${user.email}>${user.notifyEmail ? '' : ' (no notification email)'}`);
  return 'OK';
}

async function set(ctx: CliContext, id: string, opts: UserInput): Promise<Outcome> {
  const { setUser } = await import('../../app/users.js');
  const { user, created } = await setUser(await ctx.store(), id, opts, Date.now());
  if (ctx.output.json) ctx.output.jsonDoc({ ...user, created });
  else
    ctx.output.note(
      `${created ? 'added' : 'updated'} user ${user.id} <${user.email}>, sends as ${user.sendsAs}${user.notifyEmail ? '' : ', no notification email'}`,
    );
  return 'OK';
}

async function list(ctx: CliContext): Promise<Outcome> {
  const { listUsers } = await import('../../app/users.js');
  const users = await listUsers(await ctx.store());
  if (ctx.output.json) {
    ctx.output.jsonDoc({ users });
    return 'OK';
  }
  if (users.length === 0) {
    ctx.output.note('no users yet; add one with `sysemail users add ID --email ADDR`');
    return 'OK';
  }
  await ctx.output.table(
    ['id', 'name', 'email', 'sends as', 'provider', 'notify'],
    users.map((u) => [u.id, u.name, u.email, u.sendsAs, u.provider, u.notifyEmail ? 'yes' : 'no']),
  );
  return 'OK';
}

async function show(ctx: CliContext, id: string): Promise<Outcome> {
  const { showUser } = await import('../../app/users.js');
  const user = await showUser(await ctx.store(), id);
  if (ctx.output.json) ctx.output.jsonDoc(user);
  else await showOne(ctx, user);
  return 'OK';
}

async function remove(ctx: CliContext, id: string): Promise<Outcome> {
  const { removeUser } = await import('../../app/users.js');
  const removed = await removeUser(await ctx.store(), id);
  if (ctx.output.json) ctx.output.jsonDoc({ removed });
  else ctx.output.note(`removed user ${id}`);
  return 'OK';
}

function userOptions(cmd: Command, emailRequired: boolean): Command {
  (emailRequired
    ? cmd.requiredOption('--email <addr>', "the user's email: where notifications go and, by default, the From when they send")
    : cmd.option('--email <addr>', "the user's email")
  )
    .option('--sender-email <addr>', "From override when this user sends (needs Send As rights on the server); '' clears it")
    .option('--provider <provider>', `the user's provider: ${PROVIDER_LIST}; '' clears it`)
    .option('--notify-email <yes|no>', 'whether workflow notifications are emailed to the user (default yes)')
    .option('--name <name>', "display name; '' clears it");
  return cmd;
}

export function registerUsers(program: Command): void {
  const users = program
    .command('users')
    .description("the application's users: their email, sender override, provider and notification choice")
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail users add ada --email ada@example.com --name "Ada Lovelace"
  $ sysemail users set ada --sender-email finance@example.com
  $ sysemail users set bob --notify-email no
  $ sysemail users list --json`,
    );

  userOptions(
    users.command('add').description('add a user (refused when the id exists; see users set)').argument('<id>', 'user id, e.g. ada'),
    true,
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ sysemail users add ada --email ada@example.com --sender-email finance@example.com --provider smtp',
    )
    .action(action((ctx, id: string, opts: UserInput) => add(ctx, id, opts)));

  userOptions(
    users
      .command('set')
      .description('change the given fields of a user; creates the user when --email is given and it does not exist')
      .argument('<id>', 'user id'),
    false,
  )
    .addHelpText('after', "\nExamples:\n  $ sysemail users set ada --notify-email no\n  $ sysemail users set ada --sender-email ''")
    .action(action((ctx, id: string, opts: UserInput) => set(ctx, id, opts)));

  users
    .command('list')
    .description('every user')
    .addHelpText('after', "\nExample:\n  $ sysemail users list --json | jq -r '.users[] | select(.notifyEmail) | .email'")
    .action(action((ctx) => list(ctx)));

  users
    .command('show')
    .description('one user, with the address they send as')
    .argument('<id>', 'user id')
    .addHelpText('after', '\nExample:\n  $ sysemail users show ada')
    .action(action((ctx, id: string) => show(ctx, id)));

  users
    .command('remove')
    .description('remove a user (their history stays)')
    .argument('<id>', 'user id')
    .addHelpText('after', '\nExample:\n  $ sysemail users remove ada')
    .action(action((ctx, id: string) => remove(ctx, id)));
}
