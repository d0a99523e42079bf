import type { Command } from 'commander';
import type { ParamRow, SecretPresence } from '../../app/params.js';
import { SysemailError } from '../../core/errors.js';
import { SECRET_KEYS, isSecretKey, type SecretName } from '../../core/params.js';
import type { Settings } from '../../core/precedence.js';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { readStdin } from '../io.js';
import { fs } from '../../core/builtins.js';

async function secretContext(ctx: CliContext, settings: Settings) {
  const store = await ctx.store();
  const { secretSettings } = await import('../../secrets/index.js');
  return { dbId: store.id, env: ctx.env, ...secretSettings(settings) };
}

async function secretPresence(ctx: CliContext, settings: Settings, keys: readonly string[]): Promise<Map<string, SecretPresence>> {
  if (keys.length === 0) return new Map();
  const { describeSecretSource } = await import('../../secrets/index.js');
  const sctx = await secretContext(ctx, settings);
  const out = new Map<string, SecretPresence>();
  // one keychain, one warning: the secrets it could not be asked about are named together
  const unasked: string[] = [];
  let problem: string | undefined;
  for (const key of keys) {
    const d = await describeSecretSource(key as SecretName, sctx);
    if (d.source !== 'none') out.set(key, { source: d.source, origin: d.detail });
    else if (d.error.code === 'KEYCHAIN_UNAVAILABLE') {
      unasked.push(key);
      problem ??= d.error.message;
    }
  }
  if (problem) await ctx.output.warn(`${problem} (not checked: ${unasked.join(', ')})`);
  return out;
}

async function rows(ctx: CliContext, keys?: readonly string[]): Promise<ParamRow[]> {
  const { paramRows } = await import('../../app/params.js');
  const settings = await ctx.settings();
  const wanted = keys ?? SECRET_KEYS;
  const secrets = await secretPresence(
    ctx,
    settings,
    wanted.filter((k) => isSecretKey(k)),
  );
  const all = paramRows(settings, secrets);
  return keys ? all.filter((r) => keys.includes(r.key)) : all;
}

function sourceLabel(r: ParamRow): string {
  if (r.source === 'env' || r.source === 'user') return `${r.source} (${r.origin ?? ''})`;
  if (r.source === 'default' && r.defaultNote) return 'default';
  return r.source;
}

async function list(ctx: CliContext): Promise<Outcome> {
  const all = await rows(ctx);
  if (ctx.output.json) {
    ctx.output.jsonDoc({ params: all });
    return 'OK';
  }
  await ctx.output.table(
    ['key', 'value', 'source', 'description'],
    all.map((r) => [r.key, r.value === null ? '' : String(r.value), sourceLabel(r), r.description]),
  );
  return 'OK';
}

export async function get(ctx: CliContext, key: string): Promise<Outcome> {
  const { requireKnownKey } = await import('../../app/params.js');
  requireKnownKey(key);
  const [row] = await rows(ctx, [key]);
  if (ctx.output.json) ctx.output.jsonDoc(row);
  else ctx.output.line(row.value === null ? '' : String(row.value));
  return 'OK';
}

async function setSecret(ctx: CliContext, key: SecretName, fromStdin: boolean): Promise<Outcome> {
  const { checkKeychain, setSecret: keepSecret } = await import('../../app/secrets.js');
  let value: string;
  if (fromStdin) {
    // the newline `echo` adds is not part of the secret
    value = (await readStdin()).replace(/\r?\n$/, '');
  } else if (ctx.output.interactive) {
    await checkKeychain(key, (await ctx.store()).id);
    const { loadPrompts } = await import('../prompts.js');
    const { password } = await loadPrompts(ctx.output);
    value = await password({ message: `${key}:`, mask: '*' });
  } else {
    throw new SysemailError('usage', 'SECRET_NEEDS_STDIN', `${key} is a secret and is read from standard input or a masked prompt`, {
      fix: `Use: printf %s "$SECRET" | sysemail params set ${key} --stdin`,
    });
  }
  const saved = await keepSecret(key, value, (await ctx.store()).id);
  if (ctx.output.json) ctx.output.jsonDoc({ key, value: '***', source: saved.source, account: saved.account });
  else ctx.output.note(`${key} saved in the OS keychain (service ${saved.service})`);
  return 'OK';
}

