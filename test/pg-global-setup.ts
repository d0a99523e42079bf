/**
 * One throwaway PostgreSQL cluster for the whole test run (test/helpers/postgres.ts), handed to the
 * test processes as SYSEMAIL_TEST_PG_URL. Nothing is started when a server is given already, or when
 * the run is limited to files that do not use PostgreSQL (a unit test run does not wait for initdb).
 */
import { startCluster, type PgCluster } from './helpers/postgres.js';

/** Test files that talk to PostgreSQL. */
const USES_POSTGRES = /(postgres|store-contract)/i;

function runUsesPostgres(): boolean {
  const i = process.argv.findIndex((a) => a === 'run' || a.endsWith('vitest.mjs'));
  const filters = process.argv.slice(i + 1).filter((a) => !a.startsWith('-') && a !== 'run');
  return filters.length === 0 || filters.some((f) => USES_POSTGRES.test(f) || (!f.includes('.test.') && !/unit/.test(f)));
}

let cluster: PgCluster | undefined;

export async function setup(): Promise<void> {
  if (process.env.SYSEMAIL_TEST_PG_URL || !runUsesPostgres()) return;
  try {
    cluster = await startCluster();
    process.env.SYSEMAIL_TEST_PG_URL = cluster.url;
  } catch (err) {
    // each PostgreSQL test file then tries on its own, and skips or fails (SYSEMAIL_REQUIRE_POSTGRES)
    process.stderr.write(`PostgreSQL test cluster not started: ${(err as Error).message}\n`);
  }
}

export async function teardown(): Promise<void> {
  cluster?.stop();
  cluster = undefined;
}
