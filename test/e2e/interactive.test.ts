/**
 * The paths that only run at a terminal: the send compose form, the "how would you like to send"
 * question with "remember my choice", the masked secret prompt and colour. Each runs the built binary
 * on a real pseudo-terminal (util-linux `script`, see ../helpers/pty.ts) and types as a person would.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, json, sandbox, type Sandbox } from '../helpers/cli.js';
import { describeKeychain } from '../helpers/keychain.js';
import { requireScript, spawnPty, type Pty } from '../helpers/pty.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const USER = 'app@example.com';
const PASSWORD = 'Zq7vX2kLm9wRt4yP';
/** A colour or style escape (SGR); cursor movement escapes are not colour. */
const SGR = /\x1b\[[0-9;]*m/;
const TEST_MS = 90_000;

let srv: TestSmtpServer;
const boxes: Sandbox[] = [];
const terminals: Pty[] = [];

/** A private home, data folder and database for one test. */
function newBox(): Sandbox {
  const box = sandbox('sysemail-pty-e2e-');
  boxes.push(box);
  return box;
}

/**
 * The environment a person's terminal would have: colour allowed, a colour-capable TERM, and none of the
 * variables that make Node or inquirer drop colours on their own (CI=true does in Node's colour check).
 */
function terminalEnv(box: Sandbox, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...cleanEnv(), ...box.env, TERM: 'xterm-256color', ...extra };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'NODE_DISABLE_COLORS', 'CI', 'VISUAL', 'EDITOR']) if (!(k in extra)) delete env[k];
  return env;
}

/** `sysemail --db <box db> ARGS` on a pseudo-terminal; killed after the test whatever happens. */
function term(box: Sandbox, args: string[], env: Record<string, string | undefined> = {}): Pty {
  const t = spawnPty(process.execPath, [BIN, '--db', box.db, ...args], { env: terminalEnv(box, env), cwd: box.dir });
  terminals.push(t);
  return t;
}

/** Points the box's database at the shared test SMTP server (STARTTLS with the test CA, sign-in as USER). */
async function useTestServer(box: Sandbox): Promise<void> {
  const r = await box.run([
    'params',
    'set',
    'smtp.host',
    '127.0.0.1',
    'smtp.port',
    String(srv.port),
    'smtp.username',
    USER,
    'smtp.caFile',
    testPki().caFile,
  ]);
  expect(r.exitCode, r.stderr).toBe(0);
}

