/**
 * The files in contrib/ work as written: each ExecStart line and the cron command run verbatim as an
 * unprivileged account with HOME=/nonexistent and the unit's Environment=, against a real SMTP
 * server. Two things are mapped, as an installation would provide them: the absolute path of the
 * installed `sysemail` becomes this checkout's bin/sysemail.js, and /var/lib/sysemail (systemd's
 * StateDirectory=) becomes a private folder of the test.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';
import {
  asService,
  serviceAccountCanRun,
  serviceFolder,
  startAsService,
  writeServiceFile,
  type ServiceFolder,
} from '../helpers/service-user.js';

const CONTRIB = path.join(ROOT, 'contrib');
const INSTALLED_BIN = '/usr/local/bin/sysemail';
const STATE_DIR = '/var/lib/sysemail';
const PASSWORD = 'contrib-e2e-pw';
const CAN_RUN = serviceAccountCanRun();

interface Unit {
  sections: Map<string, Map<string, string[]>>;
}

function parseUnit(file: string): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of fs.readFileSync(path.join(CONTRIB, file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`${file}: cannot read line '${line}'`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return { sections };
}

const one = (u: Unit, section: string, key: string): string | undefined => u.sections.get(section)?.get(key)?.at(-1);

/** Environment= lines: `A=b C=d` or `"A=b c"`. */
function unitEnvironment(u: Unit): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of u.sections.get('Service')?.get('Environment') ?? []) {
    for (const m of value.matchAll(/"([^"]*)"|(\S+)/g)) {
      const word = m[1] ?? m[2];
      const eq = word.indexOf('=');
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** A plain command line (no quotes, no variables) split into words, the installed binary mapped. */
function commandWords(line: string): { file: string; args: string[] } {
  expect(line, 'a command line without quoting, so it runs the same under systemd, cron and a shell').toMatch(/^[\w/.=: -]+$/);
  const [file, ...args] = line.trim().split(/\s+/);
  expect(file).toBe(INSTALLED_BIN);
  return { file: BIN, args };
}

const mapState = (value: string, state: ServiceFolder) => value.split(STATE_DIR).join(state.dir);

let server: TestSmtpServer;
const folders: ServiceFolder[] = [];

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
});
afterAll(async () => {
  await server.close();
  for (const f of folders) f.cleanup();
});

/** The state folder as an administrator sets it up following docs/deployment.md, one message queued. */
async function deployed(env: Record<string, string>): Promise<ServiceFolder> {
  const f = serviceFolder('sysemail-contrib-');
  folders.push(f);
  expect(env.SYSEMAIL_DB && mapState(env.SYSEMAIL_DB, f)).toBe(f.db);
  writeServiceFile(path.join(f.dir, 'ca.pem'), testPki().ca, 0o644);
  writeServiceFile(path.join(f.dir, 'smtp-password'), PASSWORD);
  const set = await asService(
    [
      '--db',
      f.db,
      'params',
      'set',
      'smtp.host',
      '127.0.0.1',
      'smtp.port',
      String(server.port),
      'smtp.caFile',
      'ca.pem',
      'smtp.username',
      'app',
      'smtp.passwordFile',
      'smtp-password',
      'sender.default',
      'app@example.com',
    ],
    { cwd: f.dir },
  );
  expect(set.exitCode, set.stderr).toBe(0);
  const q = await asService(
    ['--db', f.db, 'send', '--queue', '--to', 'ann@example.com', '--subject', `via ${path.basename(f.root)}`, '--body', 'hello'],
    { cwd: f.dir },
  );
  expect(q.exitCode, q.stderr).toBe(0);
  return f;
}

function delivered(f: ServiceFolder): number {
  return server.messages.filter((m) => m.toString('latin1').includes(`via ${path.basename(f.root)}`)).length;
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('contrib/ systemd units', () => {
  it.each(['sysemail.service', 'sysemail-run.service'])(
    '%s runs as the dedicated user with its state in /var/lib/sysemail, hardened',
    (file) => {
      const u = parseUnit(file);
      expect(one(u, 'Service', 'User')).toBe('sysemail');
      expect(one(u, 'Service', 'StateDirectory')).toBe('sysemail');
      expect(unitEnvironment(u)).toMatchObject({ SYSEMAIL_DB: `${STATE_DIR}/sysemail.db` });
      for (const [k, v] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['ProtectHome', 'true'],
        ['PrivateTmp', 'yes'],
      ])
        expect(one(u, 'Service', k), k).toBe(v);
      expect(u.sections.get('Service')?.get('ExecStart')).toHaveLength(1);
    },
  );

  it('the timer starts the one-pass service', () => {
    const timer = parseUnit('sysemail-run.timer');
    expect(one(timer, 'Timer', 'Unit')).toBe('sysemail-run.service');
    expect(one(timer, 'Timer', 'OnCalendar')).toBeTruthy();
    expect(one(timer, 'Install', 'WantedBy')).toBe('timers.target');
    expect(one(parseUnit('sysemail-run.service'), 'Service', 'Type')).toBe('oneshot');
  });
});

