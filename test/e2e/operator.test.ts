import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

const sandboxes: Sandbox[] = [];
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup();
});

const DAY = 86_400_000;

function sql<T>(sb: Sandbox, fn: (db: Database.Database) => T): T {
  const db = new Database(sb.db);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const statuses = (sb: Sandbox) =>
  Object.fromEntries(
    sql(sb, (db) => db.prepare('SELECT id, status FROM messages ORDER BY id').all() as { id: number; status: string }[]).map((r) => [
      r.id,
      r.status,
    ]),
  );

/**
 * Six messages, ids 1–6 to r0…r5@example.com: 1 failed and 10 days old, 2 being sent, 3 deferred,
 * 4 pending and 10 days old, 5 and 6 pending. Message 5 also has ann@example.com in Cc.
 */
async function queue(): Promise<Sandbox> {
  const sb = sandbox('sysemail-operator-');
  sandboxes.push(sb);
  const lines = Array.from({ length: 6 }, (_, i) =>
    JSON.stringify({
      to: `r${i}@example.com`,
      ...(i === 4 ? { cc: 'Ann Lee <ann@example.com>' } : {}),
      from: 'app@example.com',
      subject: `m${i}`,
      text: `message ${i}`,
    }),
  );
  const file = path.join(sb.dir, 'batch.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const imp = await sb.run(['queue', 'import', file, '--json']);
  expect(imp.exitCode, imp.stderr).toBe(0);
  const now = Date.now();
  sql(sb, (db) => {
    db.prepare("UPDATE messages SET status = 'failed', created_at = ? WHERE id = 1").run(now - 10 * DAY);
    db.prepare("UPDATE messages SET status = 'sending', lease_owner = 'elsewhere:1:x', lease_expires_at = ? WHERE id = 2").run(
      now + 600_000,
    );
    db.prepare("UPDATE messages SET status = 'deferred', due_at = ? WHERE id = 3").run(now + 600_000);
    db.prepare('UPDATE messages SET created_at = ? WHERE id = 4').run(now - 10 * DAY);
  });
  return sb;
}

describe('operator bulk actions', () => {
  it('filters select, --dry-run changes nothing, messages being sent are refused', { timeout: 60_000 }, async () => {
    const sb = await queue();
    const before = statuses(sb);
    expect(before).toEqual({ 1: 'failed', 2: 'sending', 3: 'deferred', 4: 'pending', 5: 'pending', 6: 'pending' });

    const dry = await sb.run(['queue', 'hold', '--all', '--dry-run', '--json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const dryDoc = json<{ changed: number[]; refused: { id: number; status: string; reason: string }[]; dryRun: boolean }>(dry.stdout);
    expect(dryDoc.changed).toEqual([3, 4, 5, 6]);
    expect(dryDoc.refused).toEqual([{ id: 2, status: 'sending', reason: expect.stringMatching(/sent/) }]);
    expect(dryDoc.dryRun).toBe(true);
    expect(statuses(sb)).toEqual(before);

    const dryText = await sb.run(['queue', 'hold', '--all', '--dry-run']);
    expect(dryText.exitCode, dryText.stderr).toBe(0);
    expect(dryText.stdout + dryText.stderr).toMatch(/\b4 message\(s\) would be held/);
    expect(statuses(sb)).toEqual(before);

    // filters are ANDed
    const old = await sb.run(['queue', 'hold', '--older-than', '7d', '--json']);
    expect(old.exitCode, old.stderr).toBe(0);
    expect(json(old.stdout)).toEqual({ action: 'hold', changed: [4], refused: [], dryRun: false, count: 1 });
    expect(statuses(sb)[4]).toBe('held');
    const none = await sb.run(['queue', 'release', '--status', 'held', '--to', 'r0@example.com', '--json']);
    expect(json(none.stdout)).toMatchObject({ changed: [], refused: [] });
    expect(statuses(sb)[4]).toBe('held');
    const rel = await sb.run(['queue', 'release', '--all']);
    expect(rel.exitCode, rel.stderr).toBe(0);
    expect(rel.stdout + rel.stderr).toMatch(/\b1 message\(s\) released/);
    expect(statuses(sb)[4]).toBe('pending');

    // a recipient in Cc, given with a display name in the message
    const cc = await sb.run(['queue', 'hold', '--to', 'ANN@example.com', '--json']);
    expect(json(cc.stdout)).toMatchObject({ changed: [5] });

    const sending = await sb.run(['queue', 'delete', '--status', 'sending', '--json']);
    expect(sending.exitCode, sending.stderr).toBe(0);
    expect(json(sending.stdout)).toMatchObject({ changed: [], refused: [{ id: 2, status: 'sending' }], dryRun: false });
    expect(statuses(sb)[2]).toBe('sending');

    const del = await sb.run(['queue', 'delete', '--to', 'r5@example.com', '--json']);
    expect(json(del.stdout)).toMatchObject({ changed: [6] });
    expect(statuses(sb)[6]).toBeUndefined();

    // --failed means --status failed, and combines with the other filters
    const retryOld = await sb.run(['queue', 'retry', '--failed', '--older-than', '30d', '--json']);
    expect(json(retryOld.stdout)).toMatchObject({ changed: [] });
    const retry = await sb.run(['queue', 'retry', '--failed', '--json']);
    expect(json(retry.stdout)).toMatchObject({ changed: [1] });
    expect(statuses(sb)[1]).toBe('pending');
  });

  it(
    'ids and filters do not mix, nothing given is a usage error, bad filter values are refused before any change',
    { timeout: 60_000 },
    async () => {
      const sb = await queue();
      const before = statuses(sb);
      const cases: [string[], number, RegExp][] = [
        [['queue', 'hold'], 64, /--all/],
        [['queue', 'delete', '--dry-run'], 64, /--all/],
        [['queue', 'hold', '4', '--status', 'pending'], 64, /ids/],
        [['queue', 'delete', '4', '--all'], 64, /ids/],
        [['queue', 'retry', '1', '--failed'], 64, /--failed/],
        [['queue', 'retry', '--failed', '--status', 'deferred'], 64, /--failed/],
        [['queue', 'hold', '--status', 'bogus'], 64, /bogus/],
        [['queue', 'hold', '--status', 'sent'], 64, /sent/],
        [['queue', 'hold', '--older-than', 'soon'], 64, /--older-than/],
        [['queue', 'delete', '--to', 'not-an-address'], 65, /--to/],
        [['queue', 'hold', '3', '2'], 65, /2 \(sending\)/],
        [['queue', 'hold', '3', '99', '--dry-run'], 65, /99/],
      ];
      for (const [args, code, message] of cases) {
        const r = await sb.run([...args, '--json']);
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(code);
        const err = json<{ error: { message: string; exitCode: number } }>(r.stderr).error;
        expect(err.exitCode).toBe(code);
        expect(err.message, args.join(' ')).toMatch(message);
        expect(r.stdout).toBe('');
      }
      expect(statuses(sb)).toEqual(before);
      // ids still work alone
      const ids = await sb.run(['queue', 'hold', '4', '5', '--json']);
      expect(json(ids.stdout)).toEqual({ action: 'hold', changed: [4, 5], refused: [], dryRun: false, count: 2 });
    },
  );
});

describe('history purge --dry-run', () => {
  it('counts and lists what would go, deletes nothing and leaves the spool alone', { timeout: 60_000 }, async () => {
    const sb = sandbox('sysemail-purge-');
    sandboxes.push(sb);
    const attachment = path.join(sb.dir, 'report.txt');
    fs.writeFileSync(attachment, 'numbers');
    for (const to of ['a@example.com', 'b@example.com', 'c@example.com']) {
      const r = await sb.run([
        'send',
        '--queue',
        '--to',
        to,
        '--from',
        'app@example.com',
        '--subject',
        's',
        '--body',
        'b',
        '--attach',
        attachment,
        '--json',
      ]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    sql(sb, (db) => {
      db.prepare("UPDATE messages SET status = 'sent', created_at = ? WHERE id = 1").run(Date.now() - 40 * DAY);
      db.prepare("UPDATE messages SET status = 'failed', created_at = ? WHERE id = 2").run(Date.now() - 40 * DAY);
    });
    const spooled = () =>
      sql(sb, (db) =>
        (db.prepare('SELECT attachments FROM messages ORDER BY id').pluck().all() as string[]).map(
          (a) => (JSON.parse(a) as { path: string }[])[0].path,
        ),
      );
    const paths = spooled();
    expect(paths.every((p) => fs.existsSync(p))).toBe(true);

    const dry = await sb.run(['history', 'purge', '--dry-run', '--json']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const doc = json<{ deleted: number; before: string; dryRun: boolean; ids: number[] }>(dry.stdout);
    expect(doc).toMatchObject({ deleted: 2, dryRun: true, ids: [1, 2] });
    expect(Date.parse(doc.before)).toBeGreaterThan(Date.now() - 31 * DAY);
    expect(statuses(sb)).toEqual({ 1: 'sent', 2: 'failed', 3: 'pending' });
    expect(paths.every((p) => fs.existsSync(p))).toBe(true);

    const text = await sb.run(['history', 'purge', '--dry-run']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout + text.stderr).toMatch(/\b2 sent\/failed message\(s\).* would be deleted/);
    expect(Object.keys(statuses(sb))).toHaveLength(3);

    const real = await sb.run(['history', 'purge', '--json']);
    expect(json(real.stdout)).toMatchObject({ deleted: 2, dryRun: false });
    expect(statuses(sb)).toEqual({ 3: 'pending' });
    expect(paths.map((p) => fs.existsSync(p))).toEqual([false, false, true]);
  });
});
