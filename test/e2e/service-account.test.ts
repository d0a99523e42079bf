/**
 * sysemail under a service account: HOME=/nonexistent, the database in a folder the account owns, and
 * an administrator who runs commands on that database as root.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';
import {
  IS_ROOT,
  SERVICE_GID,
  SERVICE_UID,
  SETPRIV,
  asAdmin,
  asService,
  serviceAccountCanRun,
  serviceFolder,
  writeServiceFile,
  type ServiceFolder,
} from '../helpers/service-user.js';

const PASSWORD = 'svc-e2e-pw';
const CAN_RUN = serviceAccountCanRun();
let server: TestSmtpServer;
const folders: ServiceFolder[] = [];

beforeAll(async () => {
  server = await startSmtpServer({ users: { app: PASSWORD } });
});
afterAll(async () => {
  await server.close();
  for (const f of folders) f.cleanup();
});

/** A service folder whose database points at the test server, set up by the service account itself. */
async function configured(): Promise<ServiceFolder> {
  const f = serviceFolder();
  folders.push(f);
  writeServiceFile(path.join(f.dir, 'ca.pem'), testPki().ca, 0o644);
  writeServiceFile(path.join(f.dir, 'smtp-password'), PASSWORD);
  const set = await asService(
    [
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
    { cwd: f.dir, env: { SYSEMAIL_DB: f.db } },
  );
  expect(set.exitCode, set.stderr).toBe(0);
  return f;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...walk(p));
  }
  return out;
}

function statuses(db: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT status FROM messages ORDER BY id').pluck().all() as string[];
  } finally {
    d.close();
  }
}

describe.runIf(CAN_RUN)('a service account with HOME=/nonexistent', () => {
  it(
    'queues with an attachment, runs the queue to a real SMTP server and writes .eml files, all beside the database',
    { timeout: 60_000 },
    async () => {
      const f = await configured();
      const attachment = path.join(f.root, 'report.txt');
      fs.writeFileSync(attachment, 'quarterly figures\n', { mode: 0o644 });
      server.reset();
      const env = { SYSEMAIL_DB: f.db };

      const queued = await asService(
        ['send', '--queue', '--to', 'ann@example.com', '--subject', 'Report', '--body', 'Attached.', '--attach', attachment, '--json'],
        { cwd: f.dir, env },
      );
      expect(queued.exitCode, queued.stderr).toBe(0);
      expect(JSON.parse(queued.stdout)).toMatchObject({ status: 'queued' });
      expect(fs.readdirSync(path.join(f.dir, 'spool'))).toHaveLength(1);

      const run = await asService(['queue', 'run', '--json'], { cwd: '/', env });
      expect(run.exitCode, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ sent: 1, failed: 0 });
      expect(server.messages).toHaveLength(1);
      expect(server.messages[0].toString('latin1')).toContain('report.txt');

      const eml = await asService(
        ['--db', f.db, 'send', '--provider', 'eml', '--to', 'bob@example.com', '--subject', 'Draft', '--body', 'Hello', '--json'],
        { cwd: '/' },
      );
      expect(eml.exitCode, eml.stderr).toBe(0);
      const file = JSON.parse(eml.stdout).file as string;
      expect(path.dirname(file)).toBe(path.join(f.dir, 'outbox'));
      expect(fs.existsSync(file)).toBe(true);
    },
  );

  it('queue.spoolDir and eml.outputDir still choose other folders', async () => {
    const f = await configured();
    const env = { SYSEMAIL_DB: f.db };
    const set = await asService(['params', 'set', 'queue.spoolDir', 'elsewhere/spool', 'eml.outputDir', 'elsewhere/drafts'], {
      cwd: f.dir,
      env,
    });
    expect(set.exitCode, set.stderr).toBe(0);
    const attachment = path.join(f.root, 'a.txt');
    fs.writeFileSync(attachment, 'x', { mode: 0o644 });
    const q = await asService(['send', '--queue', '--to', 'ann@example.com', '--subject', 's', '--body', 'b', '--attach', attachment], {
      cwd: '/',
      env,
    });
    expect(q.exitCode, q.stderr).toBe(0);
    expect(fs.readdirSync(path.join(f.dir, 'elsewhere', 'spool'))).toHaveLength(1);
    const e = await asService(['send', '--provider', 'eml', '--to', 'ann@example.com', '--subject', 's', '--body', 'b', '--json'], {
      cwd: '/',
      env,
    });
    expect(e.exitCode, e.stderr).toBe(0);
    expect(path.dirname(JSON.parse(e.stdout).file)).toBe(path.join(f.dir, 'elsewhere', 'drafts'));
    expect(fs.existsSync(path.join(f.dir, 'spool'))).toBe(false);
  });
});

