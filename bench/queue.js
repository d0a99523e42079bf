// The distributor and history benchmarks (run after `npm run build`; `node bench/queue.js`
// runs them alone). Exports run() → [{name, value, unit, target, ok}] for bench/run.js.
//
// 1. drain 10,000 queued 2 KB messages with `sysemail queue run --concurrency N` into a loopback sink
//    (Postfix's smtp-sink when installed, else a Node sink in its own process), compared with plain
//    pooled nodemailer tuned for a drain (no reconnect every 100 messages, four sends queued per
//    connection) sending the same messages to the same sink (target ≥ 0.9). Both senders run in
//    their own child process, timed from spawn to exit. ROUNDS rounds (5, or BENCH_DRAIN_ROUNDS), each
//    on a fresh copy of one imported database, run the two back to back in alternating order (plain
//    first in even rounds); the ratio is the median of the per-round ratios;
// 2. `history --failed --limit 50` over 1,000,000 stored messages against `params get`, run side by side
//    (≤ 1.5×, the median of the per-round ratios).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'sysemail.js');
const DRAIN_MESSAGES = 10_000;
const CONCURRENCY = 4;
const ROUNDS = drainRounds(process.env.BENCH_DRAIN_ROUNDS);
/** Every child the benchmarks spawn is killed after this long, so a stuck run ends the bench. */
const CHILD_TIMEOUT_MS = 120_000;
const HISTORY_ROWS = 1_000_000;
/** Side-by-side rounds of `history` and `params get`: the ratio is the median of the per-round ratios. */
const REPEATS = 11;
const BODY = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(36).slice(0, 2000);