/** Rows in the box's messages table (0 before the database exists). */
function messageCount(box: Sandbox): number {
  if (!fs.existsSync(box.db)) return 0;
  const db = new Database(box.db, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Answers the form's questions in order: waits for each one's text, types the answer, presses Enter. */
async function answer(t: Pty, steps: [question: string | RegExp, text: string][]): Promise<void> {
  for (const [question, text] of steps) {
    await t.waitFor(question);
    if (text) t.type(text);
    t.press('enter');
  }
}

function outbox(box: Sandbox): string[] {
  const dir = path.join(path.dirname(box.db), 'outbox');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')) : [];
}

beforeAll(async () => {
  // fails every test here with "install util-linux" when there is no `script` to make a terminal
  requireScript();
  srv = await startSmtpServer({ users: { [USER]: PASSWORD } });
});

afterEach(() => {
  for (const t of terminals.splice(0)) t.kill();
});

afterAll(async () => {
  for (const t of terminals.splice(0)) t.kill();
  await srv?.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

describe('send: interactive compose on a terminal', () => {
  it(
    'asks for what is missing with the flags pre-filled, and Enter keeps them (email app: the .eml has it all)',
    async () => {
      const box = newBox();
      const report = path.join(box.dir, 'report.txt');
      fs.writeFileSync(report, 'quarterly numbers ✓');
      const t = term(box, [
        'send',
        '--provider',
        'eml',
        '--from',
        'me@example.com',
        '--to',
        'ann@example.com',
        '--cc',
        'carol@example.com',
        '--subject',
        'Q3 report',
        '--attach',
        report,
      ]);

      await answer(t, [
        ['To: (ann@example.com)', ''],
        ['Cc: (carol@example.com)', ''],
        ['Bcc:', 'Dave <dave@example.com>'],
        ['Subject: (Q3 report)', ''],
        ['Body', 'Hello Ann,'],
        ['Body, line 2:', 'the numbers are attached.'],
        ['Body, line 3:', '.'],
        [`Attachments (paths, comma separated): (${report})`, ''],
      ]);
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(0);

      // a person at a colour terminal sees coloured prompts
      expect(t.raw()).toMatch(SGR);
      const files = outbox(box);
      expect(files).toHaveLength(1);
      expect(t.output()).toContain(files[0]);
      const mail = await simpleParser(fs.readFileSync(path.join(path.dirname(box.db), 'outbox', files[0])));
      expect(mail.from?.value.map((a) => a.address)).toEqual(['me@example.com']);
      expect(mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : []).toEqual(['ann@example.com']);
      expect(mail.cc && !Array.isArray(mail.cc) ? mail.cc.value.map((a) => a.address) : []).toEqual(['carol@example.com']);
      expect(mail.bcc && !Array.isArray(mail.bcc) ? mail.bcc.value : []).toEqual([{ address: 'dave@example.com', name: 'Dave' }]);
      expect(mail.subject).toBe('Q3 report');
      expect(mail.text?.trim()).toBe('Hello Ann,\nthe numbers are attached.');
      expect(mail.attachments.map((a) => [a.filename, a.content.toString('utf8')])).toEqual([['report.txt', 'quarterly numbers ✓']]);
    },
    TEST_MS,
  );

  it(
    'with nothing given asks for the sender too, refuses a bad address or attachment at the prompt, and sends over SMTP',
    async () => {
      const box = newBox();
      await useTestServer(box);
      srv.reset();
      const t = term(box, ['send', '--provider', 'smtp'], { SYSEMAIL_SMTP_PASSWORD: PASSWORD });

      await answer(t, [
        // no --from, no user config "from", no sender.default: the form asks
        ['From:', USER],
        ['To:', 'ann@'],
        // the refused answer stays on the line, to be completed
        ["'ann@' is not a valid email address", 'example.com, Bob Stone <bob@example.com>'],
        ['Cc:', ''],
        ['Bcc:', ''],
        ['Subject:', 'Grüße aus dem Terminal'],
        ['Body', 'Typed at a real terminal.'],
        ['Body, line 2:', '.'],
        ['Attachments', 'missing.pdf'],
      ]);
      await t.waitFor('missing.pdf cannot be read (no such file)');
      t.press('backspace', 'missing.pdf'.length);
      t.press('enter');
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(0);

      expect(t.output()).toContain('sent via smtp');
      expect(srv.messages).toHaveLength(1);
      expect(srv.envelopes[0]).toEqual({ from: USER, to: ['ann@example.com', 'bob@example.com'] });
      const mail = await simpleParser(srv.messages[0]);
      expect(mail.subject).toBe('Grüße aus dem Terminal');
      expect(mail.text?.trim()).toBe('Typed at a real terminal.');
      expect(mail.attachments).toEqual([]);
      expect(t.output()).not.toContain(PASSWORD);
    },
    TEST_MS,
  );

  it(
    'Ctrl-C at a question cancels: exit 130, a one-line note, nothing stored or written',
    async () => {
      const box = newBox();
      const t = term(box, ['send', '--provider', 'eml', '--from', 'me@example.com', '--to', 'ann@example.com']);
      await answer(t, [
        ['To:', ''],
        ['Cc:', ''],
        ['Bcc:', ''],
      ]);
      await t.waitFor('Subject:');
      t.press('ctrl-c');
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(130);
      expect(t.output()).toContain('sysemail: cancelled at the prompt');
      expect(t.output()).not.toMatch(/internal error|This is a bug/);
      expect(outbox(box)).toEqual([]);
      expect(messageCount(box)).toBe(0);
    },
    TEST_MS,
  );
});

describe('send: the compose body is text, as typed', () => {
  it(
    'with $EDITOR set, the body is written in that editor: C:\\new\\temp and its line breaks arrive as they are',
    async () => {
      const box = newBox();
      const editor = path.join(box.dir, 'editor.sh');
      // a stand-in for vi: writes a known body into the file it is given, as a person would save it
      fs.writeFileSync(editor, `#!/bin/sh\nprintf '%s\\n' 'Path: C:\\new\\temp' 'second line' > "$1"\n`, { mode: 0o755 });
      const t = term(box, ['send', '--provider', 'eml', '--from', 'me@example.com', '--to', 'ann@example.com', '--subject', 'Edited'], {
        EDITOR: editor,
      });
      await answer(t, [
        ['To:', ''],
        ['Cc:', ''],
        ['Bcc:', ''],
        ['Subject:', ''],
      ]);
      await t.waitFor('Body');
      await t.waitFor('launch your preferred editor');
      t.press('enter');
      await answer(t, [['Attachments', '']]);
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(0);
      const files = outbox(box);
      expect(files).toHaveLength(1);
      const mail = await simpleParser(fs.readFileSync(path.join(path.dirname(box.db), 'outbox', files[0])));
      expect(mail.text?.replace(/\n$/, '')).toBe('Path: C:\\new\\temp\nsecond line');
    },
    TEST_MS,
  );

  it(
    'without an editor, the body is typed line by line up to a line holding only "."; backslashes stay',
    async () => {
      const box = newBox();
      const t = term(box, ['send', '--provider', 'eml', '--from', 'me@example.com', '--to', 'ann@example.com', '--subject', 'Typed']);
      await answer(t, [
        ['To:', ''],
        ['Cc:', ''],
        ['Bcc:', ''],
        ['Subject:', ''],
      ]);
      await t.waitFor('a line with only "." ends it');
      await answer(t, [
        ['', 'Path: C:\\new\\temp'],
        ['Body, line 2:', ''],
        ['Body, line 3:', 'end \\n here'],
        ['Body, line 4:', '.'],
        ['Attachments', ''],
      ]);
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(0);
      const files = outbox(box);
      expect(files).toHaveLength(1);
      const mail = await simpleParser(fs.readFileSync(path.join(path.dirname(box.db), 'outbox', files[0])));
      expect(mail.text?.replace(/\n$/, '')).toBe('Path: C:\\new\\temp\n\nend \\n here');
    },
    TEST_MS,
  );
});

describe('send: "How would you like to send email?" (provider prompt)', () => {
  it(
    'asks when no user config names a provider; "remember my choice" writes it into the user config, and the next send does not ask',
    async () => {
      const box = newBox();
      await useTestServer(box);
      srv.reset();
      const rc = path.join(box.home, '.emailrc.json');
      fs.writeFileSync(rc, JSON.stringify({ from: USER, color: true }, null, 2) + '\n');
      const args = ['send', '--to', 'ann@example.com', '--subject', 'Remembered', '--body', 'first'];

      const t = term(box, args, { SYSEMAIL_SMTP_PASSWORD: PASSWORD });
      const screen = await t.waitFor('How would you like to send email?');
      await t.waitFor('Use the SMTP server');
      expect(screen).toMatch(/email app/);
      expect(t.output()).toMatch(/Exchange Online/);
      t.press('down', 2);
      await t.waitFor(/❯ Use the SMTP server/);
      t.press('enter');
      await t.waitFor('Remember my choice');
      t.type('y');
      t.press('enter');
      const first = await t.exit();
      expect(first.exitCode, t.output()).toBe(0);
      expect(t.output()).toContain(`saved "provider": "smtp" in ${rc}`);
      expect(srv.messages).toHaveLength(1);
      // the other options in the file are kept
      expect(JSON.parse(fs.readFileSync(rc, 'utf8'))).toEqual({ from: USER, color: true, provider: 'smtp' });

      const again = term(box, [...args.slice(0, -1), 'second'], { SYSEMAIL_SMTP_PASSWORD: PASSWORD });
      const second = await again.exit();
      expect(second.exitCode, again.output()).toBe(0);
      expect(again.output()).not.toContain('How would you like to send email?');
      expect(again.output()).toContain('sent via smtp');
      expect(srv.messages).toHaveLength(2);
    },
    TEST_MS,
  );

  it(
    'without "remember" (the default answer) nothing is written and the next send asks again',
    async () => {
      const box = newBox();
      const args = ['send', '--from', 'me@example.com', '--to', 'ann@example.com', '--subject', 'Once', '--body', 'b'];
      const t = term(box, args);
      await t.waitFor('How would you like to send email?');
      await t.waitFor('navigate');
      t.press('enter');
      await t.waitFor('Remember my choice');
      await t.waitFor('(y/N)');
      t.press('enter');
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(0);
      expect(outbox(box)).toHaveLength(1);
      expect(messageCount(box)).toBe(1);
      expect(fs.existsSync(path.join(box.home, '.emailrc.json'))).toBe(false);

      const again = term(box, args);
      await again.waitFor('How would you like to send email?');
      again.press('ctrl-c');
      expect((await again.exit()).exitCode).toBe(130);
      expect(outbox(box)).toHaveLength(1);
    },
    TEST_MS,
  );
});

describeKeychain('params set <secret> on a terminal: masked prompt into the OS keychain', () => {
  it(
    'never shows the typed secret, stores it in the keychain, and a send signs in with it',
    async () => {
      const box = newBox();
      await useTestServer(box);
      srv.reset();
      const t = term(box, ['params', 'set', 'smtp.password']);
      await t.waitFor('smtp.password:');
      t.type(PASSWORD);
      await t.waitFor('*'.repeat(PASSWORD.length));
      t.press('enter');
      const { exitCode } = await t.exit();
      try {
        expect(exitCode, t.output()).toBe(0);
        expect(t.output()).toContain('saved in the OS keychain');
        // not on the screen, not even in pieces: no 4-character run of it appears anywhere
        for (let i = 0; i + 4 <= PASSWORD.length; i++) expect(t.raw()).not.toContain(PASSWORD.slice(i, i + 4));

        const got = await box.run(['params', 'get', 'smtp.password', '--json']);
        expect(got.exitCode, got.stderr).toBe(0);
        expect(json(got.stdout)).toMatchObject({ key: 'smtp.password', value: '***', source: 'keychain' });
        const sent = await box.run([
          'send',
          '--provider',
          'smtp',
          '--from',
          USER,
          '--to',
          'ann@example.com',
          '--subject',
          'k',
          '--body',
          'k',
          '--json',
        ]);
        expect(sent.exitCode, sent.stderr).toBe(0);
        expect(srv.auths).toEqual([{ method: 'PLAIN', username: USER }]);
      } finally {
        await box.run(['params', 'unset', 'smtp.password']);
      }
    },
    TEST_MS,
  );

  it(
    'an empty answer is refused (65) and Ctrl-C cancels (130); neither stores anything',
    async () => {
      const box = newBox();
      const empty = term(box, ['params', 'set', 'smtp.password']);
      await empty.waitFor('smtp.password:');
      empty.press('enter');
      expect((await empty.exit()).exitCode, empty.output()).toBe(65);
      expect(empty.output()).toContain('no value was given for smtp.password');

      const cancelled = term(box, ['params', 'set', 'smtp.password']);
      await cancelled.waitFor('smtp.password:');
      cancelled.type('half-typ');
      cancelled.press('ctrl-c');
      expect((await cancelled.exit()).exitCode, cancelled.output()).toBe(130);

      const got = await box.run(['params', 'get', 'smtp.password', '--json']);
      expect(json(got.stdout)).toMatchObject({ key: 'smtp.password', value: null });
    },
    TEST_MS,
  );
});

describe('params set <secret> on a terminal without a keychain', () => {
  it(
    'says so before asking, so no secret is typed for nothing (78)',
    async () => {
      const box = newBox();
      const t = term(box, ['params', 'set', 'smtp.password'], {
        DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(box.dir, 'no-bus')}`,
        DISPLAY: undefined,
      });
      const { exitCode } = await t.exit();
      expect(exitCode, t.output()).toBe(78);
      expect(t.output()).toContain('OS keychain unavailable');
      expect(t.output()).not.toContain('smtp.password:');
    },
    TEST_MS,
  );
});

describe('tables on a narrow terminal', () => {
  const SUBJECT = `Quarterly report for the board ${'with a very long subject line '.repeat(3)}end`;

  it(
    'queue list and params list fit 60 columns: long cells wrapped, a word longer than its column cut with …',
    async () => {
      const box = newBox();
      const lines = [1, 2, 3].map((i) =>
        JSON.stringify({
          from: 'reports@example.com',
          to: `board-member-${i}@subsidiary.example.com`,
          subject: `${SUBJECT} ${i}`,
          text: 'x',
        }),
      );
      fs.writeFileSync(path.join(box.dir, 'q.jsonl'), lines.join('\n') + '\n');
      const imported = await box.run(['queue', 'import', path.join(box.dir, 'q.jsonl')]);
      expect(imported.exitCode, imported.stderr).toBe(0);
      for (const args of [
        ['queue', 'list'],
        ['params', 'list'],
      ]) {
        const t = spawnPty(process.execPath, [BIN, '--db', box.db, ...args], { env: terminalEnv(box), cwd: box.dir, cols: 60 });
        terminals.push(t);
        expect((await t.exit()).exitCode, t.output()).toBe(0);
        const table = t
          .output()
          .split('\n')
          .filter((l) => /^[┌│├└]/.test(l));
        expect(table.length, t.output()).toBeGreaterThan(3);
        for (const l of table) expect([...l].length, `${args.join(' ')}:\n${t.output()}`).toBeLessThanOrEqual(60);
        if (args[0] === 'queue') expect(t.output()).toContain('…');
      }
      // not a terminal: the rows are as before, whole and tab-separated
      const plain = await box.run(['queue', 'list']);
      expect(
        plain.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t')[5]),
      ).toEqual([1, 2, 3].map((i) => `${SUBJECT} ${i}`));
    },
    TEST_MS,
  );
});

describe('colour on a terminal', () => {
  /** A user config with an unknown option, so every run also prints a (yellow) warning. */
  function withWarning(box: Sandbox, extra: Record<string, unknown> = {}): void {
    fs.writeFileSync(path.join(box.home, '.emailrc.json'), JSON.stringify({ colour: 'typo', ...extra }));
  }

  it(
    'params list: a table with bold headings and a yellow warning',
    async () => {
      const box = newBox();
      withWarning(box);
      const t = term(box, ['params', 'list']);
      expect((await t.exit()).exitCode, t.output()).toBe(0);
      expect(t.output()).toMatch(/┌─+┬/);
      expect(t.output()).toMatch(/warning: .*unknown option 'colour'/);
      expect(t.raw()).toMatch(/\x1b\[33mwarning:/);
      expect(t.raw()).toMatch(/\x1b\[1mkey\x1b\[22m/);
    },
    TEST_MS,
  );

  const off: { name: string; args?: string[]; env?: Record<string, string>; config?: Record<string, unknown> }[] = [
    { name: 'NO_COLOR=1', env: { NO_COLOR: '1' } },
    { name: '--no-color', args: ['--no-color'] },
    { name: 'user config "color": false', config: { color: false } },
  ];
  for (const c of off) {
    it(
      `${c.name}: no colour in the table, the warning or the compose prompts`,
      async () => {
        const box = newBox();
        withWarning(box, c.config);
        const t = term(box, [...(c.args ?? []), 'params', 'list'], c.env);
        expect((await t.exit()).exitCode, t.output()).toBe(0);
        expect(t.output()).toMatch(/┌─+┬/);
        expect(t.output()).toMatch(/warning: .*unknown option 'colour'/);
        expect(t.raw()).not.toMatch(SGR);

        const form = term(
          box,
          [...(c.args ?? []), 'send', '--provider', 'eml', '--from', 'me@example.com', '--to', 'ann@example.com', '--body', 'b'],
          c.env,
        );
        await answer(form, [
          ['To:', ''],
          ['Cc:', ''],
          ['Bcc:', ''],
          ['Subject:', 'plain'],
          [/Body .*: \(b\)/, ''],
          ['Attachments', ''],
        ]);
        expect((await form.exit()).exitCode, form.output()).toBe(0);
        expect(form.raw()).not.toMatch(SGR);
      },
      TEST_MS,
    );
  }

  it(
    '--json: exactly one JSON document, no colour and no table',
    async () => {
      const box = newBox();
      const t = term(box, ['params', 'list', '--json']);
      expect((await t.exit()).exitCode, t.output()).toBe(0);
      expect(t.raw()).not.toMatch(SGR);
      expect(t.output()).not.toContain('┌');
      const docs = t
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      expect(docs).toHaveLength(1);
      expect(json<{ params: { key: string }[] }>(docs[0]).params.map((p) => p.key)).toContain('smtp.host');
    },
    TEST_MS,
  );
});
