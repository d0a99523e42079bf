/**
 * The canary for src/providers/smtp/internals.ts: every undocumented part of nodemailer that sysemail
 * relies on, checked against the installed nodemailer and a real SMTP server. When an upgrade changes
 * one of them, this file fails and names it, before a send or `test-email` quietly misbehaves.
 */
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import * as base64 from 'nodemailer/lib/base64/index.js';
import MailComposer from 'nodemailer/lib/mail-composer';
import * as qp from 'nodemailer/lib/qp/index.js';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolOptions } from '../../src/providers/smtp/config.js';
import {
  MASKED_SECRET,
  closeTransport,
  eventLogger,
  readLogEntry,
  sendRawCommand,
  serializeMime,
  socketOf,
  type LogEvent,
} from '../../src/providers/smtp/internals.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { testPki } from '../helpers/tls.js';

const USER = 'canary@example.com';
const PASSWORD = 'canary-password-never-logged';

let srv: TestSmtpServer;
let slow: TestSmtpServer;

beforeAll(async () => {
  srv = await startSmtpServer({ users: { [USER]: PASSWORD } });
  // holds each message well past the test: a delivery stays in progress until it is cut
  slow = await startSmtpServer({ users: { [USER]: PASSWORD }, delayMs: 60_000 });
});

afterAll(async () => {
  await Promise.all([srv?.close(), slow?.close()]);
});

const tlsOf = () => ({ ca: [...tls.rootCertificates, testPki().ca] });

function connection(port: number, events: LogEvent[]): SMTPConnection {
  return new SMTPConnection({
    host: '127.0.0.1',
    port,
    requireTLS: true,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 5_000,
    tls: tlsOf(),
    logger: eventLogger((e) => events.push(e)) as never,
    transactionLog: true,
  });
}

const connect = (c: SMTPConnection) => new Promise<void>((resolve, reject) => c.connect((err?: Error) => (err ? reject(err) : resolve())));
const login = (c: SMTPConnection) =>
  new Promise<void>((resolve, reject) => c.login({ user: USER, pass: PASSWORD }, (err) => (err ? reject(err) : resolve())));
const quit = (c: SMTPConnection) =>
  new Promise<void>((resolve) => {
    c.once('end', () => resolve());
    c.quit();
  });

describe('SMTPConnection private fields', () => {
  it('has _sendCommand, _responseActions and _socket where internals.ts reaches for them', () => {
    const c = new SMTPConnection({ host: '127.0.0.1', port: 1 });
    const internals = c as unknown as { _sendCommand: unknown; _responseActions: unknown; _socket: unknown };
    expect(typeof internals._sendCommand).toBe('function');
    expect(Array.isArray(internals._responseActions)).toBe(true);
    expect('_socket' in internals).toBe(true);
  });

  it("a raw MAIL FROM and RCPT TO get the server's replies, and the socket is the TLS one after STARTTLS", async () => {
    const events: LogEvent[] = [];
    const c = connection(srv.port, events);
    await connect(c);
    const socket = socketOf(c);
    expect(socket).toBeInstanceOf(tls.TLSSocket);
    expect((socket as tls.TLSSocket).getProtocol()).toMatch(/^TLSv1\.[23]$/);
    expect((socket as tls.TLSSocket).getPeerCertificate().subject).toBeDefined();
    await login(c);

    const before = srv.commands.length;
    expect(await sendRawCommand(c, `MAIL FROM:<${USER}>`)).toMatch(/^250\b/);
    expect(await sendRawCommand(c, 'RCPT TO:<someone@example.com>')).toMatch(/^250\b/);
    expect(await sendRawCommand(c, 'RCPT TO:<bad address>')).toMatch(/^5\d\d\b/);
    expect(srv.commands.slice(before)).toEqual(expect.arrayContaining(['MAIL', 'RCPT']));
    // the queue of reply callbacks is back in step: a public command after the raw ones still works
    await new Promise<void>((resolve, reject) => c.reset((err) => (err ? reject(err) : resolve())));
    expect(await sendRawCommand(c, 'NOOP')).toMatch(/^250\b/);
    await quit(c);
  });
});

