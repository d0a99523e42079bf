// Benchmark: one message with a 20 MB attachment sent through the built CLI
// (`node bin/sysemail.js send ... --provider smtp`) to a loopback SMTP sink that discards the data.
// Measures the peak resident memory of the sysemail process against the 150 MiB target: attachments
// must be streamed from disk, never held whole (base64 included) in memory.
//
// Run after `npm run build`: `node bench/send-large.js`, or through `npm run bench` (bench/run.js calls run()).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SMTPServer } from 'smtp-server';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'sysemail.js');
const ATTACHMENT_BYTES = 20 * 1024 * 1024;
const TARGET_MIB = 150;
const POLL_MS = 10;

function startSink() {
  let received = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', (chunk) => {
        received += chunk.length;
      });
      stream.on('end', () => callback(null, 'discarded'));
    },
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: server.server.address().port, received: () => received, close: () => new Promise((r) => server.close(r)) }),
    );
  });
}

/** Runs the child under `/usr/bin/time -v` when present, else polls /proc/<pid>/status for VmHWM. */
function runMeasured(args, env) {
  const useTime = fs.existsSync('/usr/bin/time');
  const child = useTime
    ? spawn('/usr/bin/time', ['-v', process.execPath, BIN, ...args], { env })
    : spawn(process.execPath, [BIN, ...args], { env });
  let stderr = '';
  let stdout = '';
  let peakKb = 0;
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stdout += d));
  const timer = useTime
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) peakKb = Math.max(peakKb, Number(m[1]));
        } catch {
          // the process is gone
        }
      }, POLL_MS);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      if (timer) clearInterval(timer);
      if (useTime) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
        if (m) peakKb = Number(m[1]);
        stderr = stderr.replace(/\n\s*Command being timed:[\s\S]*$/, '');
      }
      resolve({ code, peakKb, stdout, stderr, method: useTime ? '/usr/bin/time -v' : '/proc VmHWM' });
    });
  });
}

/** One measured send; with `dkim`, a registered RSA key for the From domain signs it (nodemailer's DKIM). */
async function measure(dkim) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-bench-large-'));
  const sink = await startSink();
  try {
    const env = { PATH: process.env.PATH, HOME: tmp, XDG_DATA_HOME: path.join(tmp, 'data'), NO_COLOR: '1' };
    const db = path.join(tmp, 'sysemail.db');
    const file = path.join(tmp, 'large-attachment.bin');
    const fd = fs.openSync(file, 'w');
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < ATTACHMENT_BYTES / block.length; i++) fs.writeSync(fd, block.fill(i % 251));
    fs.closeSync(fd);
    const set = spawnSync(
      process.execPath,
      [
        BIN,
        '--db',
        db,
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
        'limits.maxMessageMb',
        '40',
      ],
      { env, encoding: 'utf8' },
    );
    if (set.status !== 0) throw new Error(`params set failed: ${set.stderr}`);
    if (dkim) {
      const key = spawnSync(
        process.execPath,
        [BIN, '--db', db, 'dkim', 'keygen', '--domain', 'example.com', '--selector', 'bench', '--out', path.join(tmp, 'dkim.pem')],
        { env, encoding: 'utf8' },
      );
      if (key.status !== 0) throw new Error(`dkim keygen failed: ${key.stderr}`);
    }
    const r = await runMeasured(
      [
        '--db',
        db,
        'send',
        '--provider',
        'smtp',
        '--to',
        'sink@example.com',
        '--from',
        'bench@example.com',
        '--subject',
        'large attachment',
        '--body',
        'see attachment',
        '--attach',
        file,
        '--json',
      ],
      env,
    );
    const mib = Math.round((r.peakKb / 1024) * 10) / 10;
    const delivered = sink.received() > ATTACHMENT_BYTES;
    return {
      name: `peak RSS of \`send\` with a 20 MB attachment over SMTP, DKIM ${dkim ? 'on (rsa-sha256)' : 'off'} (${r.method})${r.code === 0 && delivered ? '' : ` — send FAILED (exit ${r.code}): ${r.stderr.trim()}`}`,
      value: mib,
      unit: 'MiB',
      target: `≤ ${TARGET_MIB} MiB`,
      ok: r.code === 0 && delivered && r.peakKb > 0 && mib <= TARGET_MIB,
    };
  } finally {
    await sink.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Both, side by side: signing holds the body in a private file while it is hashed, never in memory. */
export async function run() {
  return [await measure(false), await measure(true)];
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const results = await run();
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} ${r.unit} (target ${r.target})`);
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}