describe.runIf(CAN_RUN)('contrib/ command lines, run as an unprivileged user', () => {
  it('sysemail-run.service: its ExecStart delivers the queued message and prints nothing', async () => {
    const u = parseUnit('sysemail-run.service');
    const env = unitEnvironment(u);
    const f = await deployed(env);
    const { file, args } = commandWords(one(u, 'Service', 'ExecStart')!);
    const r = await startAsService(
      file,
      args.map((a) => mapState(a, f)),
      {
        cwd: mapState(one(u, 'Service', 'WorkingDirectory')!, f),
        env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, mapState(v, f)])),
      },
    );
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout) + String(r.stderr)).toBe('');
    expect(delivered(f)).toBe(1);
  });

  it('sysemail.service: queue run --watch delivers, then stops cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const u = parseUnit('sysemail.service');
    expect(one(u, 'Service', 'KillSignal') ?? 'SIGTERM').toBe('SIGTERM');
    const env = unitEnvironment(u);
    const f = await deployed(env);
    const { file, args } = commandWords(one(u, 'Service', 'ExecStart')!);
    expect(args).toContain('--watch');
    const child = startAsService(
      file,
      args.map((a) => mapState(a, f)),
      {
        cwd: mapState(one(u, 'Service', 'WorkingDirectory')!, f),
        env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, mapState(v, f)])),
        timeout: 50_000,
      },
    );
    try {
      await until(() => delivered(f) === 1, 'the delivery');
    } finally {
      child.kill('SIGTERM');
    }
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.signal).toBeUndefined();
    expect(delivered(f)).toBe(1);
  });

  it("sysemail.cron: its command line, as cron runs it (sh -c, the file's variables), delivers and prints nothing", async () => {
    const env: Record<string, string> = {};
    const jobs: { user: string; command: string }[] = [];
    for (const raw of fs.readFileSync(path.join(CONTRIB, 'sysemail.cron'), 'utf8').split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (assignment) env[assignment[1]] = assignment[2];
      else {
        const fields = line.split(/\s+/);
        jobs.push({ user: fields[5], command: fields.slice(6).join(' ') });
      }
    }
    expect(jobs).toEqual([{ user: 'sysemail', command: expect.stringContaining(INSTALLED_BIN) }]);
    expect(env.SYSEMAIL_DB).toBe(`${STATE_DIR}/sysemail.db`);
    const f = await deployed(env);
    const command = mapState(jobs[0].command.split(INSTALLED_BIN).join(BIN), f);
    const { PATH: cronPath, SHELL: shell = '/bin/sh', ...rest } = env;
    const r = await startAsService(shell, ['-c', command], {
      // cron starts the job in the account's home; the deployment guide makes that /var/lib/sysemail
      cwd: f.dir,
      env: {
        ...Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, mapState(v, f)])),
        PATH: `${path.dirname(process.execPath)}:${cronPath}`,
      },
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout) + String(r.stderr)).toBe('');
    expect(delivered(f)).toBe(1);
  });
});

describe('the deployment guide', () => {
  const guide = fs.readFileSync(path.join(ROOT, 'docs', 'deployment.md'), 'utf8');

  it('installs exactly the files in contrib/, and every contrib/ file it names exists', () => {
    const shipped = fs.readdirSync(CONTRIB).sort();
    const named = [...new Set([...guide.matchAll(/contrib\/([\w.-]+)/g)].map((m) => m[1]))].sort();
    expect(named).toEqual(shipped);
  });

  it('is linked from the README', () => {
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain('docs/deployment.md');
  });
});

describe('npm pack', () => {
  it('makes a package that runs: bin, the build and contrib/ inside, sysemail on PATH through "bin"', { timeout: 60_000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-pack-'));
    try {
      // the build is there already (npm test builds first); --ignore-scripts skips building it again
      const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 50_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
      const files = info.files.map((x) => x.path);
      expect(files).toEqual(
        expect.arrayContaining([
          'bin/sysemail.js',
          'dist/cli/main.js',
          'package.json',
          'contrib/sysemail.service',
          'contrib/sysemail.cron',
          'docs/deployment.md',
        ]),
      );
      expect(files.filter((x) => x.startsWith('src/') || x.startsWith('test/'))).toEqual([]);
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
      expect(pkg.bin).toEqual({ sysemail: 'bin/sysemail.js' });

      execFileSync('tar', ['-xzf', path.join(dir, info.filename), '-C', dir], { timeout: 20_000 });
      const unpacked = path.join(dir, 'package');
      // the dependencies an install would fetch: this checkout's
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(unpacked, 'node_modules'));
      const bin = path.join(unpacked, 'bin', 'sysemail.js');
      expect(fs.statSync(bin).mode & 0o111).not.toBe(0);
      const version = execFileSync(bin, ['--version'], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: '/nonexistent' },
      });
      expect(version.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const status = execFileSync(bin, ['--db', path.join(dir, 'x.db'), 'queue', 'status', '--json'], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: '/nonexistent' },
      });
      expect(JSON.parse(status)).toMatchObject({ counts: { pending: 0 } });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
