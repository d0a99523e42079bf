// The PostgreSQL benchmarks (run after `npm run build`; `node bench/postgres.js` runs them alone).
// Exports run() → [{name, value, unit, target, ok}] for bench/run.js. They start a throwaway cluster
// of their own (initdb in a temporary folder, loopback, an ephemeral port, as `nobody` when run as
// root) and stop it at the end; without PostgreSQL installed the section reports that and is skipped.
//
// 1. scaling: PG_SCALE_MESSAGES messages drained into a loopback sink that answers each message after
//    50 ms (as a remote server would), by 1, 2 and 4 `queue run` processes at once (default
//    concurrency) on one database; the figure is 4 processes' rate over 1's (target ≥ 3);
// 2. the drain of 10,000 messages into a sink that answers at once with one distributor on PostgreSQL,
//    as a ratio of its rate to the same on SQLite (target ≥ 0.7), in ROUNDS alternating rounds, each
//    on a fresh copy of one imported database; the median of the per-round ratios;
// 3. `params get` on PostgreSQL against `node -e 0`, side by side, the median of the per-round ratios.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'sysemail.js');
const DRAIN_MESSAGES = Number(process.env.BENCH_PG_DRAIN_MESSAGES || 10_000);
const SCALE_MESSAGES = Number(process.env.PG_SCALE_MESSAGES || 2_000);
const SINK_DELAY_MS = 50;
const ROUNDS = Number(process.env.BENCH_PG_ROUNDS || 3);
const REPEATS = 11;
const CHILD_TIMEOUT_MS = 900_000;
const BODY = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(36).slice(0, 2000);
const USER = 'sysemail_bench';
const PASSWORD = 'bench-only-Pw-41c9';
const NOBODY = 65534;

// ---- a throwaway cluster (the same steps as test/helpers/postgres.ts) -------------------------------

function findPgBin(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && fs.existsSync(file)) return file;
  }
  const root = '/usr/lib/postgresql';
  let versions;
  try {
    versions = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const v of versions) {
    const file = path.join(root, v, 'bin', name);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
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

function runAs(unprivileged, file, args, timeout) {
  const [cmd, argv] = unprivileged
    ? ['setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', file, ...args]]
    : [file, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

async function startCluster() {
  const initdb = findPgBin('initdb');
  const pgCtl = findPgBin('pg_ctl');
  if (!initdb || !pgCtl) return undefined;
  const root = process.geteuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-bench-pg-'));
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, PASSWORD + '\n', { mode: 0o600 });
  if (root) {
    fs.chownSync(dir, NOBODY, NOBODY);
    fs.chownSync(pwfile, NOBODY, NOBODY);
  }
  const init = runAs(
    root,
    initdb,
    ['-D', data, '-U', USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync'],
    120_000,
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.output.trim().split('\n').slice(-3).join(' ')}`);
  const port = await freePort();
  const opts = ['-c listen_addresses=127.0.0.1', `-p ${port}`, `-k ${dir}`, '-c max_connections=200'].join(' ');
  const started = runAs(root, pgCtl, ['start', '-D', data, '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', opts], 90_000);
  if (started.status !== 0) throw new Error(`the PostgreSQL server did not start: ${started.output.trim()}`);
  return {
    url: (db) => `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${db}`,
    stop() {
      runAs(root, pgCtl, ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30'], 40_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function sql(cluster, text, db = 'postgres') {
  const { default: pg } = await import(pathToFileURL(path.join(ROOT, 'node_modules', 'pg', 'lib', 'index.js')).href);
  const client = new pg.Client({ connectionString: cluster.url(db) });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

// ---- the sink, children, figures -------------------------------------------------------------------

const NODE_SINK = `
const { SMTPServer } = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'smtp-server'))});
const delay = Number(process.argv[2]);
const server = new SMTPServer({ disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true, disableReverseLookup: true, logger: false,
  onData(stream, _s, cb) { stream.on('data', () => {}); stream.on('end', () => delay ? setTimeout(() => cb(null, 'ok'), delay) : cb(null, 'ok')); } });
