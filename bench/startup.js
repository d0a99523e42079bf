// Start-up cost of whole processes, measured side by side with `node -e 0` and reported as ratios of
// medians, so a noisy machine moves both sides alike.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'sysemail.js');

function time(args, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

export async function run({ runs = 31 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-bench-'));
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), NO_COLOR: '1' };
  const db = path.join(dir, 'bench.db');
  try {
    time([BIN, '--db', db, 'params', 'set', 'smtp.host', 'mail.example.com'], env);
    const cases = {
      baseline: ['-e', '0'],
      version: [BIN, '--version'],
      paramsGet: [BIN, '--db', db, 'params', 'get', 'smtp.host'],
    };
    const samples = { baseline: [], version: [], paramsGet: [] };
    for (const args of Object.values(cases)) time(args, env); // warm the file cache
    for (let i = 0; i < runs; i++) {
      for (const [name, args] of Object.entries(cases)) samples[name].push(time(args, env));
    }
    // the ratio of each run to the baseline run beside it, then the median: drift in the machine's
    // load between rounds cancels out
    const ratio = (name) => median(samples[name].map((ms, i) => ms / samples.baseline[i]));
    const base = median(samples.baseline);
    const v = ratio('version');
    const g = ratio('paramsGet');
    return [
      { name: 'node -e 0 (baseline)', value: +base.toFixed(1), unit: 'ms', target: null, ok: true },
      {
        name: 'sysemail --version / node -e 0',
        value: +v.toFixed(2),
        unit: `× (${median(samples.version).toFixed(1)} ms)`,
        target: '≤ 1.2',
        ok: v <= 1.2,
      },
      {
        name: 'sysemail params get / node -e 0',
        value: +g.toFixed(2),
        unit: `× (${median(samples.paramsGet).toFixed(1)} ms)`,
        target: '≤ 1.6',
        ok: g <= 1.6,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const r of await run())
    console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} ${r.unit}${r.target ? ` (target ${r.target})` : ''}`);
}
