import type { Command } from 'commander';
import type { DkimKeyInput, DkimKeyView, KeygenResult } from '../../app/dkim.js';
import { DKIM_ALGORITHMS, type DkimAlgorithm } from '../../core/dkim.js';
import { SysemailError, quoted } from '../../core/errors.js';
import { InvalidOptionValue, action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';
import { readStdin } from '../io.js';

interface AddFlags {
  domain: string;
  selector: string;
  keyFile?: string;
  keyCommand?: string;
  stdin?: boolean;
}

/** A TXT value as a zone file takes it: character-strings of at most 255 bytes. */
function zoneLine(name: string, value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255)}"`);
  return `${name}. IN TXT ${parts.join(' ')}`;
}

async function access(ctx: CliContext): Promise<{ dbId: string; env: NodeJS.ProcessEnv }> {
  return { dbId: (await ctx.store()).id, env: ctx.env };
}

function keyInput(flags: AddFlags, stdin: () => Promise<string>): Promise<DkimKeyInput> {
  const given = [flags.keyFile !== undefined, flags.keyCommand !== undefined, !!flags.stdin].filter(Boolean).length;
  if (given !== 1) {
    throw new SysemailError('usage', 'DKIM_KEY_SOURCE', 'dkim add needs exactly one of --key-file, --key-command and --stdin', {
      fix: 'Example: sysemail dkim add --domain example.com --selector s1 --key-file /etc/dkim/s1.pem',
    });
  }
  if (flags.keyFile !== undefined) return Promise.resolve({ keyFile: flags.keyFile });
  if (flags.keyCommand !== undefined) return Promise.resolve({ keyCommand: flags.keyCommand });
  return stdin().then((text) => ({ stdin: text }));
}

function where(v: { source: string; location: string | null }): string {
  return v.source === 'keychain' ? 'the keychain' : v.source === 'file' ? (v.location ?? '') : `\`${v.location ?? ''}\``;
}

async function add(ctx: CliContext, flags: AddFlags): Promise<Outcome> {
  const key = await keyInput(flags, readStdin);
  const { addDkimKey } = await import('../../app/dkim.js');
  const view = await addDkimKey(await ctx.store(), { domain: flags.domain, selector: flags.selector, key }, await access(ctx), Date.now());
  if (ctx.output.json) ctx.output.jsonDoc(view);
  else {
    ctx.output.note(
      `registered ${view.dnsName} (${view.algorithm}, key in ${where(view)}); messages from @${view.domain} are signed with it`,
    );
    ctx.output.note('publish this DNS record if it is not there yet:');
    ctx.output.line(zoneLine(view.dnsName, view.dnsValue));
  }
  return 'OK';
}

async function keygen(
  ctx: CliContext,
  flags: { domain: string; selector: string; algorithm: DkimAlgorithm; out?: string },
): Promise<Outcome> {
  const { keygenDkimKey } = await import('../../app/dkim.js');
  const r: KeygenResult = await keygenDkimKey(await ctx.store(), flags, await access(ctx), Date.now());
  if (ctx.output.json) {
    ctx.output.jsonDoc({
      domain: r.domain,
      selector: r.selector,
      algorithm: r.algorithm,
      dnsName: r.dnsName,
      dnsValue: r.dnsValue,
      source: r.source,
      ...(r.file ? { file: r.file } : {}),
    });
    return 'OK';
  }
  ctx.output.note(
    `made a ${r.algorithm === 'rsa-sha256' ? '2048-bit RSA' : 'Ed25519'} key for ${r.domain}, kept in ${r.file ?? 'the keychain'}, and registered it`,
  );
  ctx.output.note('publish this DNS record (messages are signed from now on; receivers can check them once it is published):');
  ctx.output.line(zoneLine(r.dnsName, r.dnsValue));
  return 'OK';
}

async function list(ctx: CliContext, flags: { domain?: string }): Promise<Outcome> {
  const { listDkimKeys } = await import('../../app/dkim.js');
  const keys = await listDkimKeys(await ctx.store(), flags.domain);
  if (ctx.output.json) {
    ctx.output.jsonDoc({ keys });
    return 'OK';
  }
  if (keys.length === 0) {
    ctx.output.note('no DKIM keys; make one with `sysemail dkim keygen --domain example.com --selector s1`');
    return 'OK';
  }
  await ctx.output.table(
    ['domain', 'selector', 'algorithm', 'key in', 'DNS name'],
    keys.map((k) => [k.domain, k.selector, k.algorithm, where(k), k.dnsName]),
  );
  return 'OK';
}

