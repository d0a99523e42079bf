import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Command } from 'commander';
import { SysemailError } from '../../core/errors.js';
import type { FailureInfo, ProviderName } from '../../core/failure.js';
import { MESSAGE_STATUSES } from '../../core/status.js';
import type { CycleResult } from '../../app/distributor/index.js';
import type { QueueAction, SelectionFlags } from '../../app/queue.js';
import { action, intOption } from '../action.js';
import type { CliContext } from '../context.js';
import { signalExit, type Outcome } from '../exit-codes.js';
import { idList } from '../output.js';
import { progressBar } from '../progress.js';
import { transcriptOption } from '../transcript.js';

async function spoolDir(ctx: CliContext): Promise<string> {
  const { spoolDirOf } = await import('../../app/spool.js');
  return spoolDirOf(await ctx.settings());
}

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
    if (ac.signal.aborted) process.exit(signalExit(name as 'SIGINT' | 'SIGTERM'));
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
  heartbeat?: number;
  writeThread?: 'auto' | 'on' | 'off';
}

/**
 * Which cycles get a line. Cron mails whatever a job prints, and a service's journal fills with idle
 * lines: one pass prints its summary only where a person reads it (a terminal, -v, --json); --watch
 * prints a cycle that did something, and an idle one only when --heartbeat SEC has passed in silence.
 */
export function cycleReport(
  o: { watch: boolean; json: boolean; terminal: boolean; verbose: boolean; heartbeatMs?: number },
  start = Date.now(),
) {
  let lastLineAt = start;
  return (c: CycleResult, now = Date.now()): boolean => {
    const active = c.sent + c.deferred + c.failed + c.forced > 0;
    const due = !o.watch ? o.json || o.terminal || o.verbose : active || (o.heartbeatMs !== undefined && now - lastLineAt >= o.heartbeatMs);
    if (due) lastLineAt = now;
    return due;
  };
}

async function run(ctx: CliContext, flags: RunFlags): Promise<Outcome> {
  if (flags.heartbeat !== undefined && !flags.watch) {
    throw new SysemailError('usage', 'HEARTBEAT_WITHOUT_WATCH', '--heartbeat only applies to --watch', {
      fix: 'Example: sysemail queue run --watch --heartbeat 300',
    });
  }
  const [{ runQueue, newOwner }, { createProvider }, { diagnose }, { spoolDirOf }] = await Promise.all([
    import('../../app/distributor/index.js'),
    import('../../providers/index.js'),
    import('../../core/diagnosis/index.js'),
    import('../../app/spool.js'),
  ]);
  const store = await ctx.store();
  const settings = await ctx.settings();
  const concurrency = flags.concurrency ?? 4;
  const host = os.hostname();
  const bar = progressBar('sending', { json: ctx.output.json, quiet: ctx.output.quiet });
  const stop = shutdownSignal(ctx);
  const report = cycleReport({
    watch: !!flags.watch,
    json: ctx.output.json,
    terminal: ctx.output.isTTY,
    verbose: ctx.output.verbose,
    heartbeatMs: flags.heartbeat === undefined ? undefined : flags.heartbeat * 1000,
  });
  // the DKIM keys are read once, before anything is claimed: one that cannot be read stops the run (78)
  const { signingKeysFor } = await import('../../app/send.js');
  const dkim = await signingKeysFor('smtp', store, { dbId: store.id, env: ctx.env });
  try {
    const result = await runQueue({
      store,
      settings,
      providerFactory: async (name: ProviderName) =>
        createProvider(name, {
          settings,
          secrets: { dbId: store.id, env: ctx.env },
          pool: { maxConnections: concurrency },
          ...transcriptOption(ctx),
          ...(name !== 'exchange' && dkim.length > 0 ? { dkim } : {}),
        }),
      dkim,
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
      thread: { mode: flags.writeThread ?? 'auto' },
      spoolDir: spoolDirOf(settings),
      diagnose: (f: FailureInfo) => diagnose(f)[0]?.id ?? null,
      onLaneFallback: (err) =>
        ctx.output.debug(`worker thread unavailable, queue writes stay on the main thread: ${(err as Error).message}`),
      onProgress: (p) => bar.update(p.done, p.total),
      onCycle: (c) => {
        bar.done();
        if (!report(c)) return;
        if (ctx.output.json)
          ctx.output.jsonDoc({
            sent: c.sent,
            deferred: c.deferred,
            failed: c.failed,
            forced: c.forced,
            remaining: c.remaining,
            lane: c.lane,
            time: new Date().toISOString(),
          });
        else {
          ctx.output.note(
            `sent ${c.sent}, deferred ${c.deferred}, failed ${c.failed}${c.forced ? ` (${c.forced} forced over the throttle limit)` : ''}; ${c.remaining} still queued`,
          );
        }
      },
    });
    if (flags.watch && !ctx.output.json)
      ctx.output.note(`stopped after ${result.cycles} cycle(s): sent ${result.totals.sent}, ${result.remaining} still queued`);
    ctx.output.debug(
      result.lane === 'thread'
        ? `queue writes ran on a worker thread (a long queue); ${result.renderedAhead} message(s) were rendered there ahead of sending`
        : result.lane === 'port' && result.renderedAhead > 0
          ? `queue writes went to the database server from the main thread; ${result.renderedAhead} message(s) were rendered ahead of sending on a worker thread`
          : 'queue writes ran on the main thread',
    );
    // a tenth of a second summed is worth telling: below it the records kept up
    if (result.boundWaitMs >= 100)
      ctx.output.debug(
        `${result.boundWaits} send(s) waited ${(result.boundWaitMs / 1000).toFixed(1)} s in all for earlier messages to be recorded (at most ${concurrency} past their final dot unrecorded): a database nearer this host, or a higher --concurrency, shortens it`,
      );
    return 'OK';
  } finally {
    bar.done();
    stop.dispose();
  }
}