server.listen(Number(process.argv[1]), '127.0.0.1');
`;

/**
 * A sink answering each message after `delayMs`; one that answers at once is Postfix's smtp-sink when
 * installed (as in queue.js: a Node sink takes a core's share itself on a small machine).
 */
async function startSink(delayMs) {
  const port = await freePort();
  const smtpSink = delayMs === 0 && spawnSync('sh', ['-c', 'command -v smtp-sink'], { encoding: 'utf8' }).status === 0;
  const child = smtpSink
    ? // smtp-sink refuses to run as root without a user to drop to
      spawn('smtp-sink', [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-c', `127.0.0.1:${port}`, '1000'], { stdio: 'ignore' })
    : spawn(process.execPath, ['-e', NODE_SINK, String(port), String(delayMs)], { stdio: 'ignore' });
  for (let end = Date.now() + 10_000; ;) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => (sock.destroy(), resolve(true)));
      sock.once('error', () => (sock.destroy(), resolve(false)));
    });
    if (ok) break;
    if (Date.now() > end) throw new Error('the sink did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, kind: smtpSink ? 'smtp-sink' : 'a Node sink', close: () => child.kill('SIGKILL') };
}

function env(dir) {
  return { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'share'), NO_COLOR: '1', SYSEMAIL_DB: '' };
}

function cli(args, e) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: e, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`sysemail ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/** Runs `count` `queue run` processes at once on `db`; the wall time from the first spawn to the last exit. */
function drain(db, count, e) {
  const started = process.hrtime.bigint();
  const children = Array.from(
    { length: count },
    () =>
      new Promise((resolve, reject) => {
        const c = spawn(process.execPath, [BIN, '--db', db, 'queue', 'run'], { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d) => (err += d));
        const t = setTimeout(() => c.kill('SIGKILL'), CHILD_TIMEOUT_MS);
        c.on('exit', (code, sig) => {
          clearTimeout(t);
          if (code === 0) resolve();
          else reject(new Error(`queue run exited ${code ?? sig}: ${err}`));
        });
      }),
  );
  return Promise.all(children).then(() => Number(process.hrtime.bigint() - started) / 1e6);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function importFile(dir, n) {
  const file = path.join(dir, `q${n}.jsonl`);
  const lines = [];
  for (let i = 0; i < n; i++)
    lines.push(JSON.stringify({ from: 'bench@example.com', to: `rcpt${i}@example.com`, subject: `Benchmark ${i}`, text: BODY }));
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** A database holding `n` due messages and parameters pointing at `port`, made once and copied per round. */
function prepare(db, port, file, e) {
  cli(
    [
      '--db',
      db,
      'params',
      'set',
      'smtp.host',
      '127.0.0.1',
      'smtp.port',
      String(port),
      'smtp.security',
      'none',
      'smtp.authRequired',
      'false',
    ],
    e,
  );
  cli(['--db', db, 'queue', 'import', file], e);
}

let copies = 0;
async function pgCopy(cluster, template) {
  const name = `bench_copy_${++copies}`;
  await sql(cluster, `CREATE DATABASE ${name} TEMPLATE ${template}`);
  return name;
}

async function sectionScale(cluster, dir, e) {
  const sink = await startSink(SINK_DELAY_MS);
  try {
    await sql(cluster, 'CREATE DATABASE bench_scale');
    prepare(cluster.url('bench_scale'), sink.port, importFile(dir, SCALE_MESSAGES), e);
    const rates = {};
    for (const n of [1, 2, 4]) {
      const db = await pgCopy(cluster, 'bench_scale');
      const ms = await drain(cluster.url(db), n, e);
      const left = await sql(cluster, "SELECT count(*)::int AS n FROM messages WHERE status <> 'sent'", db);
      if (left[0].n !== 0) throw new Error(`${left[0].n} messages were not sent by ${n} processes`);
      rates[n] = SCALE_MESSAGES / (ms / 1000);
      await sql(cluster, `DROP DATABASE ${db}`);
    }
    const ratio = rates[4] / rates[1];
    return [
      {
        name: `PostgreSQL drain into a ${SINK_DELAY_MS} ms sink, ${SCALE_MESSAGES} messages: 1 / 2 / 4 processes`,
        value: `${rates[1].toFixed(0)} / ${rates[2].toFixed(0)} / ${rates[4].toFixed(0)}`,
        unit: 'msg/s',
        ok: true,
      },
      { name: 'PostgreSQL drain, 4 processes over 1', value: ratio.toFixed(2), unit: '×', target: '≥ 3', ok: ratio >= 3 },
    ];
  } finally {
    sink.close();
  }
}

async function sectionDrain(cluster, dir, e) {
  const sink = await startSink(0);
  try {
    const file = importFile(dir, DRAIN_MESSAGES);
    const sqliteTemplate = path.join(dir, 'template.db');
    prepare(sqliteTemplate, sink.port, file, e);
    await sql(cluster, 'CREATE DATABASE bench_drain');
    prepare(cluster.url('bench_drain'), sink.port, file, e);
    const ratios = [];
    const rates = [];
    for (let round = 0; round < ROUNDS; round++) {
      const lite = path.join(dir, `round${round}.db`);
      fs.copyFileSync(sqliteTemplate, lite);
      const pgDb = await pgCopy(cluster, 'bench_drain');
      let liteMs;
      let pgMs;
      if (round % 2 === 0) {
        pgMs = await drain(cluster.url(pgDb), 1, e);
        liteMs = await drain(lite, 1, e);
      } else {
        liteMs = await drain(lite, 1, e);
        pgMs = await drain(cluster.url(pgDb), 1, e);
      }
      ratios.push(liteMs / pgMs);
      rates.push(`${(DRAIN_MESSAGES / (pgMs / 1000)).toFixed(0)}/${(DRAIN_MESSAGES / (liteMs / 1000)).toFixed(0)}`);
      fs.rmSync(lite, { force: true });
      await sql(cluster, `DROP DATABASE ${pgDb}`);
    }
    const r = median(ratios);
    return [
      {
        name: `drain of ${DRAIN_MESSAGES} messages into ${sink.kind}, one distributor: PostgreSQL rate over SQLite (per round ${ratios.map((x) => x.toFixed(2)).join(', ')}; msg/s PostgreSQL/SQLite ${rates.join(', ')})`,
        value: r.toFixed(2),
        unit: '×',
        target: '≥ 0.7',
        ok: r >= 0.7,
      },
    ];
  } finally {
    sink.close();
  }
}

async function sectionParamsGet(cluster, e) {
  await sql(cluster, 'CREATE DATABASE bench_params');
  const db = cluster.url('bench_params');
  cli(['--db', db, 'params', 'set', 'smtp.host', 'mail.example.com'], e);
  const time = (args) => {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { env: e, stdio: 'ignore', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const ratios = [];
  for (let i = 0; i < REPEATS; i++) {
    const base = time(['-e', '0']);
    const get = time([BIN, '--db', db, 'params', 'get', 'smtp.host']);
    ratios.push(get / base);
  }
  const r = median(ratios);
  return [{ name: '`params get` on PostgreSQL over `node -e 0`', value: r.toFixed(2), unit: '×', ok: true }];
}

export async function run() {
  const cluster = await startCluster();
  if (!cluster) return [{ name: 'PostgreSQL benchmarks', value: 'skipped: PostgreSQL is not installed', ok: true }];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-bench-pgq-'));
  const e = env(dir);
  try {
    const only = process.env.BENCH_ONLY;
    const out = [];
    if (!only || only === 'pg-scale') out.push(...(await sectionScale(cluster, dir, e)));
    if (!only || only === 'pg-drain') out.push(...(await sectionDrain(cluster, dir, e)));
    if (!only || only === 'pg-params') out.push(...(await sectionParamsGet(cluster, e)));
    return out;
  } finally {
    cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await run())
    console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} ${r.unit ?? ''}${r.target ? ` (target ${r.target})` : ''}`);
}