async function set(ctx: CliContext, pairs: string[], opts: { stdin?: boolean }): Promise<Outcome> {
  const secretKeys = pairs.filter((p, i) => i % 2 === 0 && isSecretKey(p));
  if (pairs.length === 1 && isSecretKey(pairs[0])) return setSecret(ctx, pairs[0], !!opts.stdin);
  if (opts.stdin) {
    throw new SysemailError('usage', 'STDIN_SECRET_ONLY', '--stdin reads the value of one secret key', {
      fix: `Use: printf %s "$SECRET" | sysemail params set ${secretKeys[0] ?? 'smtp.password'} --stdin`,
    });
  }
  if (pairs.length === 0 || pairs.length % 2 !== 0) {
    throw new SysemailError(
      'usage',
      'PARAMS_SET_PAIRS',
      `params set takes KEY VALUE pairs (got ${pairs.length} word${pairs.length === 1 ? '' : 's'})`,
      {
        fix: 'Example: sysemail params set smtp.host smtp.example.com smtp.port 587',
      },
    );
  }
  const { setParams } = await import('../../app/params.js');
  const store = await ctx.store();
  const assignments = [];
  for (let i = 0; i < pairs.length; i += 2) assignments.push({ key: pairs[i], raw: pairs[i + 1] });
  const changed = await setParams(store, assignments, ctx.pathBase);
  if (ctx.output.json) ctx.output.jsonDoc({ changed });
  else for (const c of changed) ctx.output.note(`${c.key} = ${String(c.value)}`);
  return 'OK';
}

async function unset(ctx: CliContext, keys: string[]): Promise<Outcome> {
  const { unsetParams, requireKnownKey } = await import('../../app/params.js');
  for (const k of keys) requireKnownKey(k);
  const store = await ctx.store();
  const removedSecrets: string[] = [];
  const secrets = keys.filter((k): k is SecretName => isSecretKey(k));
  if (secrets.length > 0) {
    const { deleteSecret } = await import('../../secrets/index.js');
    for (const k of secrets) if (await deleteSecret(k, store.id)) removedSecrets.push(k);
  }
  const removed = await unsetParams(store, keys);
  if (ctx.output.json) ctx.output.jsonDoc({ unset: [...removed.map((r) => r.key), ...removedSecrets] });
  else for (const k of [...removed.map((r) => r.key), ...removedSecrets]) ctx.output.note(`${k} unset`);
  return 'OK';
}