function drainRounds(value) {
  if (value === undefined || value === '') return 5;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_DRAIN_ROUNDS must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port, ms = 10_000) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > end) reject(new Error(`sink on port ${port} did not start`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

const NODE_SINK = `
const { SMTPServer } = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'smtp-server'))});
const server = new SMTPServer({ disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true, disableReverseLookup: true, logger: false,
  onData(stream, _s, cb) { stream.on('data', () => {}); stream.on('end', () => cb(null, 'discarded')); } });
server.listen(Number(process.argv[1]), '127.0.0.1');
`;

/** The sink runs in its own process either way, so neither sender shares an event loop with it. */
async function startSink() {
  const port = await freePort();
  const haveSmtpSink = spawnSync('sh', ['-c', 'command -v smtp-sink'], { encoding: 'utf8' }).status === 0;
  const child = haveSmtpSink
    ? // smtp-sink refuses to run as root without a user to drop to
      spawn('smtp-sink', [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-c', `127.0.0.1:${port}`, '1000'], { stdio: 'ignore' })
    : spawn(process.execPath, ['-e', NODE_SINK, String(port)], { stdio: 'ignore' });
  const close = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  try {
    await waitForPort(port);
  } catch (err) {
    await close();
    throw err;
  }
  return { port, kind: haveSmtpSink ? 'smtp-sink' : 'node sink', close };
}

/**
 * Loaded first into each drain child: writes the CPU time the whole process used (every thread) to
 * BENCH_CPU_FILE as its main thread exits.
 */
const CPU_REPORT = `if (require('node:worker_threads').isMainThread) process.on('exit', () => {
  const u = process.cpuUsage();
  require('node:fs').writeFileSync(process.env.BENCH_CPU_FILE, String((u.user + u.system) / 1000));
});
`;

/**
 * Runs a child to completion (killed after CHILD_TIMEOUT_MS) and measures its wall time from spawn to
 * exit; with `cpu`, also the CPU time it reports (cpuMs).
 */
function timedSpawn(what, args, env, input, cpu = false) {
  const cpuFile = path.join(env.HOME, 'cpu-ms');
  if (cpu) fs.rmSync(cpuFile, { force: true });
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, cpu ? ['--require', path.join(env.HOME, 'cpu-report.cjs'), ...args] : args, {
    env: cpu ? { ...env, BENCH_CPU_FILE: cpuFile } : env,
    encoding: 'utf8',
    input,
    maxBuffer: 64 * 1024 * 1024,
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.error?.code === 'ETIMEDOUT') throw new Error(`${what} did not finish within ${CHILD_TIMEOUT_MS / 1000} s`);
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return { ms, stdout: r.stdout, cpuMs: cpu ? Number(fs.readFileSync(cpuFile, 'utf8')) : undefined };
}

function cli(args, env, input, cpu = false) {
  const prof = process.env.BENCH_PROF && args.includes('run') ? ['--cpu-prof', '--cpu-prof-dir=/tmp/qprof'] : [];
  return timedSpawn(`sysemail ${args.join(' ')}`, [...prof, BIN, ...args], env, input, cpu);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function message(i) {
  return { from: 'bench@example.com', to: `rcpt${i}@example.com`, subject: `Benchmark message ${i}`, text: BODY };
}

/**
 * The baseline: plain pooled nodemailer, configured as a careful engineer would for a bulk drain: the
 * connections are never recycled (`maxMessages: Infinity`; the default reconnects every 100 messages)
 * and each connection has PER_CONNECTION sends queued, so none idles between two messages. In its own
 * process like `sysemail queue run`. Prints {"sent": N}. BENCH_BASELINE=untuned runs the earlier
 * baseline (default maxMessages, one send in flight per connection), for comparison only.
 */
const PER_CONNECTION = 4;
const PLAIN_NODEMAILER = `
const nodemailer = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'nodemailer'))});
const BODY = ${JSON.stringify(BODY)};
${message.toString()}
const [port, count, concurrency, inFlight, maxMessages] = process.argv.slice(2).map(Number);
const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: concurrency, maxMessages });
let next = 0;
let sent = 0;
Promise.all(
  Array.from({ length: inFlight }, async () => {
    while (next < count) {
      const i = next++;
      await transport.sendMail({ ...message(i), messageId: \`<plain.\${i}@example.com>\` });
      sent++;
    }
  }),
).then(
  () => {
    transport.close();
    process.stdout.write(JSON.stringify({ sent }) + '\\n');
  },
  (err) => {
    transport.close();
    console.error(err);
    process.exitCode = 1;
  },
);
`;

const UNTUNED = process.env.BENCH_BASELINE === 'untuned';

function plainNodemailer(script, port, count, env) {
  const inFlight = UNTUNED ? CONCURRENCY : CONCURRENCY * PER_CONNECTION;
  const maxMessages = UNTUNED ? 100 : Infinity;
  const r = timedSpawn(
    'plain nodemailer',
    [script, String(port), String(count), String(CONCURRENCY), String(inFlight), String(maxMessages)],
    env,
    undefined,
    true,
  );
  const { sent } = JSON.parse(r.stdout.trim().split('\n').pop());
  if (sent !== count) throw new Error(`plain nodemailer sent ${sent} of ${count}`);
  return r;
}

function queueRun(db, env) {
  const r = cli(['--db', db, 'queue', 'run', '--concurrency', String(CONCURRENCY), '--json'], env, undefined, true);
  const last = JSON.parse(r.stdout.trim().split('\n').pop());
  if (last.sent !== DRAIN_MESSAGES) throw new Error(`queue run sent ${last.sent} of ${DRAIN_MESSAGES}`);
  return r;
}

const sqliteFiles = (db) => [db, `${db}-wal`, `${db}-shm`];

/** A fresh copy of the template database; its WAL comes along if the import left one with content. */
function copyDb(template, db) {
  for (const f of sqliteFiles(db)) fs.rmSync(f, { force: true });
  fs.copyFileSync(template, db);
  const wal = `${template}-wal`;
  if (fs.existsSync(wal) && fs.statSync(wal).size > 0) fs.copyFileSync(wal, `${db}-wal`);
}

function jsonl(count) {
  let out = '';
  for (let i = 0; i < count; i++) out += JSON.stringify(message(i)) + '\n';
  return out;
}

export async function drain(tmp, env) {
  const sink = await startSink();
  try {
    // One import into a template; cli() returns only after the import process has exited, so the
    // database is closed (and its WAL checkpointed) before any copy is made.
    const template = path.join(tmp, 'drain-template.db');
    cli(
      [
        '--db',
        template,
        'params',
        'set',
        'smtp.host',
        '127.0.0.1',
        'smtp.port',
        String(sink.port),
        'smtp.security',
        'none',
        'smtp.authRequired',
        'false',
      ],
      env,
    );
    const file = path.join(tmp, 'drain.jsonl');
    fs.writeFileSync(file, jsonl(DRAIN_MESSAGES));
    cli(['--db', template, 'queue', 'import', file], env);
    const script = path.join(tmp, 'plain-nodemailer.cjs');
    fs.writeFileSync(script, PLAIN_NODEMAILER);
    fs.writeFileSync(path.join(tmp, 'cpu-report.cjs'), CPU_REPORT);

    const queueRates = [];
    const plainRates = [];
    const ratios = [];
    const queueCpu = [];
    const plainCpu = [];
    for (let round = 0; round < ROUNDS; round++) {
      const db = path.join(tmp, `drain-${round}.db`);
      copyDb(template, db);
      let plain;
      let queue;
      if (round % 2 === 0) {
        plain = plainNodemailer(script, sink.port, DRAIN_MESSAGES, env);
        queue = queueRun(db, env);
      } else {
        queue = queueRun(db, env);
        plain = plainNodemailer(script, sink.port, DRAIN_MESSAGES, env);
      }
      for (const f of sqliteFiles(db)) fs.rmSync(f, { force: true });
      queueRates.push(DRAIN_MESSAGES / (queue.ms / 1000));
      plainRates.push(DRAIN_MESSAGES / (plain.ms / 1000));
      ratios.push(queueRates[round] / plainRates[round]);
      queueCpu.push((queue.cpuMs * 1000) / DRAIN_MESSAGES);
      plainCpu.push((plain.cpuMs * 1000) / DRAIN_MESSAGES);
    }
    const ratio = median(ratios);
    // CPU time moves less than wall time on a busy machine: plain's CPU per message over queue run's
    const cpuRatios = queueCpu.map((q, i) => plainCpu[i] / q);
    return [
      {
        name: `queue run drain, ${DRAIN_MESSAGES} × 2 KB, --concurrency ${CONCURRENCY} (${sink.kind})`,
        value: Math.round(median(queueRates)),
        unit: `messages/s (median of ${ROUNDS} rounds)`,
        target: undefined,
        ok: true,
      },
      {
        name: `plain pooled nodemailer${UNTUNED ? ' (untuned: maxMessages 100, one send per connection)' : ', maxMessages Infinity, 4 sends queued per connection'}, same messages and sink`,
        value: Math.round(median(plainRates)),
        unit: `messages/s (median of ${ROUNDS} rounds)`,
        target: undefined,
        ok: true,
      },
      {
        name: `queue run / plain nodemailer, median of ${ROUNDS} per-round ratios (${ratios.map((r) => r.toFixed(2)).join(', ')})`,
        value: Number(ratio.toFixed(2)),
        unit: '×',
        target: '≥ 0.9',
        ok: ratio >= 0.9,
      },
      {
        name: `CPU per message (all threads of the sender, not the sink): queue run ${queueCpu.map((c) => c.toFixed(0)).join(', ')}; plain nodemailer ${plainCpu.map((c) => c.toFixed(0)).join(', ')}`,
        value: Math.round(median(queueCpu)),
        unit: 'µs (median, queue run)',
        target: undefined,
        ok: true,
      },
      {
        name: `plain nodemailer's CPU per message / queue run's, median of ${ROUNDS} per-round ratios (${cpuRatios.map((r) => r.toFixed(2)).join(', ')})`,
        value: Number(median(cpuRatios).toFixed(2)),
        unit: '×',
        target: undefined,
        ok: true,
      },
    ];
  } finally {
    await sink.close();
  }
}

function historyBench(tmp, env) {
  const db = path.join(tmp, 'history.db');
  cli(['--db', db, 'params', 'get', 'smtp.host'], env); // creates the schema
  const sqlite = new Database(db);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = OFF');
  const insert =
    sqlite.prepare(`INSERT INTO messages (status, from_addr, to_addrs, subject, text_body, created_at, due_at, updated_at, sent_at, attempts, last_error, diagnosis)
    VALUES (?, 'bench@example.com', ?, ?, 'hello', ?, ?, ?, ?, 1, ?, ?)`);
  const now = Date.now();
  const failure = JSON.stringify({
    provider: 'smtp',
    code: 'EENVELOPE',
    responseCode: 550,
    enhancedCode: '5.1.1',
    response: '550 5.1.1 <x@example.com>: Recipient address rejected: User unknown',
  });
  sqlite.transaction(() => {
    for (let i = 0; i < HISTORY_ROWS; i++) {
      const t = now - (HISTORY_ROWS - i) * 2000;
      const failed = i % 50 === 0;
      insert.run(
        failed ? 'failed' : 'sent',
        `["rcpt${i}@example.com"]`,
        `Message ${i}`,
        t,
        t,
        t,
        failed ? null : t,
        failed ? failure : null,
        failed ? 'RECIPIENT_UNKNOWN' : null,
      );
    }
  })();
  sqlite.close();
  const history = [];
  const params = [];
  cli(['--db', db, 'history', '--failed', '--limit', '50', '--json'], env); // warm the file cache
  for (let i = 0; i < REPEATS; i++) {
    const h = cli(['--db', db, 'history', '--failed', '--limit', '50', '--json'], env);
    if (JSON.parse(h.stdout).length !== 50) throw new Error('history --failed --limit 50 did not return 50 rows');
    history.push(h.ms);
    params.push(cli(['--db', db, 'params', 'get', 'smtp.port'], env).ms);
  }
  // each round's ratio, then the median: drift in the machine's load between rounds cancels out
  const ratio = median(history.map((ms, i) => ms / params[i]));
  return [
    {
      name: `history --failed --limit 50 over ${HISTORY_ROWS} messages`,
      value: Math.round(median(history)),
      unit: 'ms (median)',
      target: undefined,
      ok: true,
    },
    { name: 'params get, same database', value: Math.round(median(params)), unit: 'ms (median)', target: undefined, ok: true },
    {
      name: `history / params get, median of ${REPEATS} side-by-side ratios`,
      value: Number(ratio.toFixed(2)),
      unit: '×',
      target: '≤ 1.5',
      ok: ratio <= 1.5,
    },
  ];
}

export async function run() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-bench-queue-'));
  const env = { PATH: process.env.PATH, HOME: tmp, XDG_DATA_HOME: path.join(tmp, 'data'), NO_COLOR: '1' };
  try {
    // BENCH_ONLY=drain (or history): that part alone, e.g. while tuning the distributor
    const only = process.env.BENCH_ONLY;
    const want = (part) => !only || only === part;
    return [...(want('drain') ? await drain(tmp, env) : []), ...(want('history') ? historyBench(tmp, env) : [])];
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run())
    console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} ${r.unit}${r.target ? ` (target ${r.target})` : ''}`);
}