async function remove(ctx: CliContext, flags: { domain: string; selector?: string }): Promise<Outcome> {
  const { removeDkimKeys } = await import('../../app/dkim.js');
  const removed: DkimKeyView[] = await removeDkimKeys(await ctx.store(), flags, await access(ctx));
  if (ctx.output.json)
    ctx.output.jsonDoc({ removed: removed.map((k) => ({ domain: k.domain, selector: k.selector, algorithm: k.algorithm })) });
  else
    ctx.output.note(
      `removed ${removed.map((k) => k.dnsName).join(', ')}; messages from @${flags.domain} are no longer signed with ${removed.length === 1 ? 'it' : 'them'}`,
    );
  return 'OK';
}

function parseAlgorithm(value: string): DkimAlgorithm {
  if (!(DKIM_ALGORITHMS as readonly string[]).includes(value)) {
    throw new InvalidOptionValue(`--algorithm must be one of ${DKIM_ALGORITHMS.join(', ')} (got ${quoted(value)})`);
  }
  return value as DkimAlgorithm;
}

export function registerDkim(program: Command): void {
  const dkim = program
    .command('dkim')
    .description('DKIM signing keys: every message from a domain with a registered key is signed (see docs/dkim.md)')
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail dkim keygen --domain example.com --selector s2026
  $ sysemail dkim add --domain example.com --selector s1 --key-file /etc/dkim/s1.pem
  $ sysemail dkim list --json
  $ sysemail dkim remove --domain example.com --selector s1`,
    );

  dkim
    .command('add')
    .description('register a private key for a domain; the key stays in its file or command, or goes to the keychain (--stdin)')
    .requiredOption('--domain <domain>', 'the From domain the key signs for (d=)')
    .requiredOption('--selector <selector>', 'the selector its DNS record is published under (s=)')
    .option('--key-file <file>', 'a PEM private key file only its owner may read (mode 0600); read each time a message is signed')
    .option('--key-command <command>', 'a command that prints the PEM private key on stdout (as smtp.passwordCommand)')
    .option('--stdin', "read the PEM private key from standard input and keep it in this database's keychain entry")
    .addHelpText(
      'after',
      '\nExamples:\n  $ sysemail dkim add --domain example.com --selector s1 --key-file /etc/dkim/s1.pem\n  $ sysemail dkim add --domain example.com --selector s1 --stdin < s1.pem\n  $ sysemail dkim add --domain example.com --selector s1 --key-command "pass show dkim/s1"',
    )
    .action(action((ctx, flags: AddFlags) => add(ctx, flags)));

  dkim
    .command('keygen')
    .description('make a new key (RSA 2048 or Ed25519), register it, and print the DNS TXT record to publish')
    .requiredOption('--domain <domain>', 'the From domain the key signs for')
    .requiredOption('--selector <selector>', 'the selector to publish it under, e.g. s2026')
    .option('--algorithm <algorithm>', `${DKIM_ALGORITHMS.join(' or ')}`, parseAlgorithm, 'rsa-sha256')
    .option('--out <file>', 'write the private key to this new file (mode 0600, never overwritten) instead of the keychain')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sysemail dkim keygen --domain example.com --selector s2026\n  $ sysemail dkim keygen --domain example.com --selector ed2026 --algorithm ed25519-sha256 --out /etc/dkim/ed2026.pem',
    )
    .action(action((ctx, flags: { domain: string; selector: string; algorithm: DkimAlgorithm; out?: string }) => keygen(ctx, flags)));

  dkim
    .command('list')
    .description('the registered keys with their DNS records (never the private key)')
    .option('--domain <domain>', 'only the keys of this domain')
    .addHelpText('after', '\nExample:\n  $ sysemail dkim list --json | jq -r \'.keys[] | .dnsName + " " + .dnsValue\'')
    .action(action((ctx, flags: { domain?: string }) => list(ctx, flags)));

  dkim
    .command('remove')
    .description("unregister a domain's keys (one selector with --selector); a key kept in the keychain is deleted from it")
    .requiredOption('--domain <domain>', 'the domain')
    .option('--selector <selector>', 'only this selector (after a rotation, the old one)')
    .addHelpText('after', '\nExample:\n  $ sysemail dkim remove --domain example.com --selector s2025')
    .action(action((ctx, flags: { domain: string; selector?: string }) => remove(ctx, flags)));
}