async function exportCmd(ctx: CliContext, opts: { file?: string }): Promise<Outcome> {
  const { exportParams } = await import('../../app/params.js');
  const doc = await exportParams(await ctx.store(), new Date());
  const text = JSON.stringify(doc, null, 2) + '\n';
  if (opts.file) {
    try {
      fs.writeFileSync(opts.file, text, { mode: 0o600 });
    } catch (err) {
      throw new SysemailError(
        'ioerr',
        'EXPORT_WRITE_FAILED',
        `cannot write ${opts.file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        {
          fix: 'Choose a writable path for --file',
          cause: err,
        },
      );
    }
    if (ctx.output.json) ctx.output.jsonDoc({ file: opts.file, count: Object.keys(doc.params).length });
    else ctx.output.note(`${Object.keys(doc.params).length} parameters written to ${opts.file}`);
  } else {
    ctx.output.line(ctx.output.json ? JSON.stringify(doc) : text.trimEnd());
  }
  return 'OK';
}

async function importCmd(ctx: CliContext, file: string, opts: { dryRun?: boolean; replace?: boolean }): Promise<Outcome> {
  const { importParams, formatParamValue } = await import('../../app/params.js');
  const { readInputFile } = await import('../io.js');
  const text = file === '-' ? await readStdin() : readInputFile(file, 'import file');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const { notJsonError } = await import('../../core/text.js');
    throw notJsonError(
      file === '-' ? 'standard input' : file,
      text,
      'Give a file made by `sysemail params export --file F`; nothing was changed',
      'IMPORT_NOT_JSON',
    );
  }
  const result = await importParams(await ctx.store(), doc, { dryRun: !!opts.dryRun, replace: !!opts.replace, file, base: ctx.pathBase });
  if (ctx.output.json) {
    ctx.output.jsonDoc({ dryRun: !!opts.dryRun, changes: result.changes });
    return 'OK';
  }
  if (result.changes.length === 0) {
    ctx.output.note('nothing to change');
    return 'OK';
  }
  const c = await ctx.output.chalk();
  for (const ch of result.changes) {
    const from = ch.from === null ? c.dim('(unset)') : formatParamValue(ch.from);
    const to = ch.to === null ? c.dim('(unset)') : formatParamValue(ch.to);
    ctx.output.line(`${ch.from === null ? c.green('+') : ch.to === null ? c.red('-') : c.yellow('~')} ${ch.key}: ${from} → ${to}`);
  }
  ctx.output.note(
    opts.dryRun
      ? `${result.changes.length} change(s) would be made (dry run: nothing changed)`
      : `${result.changes.length} change(s) applied`,
  );
  return 'OK';
}

export function registerParams(program: Command): void {
  const params = program
    .command('params')
    .description('administrator parameters: server, security, sender, limits, throttling, queue')
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail params list
  $ sysemail params set smtp.host smtp.office365.com smtp.port 587 smtp.security starttls
  $ printf %s "$PW" | sysemail params set smtp.password --stdin
  $ sysemail params export --file params.json && sysemail --db other.db params import params.json --dry-run`,
    );

  params
    .command('list')
    .description('every parameter with its effective value and where it came from')
    .addHelpText('after', '\nExample:\n  $ sysemail params list --json | jq \'.params[] | select(.source=="env")\'')
    .action(action((ctx) => list(ctx)));

  params
    .command('get')
    .description('effective value of one parameter (secrets print *** when set)')
    .argument('<key>', 'parameter key, e.g. smtp.host')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sysemail params get smtp.host\n  $ SYSEMAIL_SMTP_PORT=2525 sysemail params get smtp.port --json',
    )
    .action(action((ctx, key: string) => get(ctx, key)));

  params
    .command('set')
    .description('set one or more parameters; all are checked first, then saved together or not at all')
    .argument('<key-value...>', 'KEY VALUE [KEY VALUE ...]; a secret key alone reads its value from --stdin or a masked prompt')
    .option('--stdin', 'read the secret value from standard input')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sysemail params set smtp.host mail.example.com smtp.port 465 smtp.security tls\n  $ printf %s "$PW" | sysemail params set smtp.password --stdin',
    )
    .action(action((ctx, pairs: string[], opts: { stdin?: boolean }) => set(ctx, pairs, opts)));

  params
    .command('unset')
    .description('remove stored values (back to the default); a secret key removes its keychain entry')
    .argument('<key...>', 'parameter keys')
    .addHelpText('after', '\nExample:\n  $ sysemail params unset smtp.username smtp.password')
    .action(action((ctx, keys: string[]) => unset(ctx, keys)));

  params
    .command('export')
    .description('write the stored parameters as JSON (never a secret)')
    .option('--file <file>', 'write to this file (mode 0600) instead of standard output')
    .addHelpText('after', '\nExample:\n  $ sysemail params export --file params.json')
    .action(action((ctx, opts: { file?: string }) => exportCmd(ctx, opts)));

  params
    .command('import')
    .description('apply an export: everything is validated first, then applied in one transaction')
    .argument('<file>', 'a file written by params export, or - for standard input')
    .option('--dry-run', 'show what would change, change nothing')
    .option('--replace', 'also unset stored parameters the file does not name')
    .addHelpText('after', '\nExample:\n  $ sysemail params import params.json --dry-run')
    .action(action((ctx, file: string, opts: { dryRun?: boolean; replace?: boolean }) => importCmd(ctx, file, opts)));
}