async function status(ctx: CliContext): Promise<Outcome> {
  const { queueStatus } = await import('../../app/queue.js');
  const { governorView } = await import('../../app/governor.js');
  const store = await ctx.store();
  const s = {
    ...(await queueStatus(store, Date.now(), { host: os.hostname(), isPidAlive })),
    governor: await governorView(store, await ctx.settings(), Date.now()),
  };
  if (ctx.output.json) {
    ctx.output.jsonDoc(s);
    return 'OK';
  }
  await ctx.output.table(
    ['status', 'messages'],
    Object.entries(s.counts).map(([k, v]) => [k, v]),
  );
  ctx.output.line(`oldest due message waiting: ${s.oldestDueAgeSec === null ? 'none' : `${s.oldestDueAgeSec} s`}`);
  ctx.output.line(`database: ${s.database.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'} ${s.database.version}, ${s.database.location}`);
  const r = s.lastRun;
  if (!r) ctx.output.line('last distributor run: never (schedule `sysemail queue run`, see `sysemail queue run --help`)');
  else {
    const state = {
      running: ', still running',
      finished: '',
      stopped: '',
      died: `, ended abnormally (${r.diedBecause === 'silent' ? `no sign of life since ${r.lastSeenAt}` : 'its process is gone'})`,
    }[r.state];
    ctx.output.line(
      `last distributor run: ${r.startedAt} on ${r.host} (pid ${r.pid})${state}: sent ${r.sent}, deferred ${r.deferred}, failed ${r.failed}${r.forced ? `, forced ${r.forced}` : ''}`,
    );
    if (r.error) ctx.output.line(`  stopped by: ${r.error.message ?? r.error.code} (${r.error.code})`);
    if (r.leasedMessages > 0) {
      ctx.output.line(
        r.state === 'running'
          ? `  ${r.leasedMessages} message(s) in sending under its leases`
          : r.diedBecause === 'process gone'
            ? `  ${r.leasedMessages} message(s) still leased by it: the next \`sysemail queue run\` on this host takes them back at once, one elsewhere once the leases run out at ${r.leasesExpireAt}`
            : `  ${r.leasedMessages} message(s) still leased by it until ${r.leasesExpireAt}: the next \`sysemail queue run\` after that takes them back`,
      );
    }
  }
  if (s.governor.length > 0) {
    ctx.output.line('send governor (limits per sending mailbox, `sysemail governor list`):');
    const { governorTable } = await import('../governor-table.js');
    await governorTable(ctx.output, s.governor);
  }
  // a database several hosts share: each one's last run and the leases it holds now
  if (s.hosts.length > 1 || (s.database.backend === 'postgresql' && s.hosts.length > 0)) {
    const { hostLine } = await import('../../app/hosts.js');
    ctx.output.line('per host:');
    for (const h of s.hosts) ctx.output.line(`  ${hostLine(h)}`);
  }
  return 'OK';
}

async function list(ctx: CliContext, opts: { status?: string; limit?: number }): Promise<Outcome> {
  const { listQueue, parseStatus } = await import('../../app/queue.js');
  const rows = await listQueue(await ctx.store(), { status: parseStatus(opts.status), limit: opts.limit ?? 100 });
  if (ctx.output.json) {
    ctx.output.jsonDoc(rows);
    return 'OK';
  }
  await ctx.output.table(
    ['id', 'status', 'due', 'attempts', 'to', 'subject', 'reason / last error'],
    rows.map((r) => [
      r.id,
      r.status,
      r.dueAt,
      r.attempts,
      r.to.join(', '),
      r.subject,
      // a priority other than normal and an expiry go with the reason, to keep the table narrow
      [
        r.priority !== 'normal' ? `${r.priority} priority` : '',
        r.expiresAt ? `expires ${r.expiresAt}` : '',
        r.lastError?.response ?? r.reason ?? '',
      ]
        .filter(Boolean)
        .join('; '),
    ]),
  );
  if (rows.length === 0) ctx.output.note(opts.status ? `no ${opts.status} messages` : 'the queue is empty');
  return 'OK';
}

interface ChangeFlags extends SelectionFlags {
  dryRun?: boolean;
}