describe.runIf(IS_ROOT && CAN_RUN)('root working on the service database (sudo)', () => {
  const rootHome = () => {
    const f = serviceFolder('sysemail-roothome-');
    folders.push(f);
    return f.root;
  };

  it(
    'params set and a queued attachment by root leave every file to the folder owner; the next run as the service works',
    { timeout: 60_000 },
    async () => {
      const f = await configured();
      const home = rootHome();
      const env = { SYSEMAIL_DB: f.db };
      const set = await asAdmin(['params', 'set', 'limits.maxMessageMb', '20'], { cwd: home, env, home });
      expect(set.exitCode, set.stderr).toBe(0);
      const attachment = path.join(home, 'invoice.txt');
      fs.writeFileSync(attachment, 'invoice\n', { mode: 0o600 });
      const q = await asAdmin(
        ['send', '--queue', '--to', 'ann@example.com', '--subject', 'Invoice', '--body', 'Attached.', '--attach', attachment],
        { cwd: home, env, home },
      );
      expect(q.exitCode, q.stderr).toBe(0);
      const e = await asAdmin(['send', '--provider', 'eml', '--to', 'ann@example.com', '--subject', 'Draft', '--body', 'b'], {
        cwd: home,
        env,
        home,
      });
      expect(e.exitCode, e.stderr).toBe(0);

      const foreign = walk(f.dir).filter((p) => {
        const st = fs.lstatSync(p);
        return st.uid !== SERVICE_UID || st.gid !== SERVICE_GID;
      });
      expect(foreign).toEqual([]);

      server.reset();
      const run = await asService(['queue', 'run', '--json'], { cwd: f.dir, env });
      expect(run.exitCode, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ sent: 1, failed: 0 });
      expect(server.messages[0].toString('latin1')).toContain('invoice.txt');
      expect(statuses(f.db)).toEqual(['sent', 'sent']);
    },
  );

  it('the -wal and -shm of a root run killed on the spot belong to the service too', { timeout: 60_000 }, async () => {
    const f = await configured();
    const home = rootHome();
    const watch = execa(process.execPath, [BIN, '--db', f.db, 'queue', 'run', '--watch', '--interval', '1'], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 50_000,
    });
    try {
      const end = Date.now() + 20_000;
      while (!(fs.existsSync(`${f.db}-wal`) && fs.existsSync(`${f.db}-shm`))) {
        if (Date.now() > end) throw new Error('timed out waiting for the -wal and -shm files');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      watch.kill('SIGKILL');
    }
    await watch;
    for (const file of [`${f.db}-wal`, `${f.db}-shm`])
      expect(fs.statSync(file), file).toMatchObject({ uid: SERVICE_UID, gid: SERVICE_GID });
    const status = await asService(['--db', f.db, 'queue', 'status', '--json'], { cwd: f.dir });
    expect(status.exitCode, status.stderr).toBe(0);
  });

  it('a database root creates in the service folder belongs to the service', async () => {
    const f = serviceFolder();
    folders.push(f);
    const home = rootHome();
    const set = await asAdmin(['--db', f.db, 'params', 'set', 'sender.default', 'app@example.com'], { cwd: home, home });
    expect(set.exitCode, set.stderr).toBe(0);
    expect(fs.statSync(f.db)).toMatchObject({ uid: SERVICE_UID, gid: SERVICE_GID });
    const status = await asService(['--db', f.db, 'queue', 'status', '--json'], { cwd: f.dir });
    expect(status.exitCode, status.stderr).toBe(0);
  });

  it('root on a database in order changes neither its owner nor the group it is shared with', async () => {
    const f = await configured();
    const home = rootHome();
    const SHARED_GID = 8; // a group other than the folder's, as an admin sharing the database would set
    fs.chownSync(f.db, SERVICE_UID, SHARED_GID);
    fs.chmodSync(f.db, 0o660);
    const r = await asAdmin(['--db', f.db, 'params', 'set', 'limits.maxMessageMb', '7'], { cwd: home, home });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(fs.statSync(f.db)).toMatchObject({ uid: SERVICE_UID, gid: SHARED_GID });
  });

  it('root that may not give files away refuses before changing anything, naming sudo -u', async () => {
    const f = await configured();
    const home = rootHome();
    const before = fs.readFileSync(f.db);
    const r = await asAdmin(['--db', f.db, 'params', 'set', 'limits.maxMessageMb', '7'], {
      cwd: home,
      home,
      prefix: [SETPRIV, '--bounding-set=-chown', '--inh-caps=-chown'],
    });
    expect(r.exitCode, r.stderr).toBe(77);
    expect(r.stderr).toContain('sudo -u nobody sysemail');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readFileSync(f.db).equals(before)).toBe(true);
    expect(fs.existsSync(`${f.db}-wal`)).toBe(false);
    const get = await asService(['--db', f.db, 'params', 'get', 'limits.maxMessageMb'], { cwd: f.dir });
    expect(get.stdout.trim()).toBe('25');
  });
});