describe('the log entries of a session', () => {
  it('name the peer, the greeting, each command and reply, STARTTLS, and mask the AUTH credential', async () => {
    const events: LogEvent[] = [];
    const c = connection(srv.port, events);
    await connect(c);
    await login(c);
    await quit(c);

    const established = events.find((e) => e.kind === 'network' && e.established);
    expect(established).toMatchObject({ kind: 'network', remoteAddress: '127.0.0.1', remotePort: srv.port });
    const server = events.filter((e): e is Extract<LogEvent, { kind: 'server' }> => e.kind === 'server').map((e) => e.text);
    const client = events.filter((e): e is Extract<LogEvent, { kind: 'client' }> => e.kind === 'client').map((e) => e.text);
    expect(server[0]).toMatch(/^220 /);
    expect(client[0]).toMatch(/^EHLO /);
    expect(client).toContain('STARTTLS');
    const starttls = events.findIndex((e) => e.kind === 'starttls');
    expect(starttls).toBeGreaterThan(events.findIndex((e) => e.kind === 'client' && e.text === 'STARTTLS'));
    const auth = client.find((l) => /^AUTH /.test(l));
    expect(auth).toBeDefined();
    // AUTH PLAIN's payload is base64 of "\0user\0password": nodemailer logs the mask in its place
    const payload = Buffer.from(auth!.split(' ')[2] ?? '', 'base64').toString('utf8');
    expect(payload).toBe(`\0${USER}\0${MASKED_SECRET}`);
    for (const e of events) expect(JSON.stringify(e)).not.toContain(PASSWORD);
    for (const l of client) expect(l).not.toContain(Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'));
    // EHLO's reply comes as one multi-line entry, capabilities after the first line
    expect(server.some((t) => /^250-/.test(t) && /\n250[ -]/.test(t))).toBe(true);
  });

  it("keep a server's words as they are, % signs included", () => {
    expect(readLogEntry({ tnx: 'server' }, '250 2.0.0 100%% done, 50% left', [])).toEqual({
      kind: 'server',
      session: '',
      text: '250 2.0.0 100%% done, 50% left',
    });
    expect(
      readLogEntry({ tnx: 'network', remoteAddress: '127.0.0.1', remotePort: 25 }, '%s established to %s:%s', [
        'Connection',
        '127.0.0.1',
        25,
      ]),
    ).toMatchObject({ established: true, text: 'Connection established to 127.0.0.1:25' });
  });
});

describe('the pooled transport', () => {
  function pool(port: number, events: LogEvent[]) {
    return nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      requireTLS: true,
      tls: tlsOf(),
      auth: { user: USER, pass: PASSWORD },
      ...poolOptions({ maxConnections: 1 }),
      logger: eventLogger((e) => events.push(e)) as never,
      transactionLog: true,
    });
  }
  const mail = (n: number) => ({ from: USER, to: 'someone@example.com', subject: `canary ${n}`, text: `message ${n}\n` });

  it('logs the bytes of each message sent after DATA', async () => {
    const events: LogEvent[] = [];
    const t = pool(srv.port, events);
    try {
      await t.sendMail(mail(1));
    } finally {
      t.close();
    }
    const sent = events.filter((e): e is Extract<LogEvent, { kind: 'body-sent' }> => e.kind === 'body-sent');
    expect(sent).toHaveLength(1);
    expect(sent[0].bytes).toBeGreaterThan(50);
  });

  it("keeps one connection past nodemailer's default of 100 messages per connection", async () => {
    srv.reset();
    const t = pool(srv.port, []);
    try {
      for (let i = 0; i < 105; i++) await t.sendMail(mail(i));
    } finally {
      t.close();
    }
    expect(srv.messages).toHaveLength(105);
    expect(srv.sessions).toHaveLength(1);
  });

  it('close({ force: true }) ends a delivery in progress, which a plain close would wait for', async () => {
    const events: LogEvent[] = [];
    const t = pool(slow.port, events);
    const sending = t.sendMail(mail(1)).then(
      () => 'sent',
      (err: Error & { code?: string }) => err,
    );
    const end = Date.now() + 10_000;
    while (!events.some((e) => e.kind === 'body-sent')) {
      if (Date.now() > end) throw new Error('the message never went out');
      await new Promise((r) => setTimeout(r, 20));
    }
    closeTransport(t, { force: true });
    const outcome = await Promise.race([sending, new Promise((resolve) => setTimeout(() => resolve('still sending'), 5_000))]);
    expect(outcome).toBeInstanceOf(Error);
  });
});

