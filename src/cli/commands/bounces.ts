import type { Command } from 'commander';
import { action } from '../action.js';
import type { CliContext } from '../context.js';
import type { Outcome } from '../exit-codes.js';

async function importReports(ctx: CliContext, source: string, opts: { moveTo?: string }): Promise<Outcome> {
  const { importBounces } = await import('../../app/bounces.js');
  const { diagnose } = await import('../../core/diagnosis/index.js');
  const store = await ctx.store();
  const settings = await ctx.settings();
  const r = await importBounces(store, {
    source,
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    moveTo: opts.moveTo,
    now: Date.now(),
    softExpiryMs: settings.number('suppression.softExpiryDays') * 86_400_000,
    diagnose: (f) => diagnose(f)[0]?.id ?? null,
  });
  if (ctx.output.json) {
    ctx.output.jsonDoc({
      processed: r.processed,
      bounced: r.bounced.map((b) => ({
        id: b.id,
        messageId: b.messageId,
        recipient: b.recipient,
        status: b.status,
        action: b.action,
        suppressed: b.suppressed,
        file: b.file,
      })),
      skipped: r.skipped,
      moved: r.moved,
    });
    return 'OK';
  }
  for (const b of r.bounced) {
    ctx.output.line(`message ${b.id}: ${b.recipient} ${b.action} ${b.status}${b.suppressed ? ', suppressed' : ''}`);
  }
  for (const s of r.skipped) ctx.output.line(`skipped ${s.file}: ${s.reason}`);
  ctx.output.note(
    `${r.processed} report(s) read: ${r.bounced.length} bounce(s) recorded, ${r.bounced.filter((b) => b.suppressed).length} recipient(s) suppressed, ${r.skipped.length} skipped${r.moved.length ? `; ${r.moved.length} file(s) moved to ${opts.moveTo}` : ''}`,
  );
  return 'OK';
}

export function registerBounces(program: Command): void {
  const bounces = program
    .command('bounces')
    .description('delivery status notifications (bounces): record them in the history, suppress hard-bounced recipients');
  bounces
    .command('import')
    .description(
      'read DSNs (RFC 3464; Postfix, Exim, Microsoft 365, Gmail): a .eml file, a folder of them, an mbox, or - for standard input',
    )
    .argument('<source>', 'a file, a folder, or -')
    .option('--move-to <dir>', 'move each file read into this folder, so that the next run does not read it again')
    .addHelpText(
      'after',
      `
A report is matched to its message by the X-Sysemail-Id header sysemail adds to every message, else by
the returned Message-ID. A failed delivery (5.x.x) that says the address is no good suppresses the
recipient; a delay (4.x.x) is recorded only. Importing the same report again changes nothing.

Examples:
  $ sysemail bounces import ~/Maildir/.Bounces/new --move-to ~/Maildir/.Bounces/cur
  $ sysemail bounces import bounce.eml --json
  $ cat /var/mail/bounces | sysemail bounces import -`,
    )
    .action(action((ctx, source: string, opts: { moveTo?: string }) => importReports(ctx, source, opts)));
}
