import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../src/cli/exit-codes.js';
import { SysemailError } from '../../src/core/errors.js';
import { EmlProvider } from '../../src/providers/eml.js';
import { settingsOf } from '../helpers/settings.js';

let tmp: string;

function provider(outputDir: string) {
  return new EmlProvider({ settings: settingsOf({ 'eml.outputDir': outputDir }), secrets: { dbId: 'x', env: {} } });
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-eml-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('eml provider (email app)', () => {
  it('writes an unsent RFC 5322 draft with every part, private, and UTF-8 round-trips', async () => {
    const outbox = path.join(tmp, 'outbox');
    const attachment = path.join(tmp, 'Übersicht 2024 — 報告.csv');
    fs.writeFileSync(attachment, 'a;b\n1;ü\n');
    const r = await provider(outbox).send({
      from: 'Büro <office@example.com>',
      to: ['Zoë <zoe@example.com>'],
      cc: ['cc@example.com'],
      bcc: ['hidden@example.com'],
      subject: 'Grüße — 件名 ✓',
      text: 'Héllo 你好 🌍\n',
      html: '<p>Héllo <b>你好</b> 🌍</p>',
      attachments: [{ filename: path.basename(attachment), path: attachment, size: fs.statSync(attachment).size }],
    });
    expect(r.file).toBeDefined();
    const file = r.file!;
    expect(path.dirname(file)).toBe(outbox);
    expect(file).toMatch(/\.eml$/);
    expect(fs.statSync(outbox).mode & 0o777).toBe(0o700);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const raw = fs.readFileSync(file);
    expect(raw.toString('latin1')).toMatch(/^X-Unsent: 1\r$/m);
    const parsed = await simpleParser(raw);
    expect(parsed.subject).toBe('Grüße — 件名 ✓');
    expect(parsed.text).toBe('Héllo 你好 🌍\n');
    expect(parsed.html).toBe('<p>Héllo <b>你好</b> 🌍</p>');
    expect(parsed.from?.value[0]).toEqual({ address: 'office@example.com', name: 'Büro' });
    expect(parsed.bcc && !Array.isArray(parsed.bcc) ? parsed.bcc.value[0].address : undefined).toBe('hidden@example.com');
    expect(parsed.attachments.map((a) => a.filename)).toEqual(['Übersicht 2024 — 報告.csv']);
    expect(parsed.attachments[0].content.toString('utf8')).toBe('a;b\n1;ü\n');
    expect(parsed.messageId).toBe(r.messageId);
  });

  it('gives every message its own file', async () => {
    const outbox = path.join(tmp, 'many');
    const p = provider(outbox);
    const m = { from: 'a@example.com', to: ['b@example.com'], cc: [], bcc: [], subject: 'same', text: 'x', attachments: [] };
    const files = [await p.send(m), await p.send(m), await p.send(m)].map((r) => r.file);
    expect(new Set(files).size).toBe(3);
    expect(fs.readdirSync(outbox)).toHaveLength(3);
  });

  it('an output folder that cannot be created is 78', async () => {
    const blocker = path.join(tmp, 'not-a-folder');
    fs.writeFileSync(blocker, '');
    try {
      await provider(path.join(blocker, 'outbox')).send({
        from: 'a@example.com',
        to: ['b@example.com'],
        cc: [],
        bcc: [],
        subject: 's',
        text: 'x',
        attachments: [],
      });
      throw new Error('expected a failure');
    } catch (err) {
      expect(err).toBeInstanceOf(SysemailError);
      expect(exitCodeOf((err as SysemailError).kind)).toBe(78);
      expect((err as SysemailError).data).toMatchObject({ provider: 'eml', phase: 'write' });
    }
  });

  it('test() checks the folder with --quit-after and writes a test file without', async () => {
    const outbox = path.join(tmp, 'test-outbox');
    const quick = await provider(outbox).test({ from: 'a@example.com', quitAfter: 'auth' });
    expect(quick).toMatchObject({ ok: true });
    expect(fs.readdirSync(outbox)).toHaveLength(0);
    const full = await provider(outbox).test({ from: 'a@example.com', to: 'b@example.com' });
    expect(full.ok).toBe(true);
    expect(full.phases[0].detail).toMatch(/\.eml$/);
    expect(fs.readdirSync(outbox)).toHaveLength(1);
  });
});
