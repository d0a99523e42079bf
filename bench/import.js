// `queue import` of 100,000 short notification lines, judged against a plain better-sqlite3 script that
// parses the same JSON lines and inserts the same rows (same table, same columns as sysemail writes) in
// one transaction. Both run in their own process, timed from spawn to exit, side by side: ROUNDS rounds
// (7, or BENCH_IMPORT_ROUNDS), each into a fresh copy of one empty database, the two in alternating
// order (plain first in even rounds); the ratio is the median of the per-round ratios, so drift in the
// machine's load between rounds cancels out. The CPU time of each child (all its threads) is reported
// beside it: on a loaded machine it moves less than the wall time. Run after `npm run build`;
// `node bench/import.js` runs it alone. Exports run() → [{name, value, unit, target, ok}] for bench/run.js.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'sysemail.js');
const LINES = 100_000;
const ROUNDS = rounds(process.env.BENCH_IMPORT_ROUNDS);
const TARGET = 0.5;
/** `queue import` of the same lines, each with an idempotency key: messages per second, at least. */
const KEYED_TARGET = 40_000;
/** Every child is killed after this long, so a stuck run ends the bench. */
const CHILD_TIMEOUT_MS = 120_000;

function rounds(value) {
  if (value === undefined || value === '') return 7;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_IMPORT_ROUNDS must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A batch job's typical line: a notification of a hundred bytes or so; `keyed`: with its job's idempotency key. */
function importLines(count, keyed = false) {
  let out = '';
  for (let i = 0; i < count; i++) {
    out +=
      JSON.stringify({
        from: 'shop@example.com',
        to: `customer${i}@example.com`,
        subject: `Your order ${i} has shipped`,
        text: `Hello, order ${i} is on its way: https://example.com/t/${i}`,
        ...(keyed ? { idempotencyKey: `shipped-${i}` } : {}),
      }) + '\n';
  }
  return out;
}

/**
 * The baseline, in its own process: read the file, parse each line, insert the row sysemail would write
 * (every column of its INSERT, the same JSON encodings), all in one transaction. Prints the row count.
 */
const PLAIN = `
const fs = require('node:fs');
const Database = require(process.env.BETTER_SQLITE3);
const [db, file] = process.argv.slice(2);
const sqlite = new Database(db);
sqlite.pragma('journal_mode = WAL');
sqlite.pragma('synchronous = NORMAL');
sqlite.pragma('foreign_keys = ON');
const insert = sqlite.prepare(\`
  INSERT INTO messages (status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject,
    text_body, html_body, attachments, headers, message_id, user_id, template_id, org, size_bytes,
    created_at, due_at, updated_at, lease_owner, lease_expires_at, attempts, first_attempt_at, body_apart)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)\`);
const lines = fs.readFileSync(file, 'utf8').split('\\n');
const now = Date.now();
let n = 0;
sqlite.transaction(() => {
  for (const line of lines) {
    if (line === '') continue;
    const d = JSON.parse(line);
    const to = Array.isArray(d.to) ? d.to : [d.to];
    insert.run('pending', null, d.from, JSON.stringify(to), '[]', '[]', null, d.subject, d.text ?? null, d.html ?? null,
      '[]', null, null, null, null, null, Buffer.byteLength(d.text ?? ''), now, now, now, null, null, 0, null, 0);
    n++;
  }
}).immediate();
sqlite.close();
process.stdout.write(JSON.stringify({ imported: n }) + '\\n');
`;

/** Loaded first into each child: writes the CPU time the whole process used to BENCH_CPU_FILE as it exits. */
const CPU_REPORT = `process.on('exit', () => {
  const u = process.cpuUsage();
  require('node:fs').writeFileSync(process.env.BENCH_CPU_FILE, String((u.user + u.system) / 1000));
});
`;

/**
 * Runs a child to completion (killed after CHILD_TIMEOUT_MS); measures its wall time from spawn to
 * exit and the CPU time it reports.
 */
function timedSpawn(what, args, env) {
  const cpuFile = path.join(env.HOME, 'cpu-ms');
  fs.rmSync(cpuFile, { force: true });
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--require', path.join(env.HOME, 'cpu-report.cjs'), ...args], {
    env: { ...env, BENCH_CPU_FILE: cpuFile },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.error?.code === 'ETIMEDOUT') throw new Error(`${what} did not finish within ${CHILD_TIMEOUT_MS / 1000} s`);
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}: ${r.stderr}`);
  const imported = JSON.parse(r.stdout.trim().split('\n').pop()).imported;
  if (imported !== LINES) throw new Error(`${what} imported ${imported} of ${LINES} lines`);
  return { ms, cpuMs: Number(fs.readFileSync(cpuFile, 'utf8')) };
}

const sqliteFiles = (db) => [db, `${db}-wal`, `${db}-shm`];

function copyDb(template, db) {
  for (const f of sqliteFiles(db)) fs.rmSync(f, { force: true });
  fs.copyFileSync(template, db);
}

export async function run() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-bench-import-'));
  const betterSqlite3 = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const env = { PATH: process.env.PATH, HOME: tmp, XDG_DATA_HOME: path.join(tmp, 'data'), NO_COLOR: '1', BETTER_SQLITE3: betterSqlite3 };
  const prof = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  try {
    // an empty database with sysemail's schema; the import process closes it (and checkpoints) on exit
    const template = path.join(tmp, 'template.db');
    spawnSync(process.execPath, [BIN, '--db', template, 'params', 'get', 'smtp.host'], { env, stdio: 'ignore', timeout: CHILD_TIMEOUT_MS });
    if (!fs.existsSync(template)) throw new Error('sysemail did not create the benchmark database');
    const file = path.join(tmp, 'import.jsonl');
    fs.writeFileSync(file, importLines(LINES));
    const keyedFile = path.join(tmp, 'import-keyed.jsonl');
    fs.writeFileSync(keyedFile, importLines(LINES, true));
    const script = path.join(tmp, 'plain-import.cjs');
    fs.writeFileSync(script, PLAIN);
    fs.writeFileSync(path.join(tmp, 'cpu-report.cjs'), CPU_REPORT);

    const productRates = [];
    const keyedRates = [];
    const plainRates = [];
    const ratios = [];
    const cpuRatios = [];
    for (let round = 0; round < ROUNDS; round++) {
      const productDb = path.join(tmp, `product-${round}.db`);
      const keyedDb = path.join(tmp, `keyed-${round}.db`);
      const plainDb = path.join(tmp, `plain-${round}.db`);
      copyDb(template, productDb);
      copyDb(template, keyedDb);
      copyDb(template, plainDb);
      const product = () => timedSpawn('sysemail queue import', [...prof, BIN, '--db', productDb, 'queue', 'import', file, '--json'], env);
      const plain = () => timedSpawn('the plain better-sqlite3 import', [script, plainDb, file], env);
      let productRun;
      let plainRun;
      if (round % 2 === 0) {
        plainRun = plain();
        productRun = product();
      } else {
        productRun = product();
        plainRun = plain();
      }
      const keyedRun = timedSpawn(
        'sysemail queue import (idempotency keys)',
        [BIN, '--db', keyedDb, 'queue', 'import', keyedFile, '--json'],
        env,
      );
      keyedRates.push(LINES / (keyedRun.ms / 1000));
      for (const f of sqliteFiles(keyedDb)) fs.rmSync(f, { force: true });
      const productMs = productRun.ms;
      const plainMs = plainRun.ms;
      cpuRatios.push(plainRun.cpuMs / productRun.cpuMs);
      for (const f of [...sqliteFiles(productDb), ...sqliteFiles(plainDb)]) fs.rmSync(f, { force: true });
      productRates.push(LINES / (productMs / 1000));
      plainRates.push(LINES / (plainMs / 1000));
      ratios.push(productRates[round] / plainRates[round]);
    }
    const ratio = median(ratios);
    const cpuRatio = median(cpuRatios);
    const keyedRate = median(keyedRates);
    return [
      {
        name: `queue import, ${LINES} lines`,
        value: Math.round(median(productRates)),
        unit: `messages/s (median of ${ROUNDS} rounds)`,
        target: undefined,
        ok: true,
      },
      {
        name: `queue import, ${LINES} lines with an idempotency key each`,
        value: Math.round(keyedRate),
        unit: `messages/s (median of ${ROUNDS} rounds)`,
        target: `≥ ${KEYED_TARGET}`,
        ok: keyedRate >= KEYED_TARGET,
      },
      {
        name: 'plain better-sqlite3 import, same lines and rows',
        value: Math.round(median(plainRates)),
        unit: `messages/s (median of ${ROUNDS} rounds)`,
        target: undefined,
        ok: true,
      },
      {
        name: `queue import / plain better-sqlite3, median of ${ROUNDS} per-round ratios (${ratios.map((r) => r.toFixed(2)).join(', ')})`,
        value: Number(ratio.toFixed(2)),
        unit: '×',
        target: `≥ ${TARGET}`,
        ok: ratio >= TARGET,
      },
      {
        name: `the same in CPU time (all threads), median of ${ROUNDS} per-round ratios (${cpuRatios.map((r) => r.toFixed(2)).join(', ')})`,
        value: Number(cpuRatio.toFixed(2)),
        unit: '×',
        target: undefined,
        ok: true,
      },
    ];
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run())
    console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} ${r.unit}${r.target ? ` (target ${r.target})` : ''}`);
}
