import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { SysemailError } from '../../core/errors.js';
import type { FailureInfo, ProviderName } from '../../core/failure.js';
import type { QueueAction } from '../../app/queue.js';
import { action, intOption } from '../action.js';
import type { CliContext } from '../context.js';
import { progressBar } from '../progress.js';
import { transcriptOption } from '../transcript.js';

const spoolDir = (ctx: CliContext) => path.join(ctx.dataDir, 'spool');

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGINT/SIGTERM stop claiming and let in-flight sends finish; a second signal leaves at once (leases expire). */
function shutdownSignal(ctx: CliContext): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(name === 'SIGINT' ? 130 : 143);
    ctx.output.note(`${name}: finishing the messages in flight, then stopping (send ${name} again to stop at once)`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

interface RunFlags {
  watch?: boolean;
  interval?: number;
  max?: number;
  concurrency?: number;
  lease?: number;
}

async function run(ctx: CliContext, flags: RunFlags): Promise<number> {
  const [{ runQueue, newOwner }, { createProvider }, { diagnose }] = await Promise.all([
    import('../../app/distributor.js'),
    import('../../providers/index.js'),
    import('../../core/diagnosis/index.js'),
  ]);
  const store = await ctx.store();
  const settings = await ctx.settings();
  const concurrency = flags.concurrency ?? 4;
  const host = os.hostname();
  const bar = progressBar('sending', { json: ctx.output.json, quiet: ctx.output.quiet });
  const stop = shutdownSignal(ctx);
  try {
    const result = await runQueue({
      store,
      settings,
      providerFactory: async (name: ProviderName) =>
        createProvider(name, { settings, secrets: { dbId: store.id, env: ctx.env }, pool: { maxConnections: concurrency }, ...transcriptOption(ctx) }),
      owner: newOwner(host, process.pid, randomBytes(4).toString('hex')),
      host,
      pid: process.pid,
      max: flags.max,
      concurrency,
      watch: !!flags.watch,
      intervalSec: flags.interval,
      leaseSec: flags.lease,
      signal: stop.signal,
      isPidAlive,
      spoolDir: spoolDir(ctx),
      diagnose: (f: FailureInfo) => diagnose(f)[0]?.id ?? null,
      onLaneFallback: (err) => ctx.output.debug(`worker thread unavailable, queue writes stay on the main thread: ${(err as Error).message}`),
      onProgress: (p) => bar.update(p.done, p.total),
      onCycle: (c) => {
        bar.done();
        if (ctx.output.json) ctx.output.jsonDoc({ sent: c.sent, deferred: c.deferred, failed: c.failed, forced: c.forced, remaining: c.remaining });
        else if (!flags.watch || c.sent + c.deferred + c.failed > 0) {
          ctx.output.note(
            `sent ${c.sent}, deferred ${c.deferred}, failed ${c.failed}${c.forced ? ` (${c.forced} forced over the throttle limit)` : ''}; ${c.remaining} still queued`,
          );
        }
      },
    });
    if (flags.watch && !ctx.output.json) ctx.output.note(`stopped after ${result.cycles} cycle(s): sent ${result.totals.sent}, ${result.remaining} still queued`);
    ctx.output.debug(
      result.lane === 'thread'
        ? `queue writes ran on a worker thread (a long queue); ${result.renderedAhead} message(s) were rendered there ahead of sending`
        : 'queue writes ran on the main thread',
    );
    return 0;
  } finally {
    bar.done();
    stop.dispose();
  }
}

async function status(ctx: CliContext): Promise<number> {
  const { queueStatus } = await import('../../app/queue.js');
  const s = await queueStatus(await ctx.store(), Date.now());
  if (ctx.output.json) {
    ctx.output.jsonDoc(s);
    return 0;
  }
  await ctx.output.table(
    ['status', 'messages'],
    Object.entries(s.counts).map(([k, v]) => [k, v]),
  );
  ctx.output.line(`oldest due message waiting: ${s.oldestDueAgeSec === null ? 'none' : `${s.oldestDueAgeSec} s`}`);
  const r = s.lastRun;
  if (!r) ctx.output.line('last distributor run: never (schedule `sysemail queue run`, see `sysemail queue run --help`)');
  else {
    ctx.output.line(
      `last distributor run: ${r.startedAt} on ${r.host} (pid ${r.pid})${r.endedAt ? '' : ', still running'}: sent ${r.sent}, deferred ${r.deferred}, failed ${r.failed}${r.forced ? `, forced ${r.forced}` : ''}`,
    );
    if (r.error) ctx.output.line(`  stopped by: ${r.error.message ?? r.error.code} (${r.error.code})`);
  }
  return 0;
}

async function list(ctx: CliContext, opts: { status?: string; limit?: number }): Promise<number> {
  const { listQueue, parseStatus } = await import('../../app/queue.js');
  const rows = await listQueue(await ctx.store(), { status: parseStatus(opts.status), limit: opts.limit ?? 100 });
  if (ctx.output.json) {
    ctx.output.jsonDoc(rows);
    return 0;
  }
  await ctx.output.table(
    ['id', 'status', 'due', 'attempts', 'to', 'subject', 'reason / last error'],
    rows.map((r) => [r.id, r.status, r.dueAt, r.attempts, r.to.join(', '), r.subject, r.lastError?.response ?? r.reason ?? '']),
  );
  if (rows.length === 0) ctx.output.note(opts.status ? `no ${opts.status} messages` : 'the queue is empty');
  return 0;
}

async function change(ctx: CliContext, act: QueueAction, words: string[], opts: { failed?: boolean } = {}): Promise<number> {
  const { changeMessages, parseIds } = await import('../../app/queue.js');
  if (opts.failed && words.length > 0) {
    throw new SysemailError('usage', 'RETRY_ARGS', 'give either message ids or --failed, not both', { fix: 'Example: sysemail queue retry --failed' });
  }
  if (!opts.failed && words.length === 0) {
    throw new SysemailError('usage', 'IDS_MISSING', `queue ${act} needs at least one message id`, {
      fix: act === 'retry' ? 'Example: sysemail queue retry 12 13, or sysemail queue retry --failed' : `Example: sysemail queue ${act} 12`,
    });
  }
  const ids = opts.failed ? ('failed' as const) : parseIds(words);
  const r = await changeMessages(await ctx.store(), act, ids, { now: Date.now(), spoolDir: spoolDir(ctx) });
  if (ctx.output.json) ctx.output.jsonDoc({ action: r.action, ids: r.ids, count: r.ids.length });
  else {
    const past = { hold: 'held', release: 'released', retry: 'queued for retry', delete: 'deleted' }[act];
    ctx.output.note(r.ids.length === 0 ? 'nothing to do' : `${r.ids.length} message(s) ${past}: ${r.ids.join(', ')}`);
  }
  return 0;
}

async function importCmd(ctx: CliContext, file: string): Promise<number> {
  const { importMessages } = await import('../../app/import.js');
  const { readInputFile, readStdin } = await import('../io.js');
  const text = file === '-' ? await readStdin() : readInputFile(file, 'import file');
  const store = await ctx.store();
  const settings = await ctx.settings();
  const bar = progressBar('checking', { json: ctx.output.json, quiet: ctx.output.quiet });
  try {
    const r = await importMessages({
      store,
      settings,
      text,
      source: file === '-' ? 'standard input' : file,
      now: Date.now(),
      cwd: ctx.cwd,
      spoolDir: spoolDir(ctx),
      onProgress: (p) => bar.update(p.done, p.total),
    });
    bar.done();
    if (ctx.output.json) ctx.output.jsonDoc({ imported: r.imported, firstId: r.ids[0] ?? null, lastId: r.ids[r.ids.length - 1] ?? null });
    else ctx.output.note(`${r.imported} message(s) queued (ids ${r.ids[0]}–${r.ids[r.ids.length - 1]}); send them with \`sysemail queue run\``);
    return 0;
  } finally {
    bar.done();
  }
}

export function registerQueue(program: Command): void {
  const queue = program
    .command('queue')
    .description('the send queue and its distributor batch: run, status, list, retry, hold, release, delete, import')
    .addHelpText(
      'after',
      `
Examples:
  $ sysemail queue run                        # one pass, for cron every minute
  $ sysemail queue run --watch --interval 10  # long-lived, for a systemd service
  $ sysemail queue status --json
  $ sysemail queue retry --failed`,
    );

  queue
    .command('run')
    .description('send the due messages through batch.provider, with throttling, retries and retention')
    .option('--watch', 'keep running, checking every --interval seconds, until SIGINT/SIGTERM')
    .option('--interval <sec>', 'seconds between checks with --watch (default 10)', intOption('--interval', 1))
    .option('--max <n>', 'send at most N messages per pass', intOption('--max', 1))
    .option('--concurrency <n>', 'messages sent in parallel over pooled connections (default 4)', intOption('--concurrency', 1))
    .option('--lease <sec>', 'seconds a claimed message stays reserved for this run before another may take it (default 600)', intOption('--lease', 5))
    .addHelpText(
      'after',
      `
A one-pass run (cron) never waits for the throttle window: what cannot go now is deferred and the next
run picks it up. Two runs at once are safe: each message is claimed by one of them only.
A failure of the whole account (sign-in refused, Send As denied, secret missing) stops the run, leaves
the messages queued and exits with 77 or 78; temporary trouble of the server (421, network) stops it with 75.

Examples:
  * * * * * sysemail queue run --max 500     # crontab
  $ sysemail queue run --watch --concurrency 8 --json`,
    )
    .action(action((ctx, opts: RunFlags) => run(ctx, opts)));

  queue
    .command('status')
    .description('messages per status, the oldest due message, the last distributor run')
    .addHelpText('after', '\nExample:\n  $ sysemail queue status --json | jq .counts')
    .action(action((ctx) => status(ctx)));

  queue
    .command('list')
    .description('queued messages (pending, sending, deferred, held), or those of one --status')
    .option('--status <status>', 'pending, sending, deferred, held, sent or failed')
    .option('--limit <n>', 'at most N rows (default 100)', intOption('--limit', 1))
    .addHelpText('after', '\nExample:\n  $ sysemail queue list --status deferred')
    .action(action((ctx, opts: { status?: string; limit?: number }) => list(ctx, opts)));

  queue
    .command('retry')
    .description('send failed or deferred messages again now, with a fresh retry lifetime')
    .argument('[id...]', 'message ids')
    .option('--failed', 'every failed message')
    .addHelpText('after', '\nExamples:\n  $ sysemail queue retry 41 42\n  $ sysemail queue retry --failed')
    .action(action((ctx, ids: string[], opts: { failed?: boolean }) => change(ctx, 'retry', ids, opts)));

  queue
    .command('hold')
    .description('keep pending or deferred messages from being sent until released')
    .argument('<id...>', 'message ids')
    .action(action((ctx, ids: string[]) => change(ctx, 'hold', ids)));

  queue
    .command('release')
    .description('let held messages go again')
    .argument('<id...>', 'message ids')
    .action(action((ctx, ids: string[]) => change(ctx, 'release', ids)));

  queue
    .command('delete')
    .description('delete messages (and their attempts and spooled attachments)')
    .argument('<id...>', 'message ids')
    .action(action((ctx, ids: string[]) => change(ctx, 'delete', ids)));

  queue
    .command('import')
    .description('queue many messages from JSON Lines: every line is checked first, then all are stored or none')
    .argument('<file>', 'a .jsonl file, or - for standard input')
    .addHelpText(
      'after',
      `
One JSON object per line, fields: to, cc, bcc (an address or a list), from (default: the user's sender or
sender.default), subject, text, html, attachments (file paths, or {"path","filename","contentType"}), user.

Example:
  $ printf '%s\\n' '{"to":"ann@example.com","subject":"Invoice","text":"Attached.","attachments":["inv.pdf"]}' > batch.jsonl
  $ sysemail queue import batch.jsonl`,
    )
    .action(action((ctx, file: string) => importCmd(ctx, file)));
}