describe('serializeMime against MimeNode.build()', () => {
  type Mail = ConstructorParameters<typeof MailComposer>[0];
  const base: Mail = { from: 'Ann Lee <ann@example.com>', to: 'bob@example.com', subject: 'Report', messageId: '<fixed@example.com>' };
  const built = (node: ReturnType<MailComposer['compile']>) =>
    new Promise<Buffer>((resolve, reject) => node.build((err, raw) => (err ? reject(err) : resolve(raw))));
  /** The same node both ways: Date, Message-ID and the boundaries are the node's own, so the bytes must match exactly. */
  async function bothWays(mail: Mail): Promise<{ serialized: Buffer | undefined; built: Buffer }> {
    const node = new MailComposer(mail).compile();
    const serialized = serializeMime(node, { qp, base64 });
    return { serialized, built: await built(node) };
  }

  const cases: [string, Mail][] = [
    ['plain ASCII text', { ...base, text: 'Hello,\r\nthe report is ready.' }],
    ['long lines and lone LFs', { ...base, text: 'x'.repeat(300) + '\n' + 'word '.repeat(100) + 'end\nlast' }],
    [
      'accented text (quoted-printable)',
      { ...base, subject: 'Rapport trimestriel été', text: 'Déjà vu — où est le café ? '.repeat(30) + '!' },
    ],
    ['mostly non-Latin text (base64)', { ...base, subject: '報告書', text: '日本語のテキストです。'.repeat(40) }],
    ['text and html', { ...base, text: 'plain part', html: '<p>Hello <b>world</b> – ünïcödé</p>' }],
    ['html only, long line', { ...base, html: '<div>' + 'a&nbsp;b '.repeat(200) + '</div>' }],
    [
      'cc, bcc, reply-to, headers',
      { ...base, cc: 'c@example.com', bcc: 'd@example.com', replyTo: 'r@example.com', headers: { 'X-Tag': 'a' }, text: 'x' },
    ],
    ['empty text', { ...base, text: '' }],
    ['text ending in CR', { ...base, text: 'ends with\r' }],
    [
      'a Buffer attachment',
      { ...base, text: 'see attached', attachments: [{ filename: 'a.bin', content: Buffer.from([0, 1, 2, 250, 13, 10, 32]) }] },
    ],
    [
      'a text attachment with equals signs',
      { ...base, text: 't', attachments: [{ filename: 'a.txt', content: 'a=b\r\nc = d'.repeat(50) }] },
    ],
  ];
  for (const [name, mail] of cases) {
    it(`gives build()'s bytes: ${name}`, async () => {
      const r = await bothWays(mail);
      expect(r.serialized).toBeDefined();
      expect(r.serialized!.toString('latin1')).toBe(r.built.toString('latin1'));
    });
  }

  it("gives build()'s bytes for random bodies (whitespace, line breaks, '=', non-ASCII), or leaves them to build()", async () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const alphabet = ['a', 'Z', ' ', '\t', '\r\n', '\n', '\r', '=', '.', 'é', '€', '日', '😀', '-'];
    let serialized = 0;
    for (let i = 0; i < 150; i++) {
      const text = Array.from({ length: rnd(400) }, () => alphabet[rnd(alphabet.length)]).join('');
      const r = await bothWays({ ...base, text, ...(i % 3 === 0 ? { html: `<p>${text}</p>` } : {}) });
      if (r.serialized === undefined) continue;
      serialized++;
      expect(r.serialized.toString('latin1')).toBe(r.built.toString('latin1'));
    }
    expect(serialized).toBeGreaterThan(50);
  });

  it('leaves to build() what it does not write itself: trailing whitespace, file contents, raw messages, transforms', async () => {
    expect((await bothWays({ ...base, text: 'quoted-printable, ends with a space: été ' })).serialized).toBeUndefined();
    expect(
      (await bothWays({ ...base, text: 'x', attachments: [{ filename: 'f.txt', path: '/etc/hostname' }] })).serialized,
    ).toBeUndefined();
    expect((await bothWays({ ...base, raw: 'Subject: x\r\n\r\nbody' })).serialized).toBeUndefined();
    const node = new MailComposer({ ...base, text: 'x' }).compile();
    node.processFunc((input) => input);
    expect(serializeMime(node, { qp, base64 })).toBeUndefined();
  });
});
