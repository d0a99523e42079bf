/**
 * For end-to-end tests of several distributors on one PostgreSQL database: a database whose
 * parameters point at a test SMTP server, commands run on it, long-lived `queue run` processes that a
 * test can signal, and bounded waits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { BIN, cleanEnv, json, sandbox, type CliResult, type Sandbox } from './cli.js';
import { adminQuery, createTestDatabase, type PgCluster } from './postgres.js';
import type { TestSmtpServer } from './smtp-server.js';
import { testPki } from './tls.js';

/** A command left running (stdin ignored, output buffered, never rejecting). */
export type Distributor = ResultPromise<{ reject: false; buffer: true; stdin: 'ignore' }>;

export const SMTP_PASSWORD = 'pg-hosts-e2e-pw';

/** The Message-ID of each message the server received. */
export function messageIds(srv: TestSmtpServer): string[] {
  return srv.messages.map((b) => /^Message-ID:\s*(<[^>]+>)/im.exec(b.subarray(0, 4096).toString('latin1'))?.[1] ?? '?');
}

/** The subject of each message the server received (the tests number their messages in it). */
export function subjects(srv: TestSmtpServer): string[] {
  return srv.messages.map((b) => /^Subject:\s*(.*)$/im.exec(b.subarray(0, 4096).toString('latin1'))?.[1]?.trim() ?? '?');
}

/** Waits until `check` holds, polling every 100 ms; throws after `timeoutMs` saying what it waited for. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface QueueDb {
  sb: Sandbox;
  url: string;
  /** The database's name on the test server. */
  name: string;
  run(args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** Queues `n` messages with `queue import` (subjects `${prefix}0` …). */
  queue(n: number, prefix?: string): Promise<void>;
  /** Starts `sysemail --db URL ARGS` and leaves it running. */
  spawn(args: string[], env?: Record<string, string>): Distributor;
  /** Runs SQL on this database as the superuser. */
  sql(text: string): Promise<unknown[]>;
}

/** A fresh database whose parameters point at `smtp` (STARTTLS, user app), and ways to use it. */
export async function queueDb(pg: PgCluster, smtp: TestSmtpServer, prefix: string, extraParams: string[] = []): Promise<QueueDb> {
  const { url, name } = await createTestDatabase(pg, prefix);
  const sb = sandbox('sysemail-pg-hosts-');
  sb.env.SYSEMAIL_SMTP_PASSWORD = SMTP_PASSWORD;
  const run = (args: string[], env: Record<string, string> = {}) => sb.run(['--db', url, ...args], { noDb: true, env, timeout: 120_000 });
  const set = await run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(smtp.port),
    'smtp.security',
    'starttls',
    'smtp.caFile',
    testPki().caFile,
    'smtp.username',
    'app',
    ...extraParams,
  ]);
  if (set.exitCode !== 0) throw new Error(`params set failed: ${set.stderr}`);
  let batches = 0;
  return {
    sb,
    url,
    name,
    run,
    async queue(n, subjectPrefix = 'm') {
      const lines = Array.from({ length: n }, (_, i) =>
        JSON.stringify({ to: `r${i}@example.com`, from: 'app@example.com', subject: `${subjectPrefix}${i}`, text: `message ${i}` }),
      );
      const file = path.join(sb.dir, `batch-${++batches}.jsonl`);
      fs.writeFileSync(file, lines.join('\n') + '\n');
      const imp = await run(['queue', 'import', file, '--json']);
      if (imp.exitCode !== 0) throw new Error(`queue import failed: ${imp.stderr}`);
      if (json<{ imported: number }>(imp.stdout).imported !== n) throw new Error(`queue import: ${imp.stdout}`);
    },
    spawn(args, env = {}) {
      return execa(process.execPath, [BIN, '--db', url, ...args], {
        cwd: sb.dir,
        env: { ...cleanEnv(), ...sb.env, ...env },
        extendEnv: false,
        reject: false,
        buffer: true,
        stdin: 'ignore' as const,
      });
    },
    sql: (text) => adminQuery(pg, text, name),
  };
}

/** Counts of the database's messages by status. */
export async function statusCounts(db: QueueDb): Promise<Record<string, number>> {
  const rows = (await db.sql('SELECT status, count(*)::int AS n FROM messages GROUP BY status')) as { status: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
