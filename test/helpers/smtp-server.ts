/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1 and an ephemeral port, for tests.
 *
 *   const srv = await startSmtpServer({ starttls: 'on', users: { ann: 'secret' } });
 *   ... srv.port, srv.messages (raw RFC 5322 Buffers), srv.commands, srv.auths, srv.sessions ...
 *   await srv.close();
 *
 * Options (all optional):
 *   tls            'starttls' (default) | 'implicit' | 'none'
 *                  starttls: plain port offering STARTTLS with the test CA's certificate;
 *                  implicit: TLS from the first byte (port-465 style); none: no TLS at all
 *   starttls       'on' (default) | 'hidden' (accepted but not announced) | 'off' (neither)
 *   cert           a KeyPair from ./tls.ts (default: the CA-signed server certificate)
 *   authMethods    default ['PLAIN', 'LOGIN']; add 'XOAUTH2' for token sign-in
 *   users          { username: password } accepted for PLAIN/LOGIN
 *   tokens         { username: accessToken } accepted for XOAUTH2
 *   authOptional   true = sign-in allowed but not required (a relay); default false
 *   authOnlyAfterStartTls  true = AUTH refused (538) before STARTTLS (smtp-server's default); false
 *                  allows AUTH in clear, like a badly set-up server. Default true.
 *   authHiddenBeforeStartTls  true = AUTH neither announced nor accepted before STARTTLS, as Postfix
 *                  with smtpd_tls_auth_only and Exchange do. Default false.
 *   size           SIZE limit in bytes (announced; bigger messages get 552)
 *   refuse         scripted refusals, each an SMTP reply line ('550 5.7.60 ...'):
 *                    onConnect   greeting replaced by this reply (e.g. '421 4.7.0 Try later')
 *                    auth        every sign-in refused with this reply
 *                    mail        MAIL FROM refused: one reply for all, or { 'addr@x': reply }
 *                    rcpt        RCPT TO refused: one reply for all, or { 'addr@x': reply }
 *                    data        the message refused after DATA
 *                    dropDuringData  close the connection while the message is coming in
 *                    nth         { n: reply } refuse only the n-th message (1-based) after DATA
 *   discard        true = do not keep message bodies (benchmarks): only their sizes
 *   delayMs        hold each accepted message this long before recording it and answering 250, as a
 *                  busy server does: a distributor is then mid-way through a queue for a while
 *
 * Records: messages (Buffer[]), sizes (number[]), envelopes ({from, to[]}), commands (command names,
 * secrets redacted by smtp-server), auths ({method, username}), sessions (secure, tlsProtocol).
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { testPki, type KeyPair } from './tls.js';

export interface SmtpRefusals {
  onConnect?: string;
  auth?: string;
  mail?: string | Record<string, string>;
  rcpt?: string | Record<string, string>;
  data?: string;
  dropDuringData?: boolean;
  nth?: Record<number, string>;
}

export interface TestSmtpServerOptions {
  tls?: 'starttls' | 'implicit' | 'none';
  starttls?: 'on' | 'hidden' | 'off';
  cert?: KeyPair;
  authMethods?: string[];
  users?: Record<string, string>;
  tokens?: Record<string, string>;
  authOptional?: boolean;
  authOnlyAfterStartTls?: boolean;
  authHiddenBeforeStartTls?: boolean;
  size?: number;
  refuse?: SmtpRefusals;
  discard?: boolean;
  delayMs?: number;
}

export interface TestSmtpServer {
  port: number;
  host: string;
  messages: Buffer[];
  sizes: number[];
  envelopes: { from: string; to: string[] }[];
  commands: string[];
  auths: { method: string; username?: string }[];
  sessions: { secure: boolean; tlsProtocol?: string }[];
  /** Connections open right now, and the most ever open at once (since the start or the last reset). */
  readonly open: number;
  readonly maxOpen: number;
  /** When each recorded message's data had fully arrived (epoch ms), in the order of `sizes`. */
  receivedAt: number[];
  /** Forgets everything recorded so far. */
  reset(): void;
  close(): Promise<void>;
}

/** '550 5.7.60 text' → an Error smtp-server answers with exactly that reply. */
function reply(line: string): Error {
  const m = /^(\d{3})[ -](?:(\d\.\d{1,3}\.\d{1,3}) )?(.*)$/.exec(line);
  if (!m) throw new Error(`test harness: bad scripted reply '${line}'`);
  // smtp-server adds an enhanced code on its own unless the text starts with one
  return Object.assign(new Error(m[2] ? `${m[2]} ${m[3]}` : m[3]), { responseCode: Number(m[1]) });
}

export async function startSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const mode = options.tls ?? 'starttls';
  const starttls = mode === 'starttls' ? (options.starttls ?? 'on') : 'off';
  const cert = options.cert ?? testPki().server;
  const refuse = options.refuse ?? {};
  const state = {
    messages: [] as Buffer[],
    sizes: [] as number[],
    envelopes: [] as { from: string; to: string[] }[],
    commands: [] as string[],
    auths: [] as { method: string; username?: string }[],
    sessions: [] as { secure: boolean; tlsProtocol?: string }[],
    receivedAt: [] as number[],
  };
  let delivered = 0;
  let open = 0;
  let maxOpen = 0;
  const noop = () => undefined;
  const logger = {
    trace: noop,
    info: noop,
    warn: noop,
    error: noop,
    fatal: noop,
    debug: (entry: { tnx?: string; command?: string }) => {
      if (entry?.tnx === 'command' && entry.command) state.commands.push(entry.command.toUpperCase());
    },
  };
  const disabled: string[] = [];
  if (starttls === 'off') disabled.push('STARTTLS');
  const serverOptions: SMTPServerOptions = {
    secure: mode === 'implicit',
    key: cert.key,
    cert: cert.cert,
    name: 'mx.test.invalid',
    banner: 'sysemail test server',
    logger,
    disabledCommands: disabled,
    hideSTARTTLS: starttls === 'hidden',
    authMethods: options.authMethods ?? ['PLAIN', 'LOGIN'],
    authOptional: options.authOptional ?? false,
    allowInsecureAuth: options.authOnlyAfterStartTls === false || mode === 'none',
    disableReverseLookup: true,
    socketTimeout: 20_000,
    closeTimeout: 1_000,
    ...(options.size ? { size: options.size } : {}),
    onClose() {
      open--;
    },
    onConnect(session, cb) {
      open++;
      maxOpen = Math.max(maxOpen, open);
      state.sessions.push({ secure: false });
      if (options.authHiddenBeforeStartTls) {
        // smtp-server has no switch for this: the session's connection answers "not supported" until TLS
        type Conn = { session?: { id?: string }; secure: boolean; _isSupported(command: string): boolean };
        for (const conn of (server as unknown as { connections: Set<Conn> }).connections) {
          if (conn.session?.id !== session.id) continue;
          const supported = conn._isSupported.bind(conn);
          conn._isSupported = (command) => (String(command).toUpperCase() === 'AUTH' && !conn.secure ? false : supported(command));
        }
      }
      if (refuse.onConnect) return cb(reply(refuse.onConnect));
      cb();
    },
    onAuth(auth, session, cb) {
      state.auths.push({ method: auth.method, username: auth.username });
      if (refuse.auth) return cb(reply(refuse.auth));
      if (auth.method === 'XOAUTH2') {
        const ok = auth.username !== undefined && options.tokens?.[auth.username] === auth.accessToken;
        return ok
          ? cb(null, { user: auth.username })
          : cb(null, { data: { status: '401', schemes: 'bearer', scope: 'https://outlook.office365.com/.default' } });
      }
      const ok =
        auth.username !== undefined && options.users?.[auth.username] !== undefined && options.users[auth.username] === auth.password;
      if (!ok) return cb(reply('535 5.7.8 Authentication credentials invalid'));
      cb(null, { user: auth.username });
    },
    onMailFrom(address, session, cb) {
      const last = state.sessions[state.sessions.length - 1];
      if (last) {
        last.secure = session.secure;
        if (session.tlsOptions) last.tlsProtocol = session.tlsOptions.version ?? session.tlsOptions.name;
      }
      const m = refuse.mail;
      if (typeof m === 'string') return cb(reply(m));
      if (m && m[address.address]) return cb(reply(m[address.address]));
      cb();
    },
    onRcptTo(address, session, cb) {
      const r = refuse.rcpt;
      if (typeof r === 'string') return cb(reply(r));
      if (r && r[address.address]) return cb(reply(r[address.address]));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let size = 0;
      if (refuse.dropDuringData) {
        stream.once('data', () => {
          // the client is mid-message: pull the plug as a crashing or overloaded server would
          const socket = (server as unknown as { connections: Set<{ _socket: { destroy(): void } }> }).connections;
          for (const c of socket) c._socket.destroy();
        });
      }
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (!options.discard) chunks.push(chunk);
      });
      stream.on('end', () => {
        const arrived = Date.now();
        if (refuse.dropDuringData) return;
        const n = ++delivered;
        if (stream.sizeExceeded) return cb(reply(`552 5.3.4 Message size exceeds fixed limit of ${options.size} bytes`));
        const scripted = refuse.nth?.[n] ?? refuse.data;
        if (scripted) return cb(reply(scripted));
        const accept = () => {
          state.sizes.push(size);
          state.receivedAt.push(arrived);
          if (!options.discard) state.messages.push(Buffer.concat(chunks));
          state.envelopes.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          });
          cb(null, `Ok: queued as TEST${n}`);
        };
        if (options.delayMs) setTimeout(accept, options.delayMs);
        else accept();
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    ...state,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    reset() {
      for (const list of Object.values(state)) list.length = 0;
      maxOpen = open;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