async function change(ctx: CliContext, act: QueueAction, words: string[], flags: ChangeFlags): Promise<Outcome> {
  const { changeMessages, parseSelection } = await import('../../app/queue.js');
  const selection = parseSelection(act, words, flags);
  const r = await changeMessages(await ctx.store(), act, selection, {
    now: Date.now(),
    dryRun: !!flags.dryRun,
    spoolDir: await spoolDir(ctx),
  });
  if (ctx.output.json) {
    ctx.output.jsonDoc({ action: r.action, changed: r.changed, refused: r.refused, dryRun: r.dryRun, count: r.changed.length });
    return 'OK';
  }
  const past = { hold: 'held', release: 'released', retry: 'queued for retry', delete: 'deleted' }[act];
  if (r.changed.length === 0 && r.refused.length === 0) ctx.output.note('no message matches: nothing to do');
  else if (r.changed.length > 0) {
    ctx.output.note(
      r.dryRun
        ? `${r.changed.length} message(s) would be ${past}: ${idList(r.changed)} (dry run: nothing changed)`
        : `${r.changed.length} message(s) ${past}: ${idList(r.changed)}`,
    );
  }
  if (r.refused.length > 0) {
    ctx.output.note(
      `${r.refused.length} message(s) being sent ${r.dryRun ? 'would be' : 'were'} left as they are: ${idList(r.refused.map((x) => x.id))}`,
    );
  }
  return 'OK';
}

async function importCmd(ctx: CliContext, file: string): Promise<Outcome> {
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
      spoolDir: await spoolDir(ctx),
      onProgress: (p) => bar.update(p.done, p.total),
    });
    bar.done();
    if (ctx.output.json)
      ctx.output.jsonDoc({
        imported: r.imported,
        firstId: r.ids[0] ?? null,
        lastId: r.ids[r.ids.length - 1] ?? null,
        duplicates: r.duplicates.length,
      });
    else {
      const dup = r.duplicates.length > 0 ? `; ${r.duplicates.length} line(s) already queued with their idempotency key, skipped` : '';
      ctx.output.note(
        r.imported > 0
          ? `${r.imported} message(s) queued (ids ${r.ids[0]}–${r.ids[r.ids.length - 1]})${dup}; send them with \`sysemail queue run\``
          : `nothing new queued${dup}`,
      );
    }
    return 'OK';
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
    .option(
      '--lease <sec>',
      'seconds a claimed message stays reserved for this run before another may take it (default 600)',
      intOption('--lease', 5),
    )
    .option(
      '--heartbeat <sec>',
      "with --watch: also print an idle cycle's line when nothing was printed for SEC seconds (default: idle cycles print nothing)",
      intOption('--heartbeat', 1),
    )
    .addOption(
      program
        .createOption(
          '--write-thread <mode>',
          "where the queue's writes run: auto (a worker thread from 200 due messages), on (always a worker thread), off (this thread)",
        )
        .choices(['auto', 'on', 'off']),
    )
    .addHelpText(
      'after',
      `
Without --json and without a terminal (cron, a systemd timer) a successful run prints nothing; errors
still go to stderr with the exit code. With --watch only cycles that did something print a line.

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
    .option('--status <status>', `${MESSAGE_STATUSES.slice(0, -1).join(', ')} or ${MESSAGE_STATUSES[MESSAGE_STATUSES.length - 1]}`)
    .option('--limit <n>', 'at most N rows (default 100)', intOption('--limit', 1))
    .addHelpText('after', '\nExample:\n  $ sysemail queue list --status deferred')
    .action(action((ctx, opts: { status?: string; limit?: number }) => list(ctx, opts)));

  const operatorActions: [QueueAction, string][] = [
    ['retry', 'send failed or deferred messages again now, with a fresh retry lifetime'],
    ['hold', 'keep pending or deferred messages from being sent until released'],
    ['release', 'let held messages go again'],
    ['delete', 'delete messages (and their attempts and spooled attachments)'],
  ];
  for (const [act, description] of operatorActions) {
    const cmd = queue
      .command(act)
      .description(description)
      .argument('[id...]', 'message ids')
      .option('--status <status>', 'only messages of this status')
      .option('--older-than <duration>', 'only messages created more than DURATION ago (e.g. 2d, 12h)')
      .option('--to <addr>', 'only messages to this recipient (To, Cc or Bcc)')
      .option('--all', 'every message the action applies to (other filters narrow it)')
      .option('--dry-run', 'list what would change, change nothing');
    if (act === 'retry') cmd.option('--failed', 'every failed message (the same as --status failed)');
    cmd
      .addHelpText(
        'after',
        `
Give message ids, or filters, which must all match (ids and filters do not mix). A message being sent is
never changed: it is reported as refused. Every change is made in one transaction.

Examples:
  $ sysemail queue ${act} 41 42
  $ sysemail queue ${act} --older-than 2d --to ann@example.com --dry-run
  $ sysemail queue ${act} --all --json${act === 'retry' ? '\n  $ sysemail queue retry --failed' : ''}`,
      )
      .action(action((ctx, ids: string[], opts: ChangeFlags) => change(ctx, act, ids, opts)));
  }

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
