/**
 * SMTP through nodemailer. smtp.security: `starttls` requires the upgrade and never falls back to
 * plaintext (so no AUTH ever crosses an unencrypted connection), `tls` is implicit TLS, `none` is plain
 * and refuses to send a credential anywhere but this machine. Certificates are always verified;
 * smtp.caFile adds one trusted CA to the system ones.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import util from 'node:util';
import type { NodemailerError, Transporter } from 'nodemailer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SysemailError, isSysemailError } from '../core/errors.js';
import type { FailureInfo } from '../core/failure.js';
import { addressOf } from '../core/message.js';
import { SMTP_OAUTH_SCOPE } from '../core/params.js';
import type { Settings } from '../core/precedence.js';
import type { ConnectionTestOptions, OutgoingMessage, PhaseResult, Provider, RenderedMime, SendResult, TestPhase, TlsInfo } from './types.js';
import { configError, fetchClientCredentialsToken, nodemailerMessage, phaseRecorder, readSecret, safeHost, type AccessToken, type ProviderOptions } from './common.js';
import { sessionDeadlineError, smtpError, smtpFailureOf, type SmtpEndpoint, type SmtpSecurity } from './smtp-failure.js';
import { countLines, transcriptLogger } from './transcript.js';

/** Time to open the TCP (and, for implicit TLS, the TLS) connection. */
export const SMTP_CONNECTION_TIMEOUT_MS = 15_000;
/** Time from connecting to the server's 220 greeting (and to the end of a STARTTLS upgrade). */
export const SMTP_GREETING_TIMEOUT_MS = 15_000;
/** Silence allowed in mid-session, e.g. while the server checks a large message after DATA. */
export const SMTP_SOCKET_TIMEOUT_MS = 60_000;
/** A TLS handshake attempt used to tell "port speaks implicit TLS" from "server is slow". */
export const TLS_PROBE_TIMEOUT_MS = 4_000;
/** How long QUIT may take before the socket is simply closed. */
const QUIT_GRACE_MS = 2_000;

export interface SmtpConfig extends SmtpEndpoint {
  authRequired: boolean;
  ca?: string;
  oauth?: { tokenUrl: string; clientId: string; scope: string };
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

export function readSmtpConfig(settings: Settings): SmtpConfig {
  const host = settings.string('smtp.host');
  if (!host) throw configError('smtp', 'SMTP_HOST_MISSING', 'smtp.host is not set', 'Set the server with `sysemail params set smtp.host smtp.example.com smtp.port 587`');
  const port = settings.number('smtp.port');
  const security = (settings.string('smtp.security') ?? 'starttls') as SmtpSecurity;
  const authRequired = settings.boolean('smtp.authRequired');
  const authMethod = (settings.string('smtp.authMethod') ?? 'password') as 'password' | 'oauth2';
  const username = settings.string('smtp.username');
  if (authRequired && !username) {
    throw configError('smtp', 'SMTP_USERNAME_MISSING', 'smtp.authRequired is true but smtp.username is not set', 'Set `sysemail params set smtp.username user@example.com`, or `sysemail params set smtp.authRequired false` for a relay that needs no sign-in');
  }
  if (security === 'none' && authRequired && !isLoopbackHost(host)) {
    throw configError('smtp', 'INSECURE_AUTH_REFUSED', `smtp.security is none, so the credentials would cross the network to ${host} unencrypted; sysemail refuses`, 'Use `sysemail params set smtp.security starttls` (port 587) or tls (port 465); none is only for a relay on this machine');
  }
  const cfg: SmtpConfig = { host, port, security, authRequired, authMethod, ...(username ? { username } : {}) };
  if (authRequired && authMethod === 'oauth2') {
    const tokenUrl = settings.string('smtp.oauth.tokenUrl');
    const clientId = settings.string('smtp.oauth.clientId');
    if (!tokenUrl || !clientId) {
      throw configError('smtp', 'SMTP_OAUTH_INCOMPLETE', `smtp.authMethod is oauth2 but ${!clientId ? 'smtp.oauth.clientId' : 'smtp.oauth.tenantId (or smtp.oauth.tokenUrl)'} is not set`, 'Set `sysemail params set smtp.oauth.tenantId TENANT smtp.oauth.clientId APP_ID` and store the secret with `printf %s "$SECRET" | sysemail params set smtp.oauth.clientSecret --stdin`');
    }
    cfg.oauth = { tokenUrl, clientId, scope: settings.string('smtp.oauth.scope') ?? SMTP_OAUTH_SCOPE };
  }
  const caFile = settings.string('smtp.caFile');
  if (caFile) {
    let pem: string;
    try {
      pem = fs.readFileSync(caFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw configError('smtp', 'SMTP_CA_UNREADABLE', `smtp.caFile ${caFile} cannot be read (${code})`, 'Point smtp.caFile at a readable PEM file, or `sysemail params unset smtp.caFile`');
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw configError('smtp', 'SMTP_CA_INVALID', `smtp.caFile ${caFile} holds no PEM certificate`, 'Give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)');
    }
    cfg.ca = pem;
  }
  return cfg;
}

type Timeouts = Required<Omit<NonNullable<ProviderOptions['timeouts']>, 'requestMs'>>;

/** Options shared by the transport (send) and the step-by-step connection (test). */
function connectionOptions(cfg: SmtpConfig, t: Timeouts): SMTPConnection.Options {
  return {
    host: cfg.host,
    port: cfg.port,
    secure: cfg.security === 'tls',
    requireTLS: cfg.security === 'starttls',
    ignoreTLS: cfg.security === 'none',
    connectionTimeout: t.connectionMs,
    greetingTimeout: t.greetingMs,
    socketTimeout: t.socketMs,
    tls: {
      minVersion: 'TLSv1.2',
      ...(cfg.ca ? { ca: [...tls.rootCertificates, cfg.ca] } : {}),
      ...(net.isIP(cfg.host) ? {} : { servername: cfg.host }),
    },
  };
}

/**
 * Does the port answer a TLS handshake? A certificate complaint still proves it does. Used after a
 * greeting never came, to tell a port that expects implicit TLS from a server that is just slow.
 */
export function probeImplicitTls(cfg: SmtpConfig, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(v);
    };
    const socket = tls.connect({
      host: cfg.host,
      port: cfg.port,
      ...(net.isIP(cfg.host) ? {} : { servername: cfg.host }),
      ...(cfg.ca ? { ca: [...tls.rootCertificates, cfg.ca] } : {}),
    });
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('secureConnect', () => finish(true));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      finish(/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|HOSTNAME/.test(err.code ?? ''));
    });
  });
}

function isNodemailerError(err: unknown): err is NodemailerError {
  return err instanceof Error;
}

function tlsInfoOf(socket: unknown): TlsInfo | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const cert = socket.getPeerCertificate();
  const cipher = socket.getCipher()?.name;
  return {
    protocol: socket.getProtocol() ?? 'TLS',
    ...(cipher ? { cipher } : {}),
    subject: String(cert?.subject?.CN ?? cert?.subject?.O ?? 'unnamed'),
    issuer: String(cert?.issuer?.CN ?? cert?.issuer?.O ?? 'unknown issuer'),
    ...(cert?.valid_to ? { validTo: new Date(cert.valid_to).toISOString() } : {}),
  };
}

function tlsDetail(socket: unknown): string {
  if (!(socket instanceof tls.TLSSocket)) return 'encrypted';
  const cert = socket.getPeerCertificate();
  const name = String(cert?.subject?.CN ?? cert?.subject?.O ?? 'unnamed');
  const issuer = String(cert?.issuer?.CN ?? cert?.issuer?.O ?? 'unknown issuer');
  const until = cert?.valid_to ? new Date(cert.valid_to).toISOString().slice(0, 10) : 'unknown';
  return `${socket.getProtocol() ?? 'TLS'} ${socket.getCipher()?.name ?? ''}; certificate CN=${name} issued by ${issuer}, expires ${until}`.replace(' ;', ';');
}

/** Lines of an EHLO reply without the greeting line and the codes: the server's capabilities. */
function capabilitiesOf(ehloReply: string): string[] {
  return ehloReply
    .split(/\r?\n/)
    .map((l) => l.replace(/^\d{3}[ -]/, '').trim())
    .filter(Boolean)
    .slice(1);
}

const TEST_ORDER: readonly TestPhase[] = ['connect', 'tls', 'ehlo', 'auth', 'mail', 'rcpt'];

export class SmtpProvider implements Provider {
  readonly name = 'smtp' as const;
  /** smtp.sessionTimeoutSec: connection to the end of DATA, however busy the server keeps the socket. */
  readonly deadlineMs: number;
  private readonly timeouts: Timeouts;
  private transporter?: Transporter;
  private transportToken?: AccessToken;
  private token?: AccessToken;

  constructor(private readonly options: ProviderOptions) {
    this.timeouts = {
      connectionMs: SMTP_CONNECTION_TIMEOUT_MS,
      greetingMs: SMTP_GREETING_TIMEOUT_MS,
      socketMs: SMTP_SOCKET_TIMEOUT_MS,
      probeMs: TLS_PROBE_TIMEOUT_MS,
      sessionMs: options.settings.number('smtp.sessionTimeoutSec') * 1000,
      ...options.timeouts,
    };
    this.deadlineMs = this.timeouts.sessionMs;
  }

  private config(): SmtpConfig {
    return readSmtpConfig(this.options.settings);
  }

  /** Checks the settings and reads the secret, so a missing one is reported before anything is stored. */
  async prepare(): Promise<void> {
    const cfg = this.config();
    if (cfg.authRequired && cfg.authMethod === 'password') await readSecret('smtp.password', 'smtp', this.options.settings, this.options.secrets);
    if (cfg.authRequired && cfg.authMethod === 'oauth2') await readSecret('smtp.oauth.clientSecret', 'smtp', this.options.settings, this.options.secrets);
  }

  private async accessToken(cfg: SmtpConfig): Promise<AccessToken> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token;
    const clientSecret = await readSecret('smtp.oauth.clientSecret', 'smtp', this.options.settings, this.options.secrets);
    this.token = await fetchClientCredentialsToken({ provider: 'smtp', tokenUrl: cfg.oauth!.tokenUrl, clientId: cfg.oauth!.clientId, clientSecret, scope: cfg.oauth!.scope });
    return this.token;
  }

  private async auth(cfg: SmtpConfig): Promise<SMTPConnection.AuthenticationType | undefined> {
    if (!cfg.authRequired) return undefined;
    if (cfg.authMethod === 'oauth2') {
      const token = await this.accessToken(cfg);
      return { type: 'OAuth2', user: cfg.username, accessToken: token.accessToken };
    }
    return { user: cfg.username, pass: await readSecret('smtp.password', 'smtp', this.options.settings, this.options.secrets) };
  }

  private creating?: Promise<Transporter>;

  /** Parallel first sends (the distributor's pool) share one transport instead of each opening, and leaking, its own. */
  private transport(cfg: SmtpConfig): Promise<Transporter> {
    if (!this.creating) this.creating = this.openTransport(cfg).finally(() => (this.creating = undefined));
    return this.creating;
  }

  private async openTransport(cfg: SmtpConfig): Promise<Transporter> {
    // an OAuth2 token lives about an hour: a pooled transport is rebuilt with a fresh one
    if (this.transporter && (!this.transportToken || this.transportToken.expiresAt > Date.now())) return this.transporter;
    if (this.transporter) this.transporter.close();
    const { default: nodemailer } = await import('nodemailer');
    const auth = await this.auth(cfg);
    this.transportToken = cfg.authRequired && cfg.authMethod === 'oauth2' ? this.token : undefined;
    const pool = this.options.pool;
    const transcript = this.options.onTranscript ? transcriptLogger(this.options.onTranscript, { implicitTls: cfg.security === 'tls' }) : undefined;
    this.transporter = nodemailer.createTransport({
      ...connectionOptions(cfg, this.timeouts),
      ...(auth ? { auth, forceAuth: true } : {}),
      ...(pool ? { pool: true, maxConnections: pool.maxConnections, maxMessages: Infinity } : {}),
      ...(transcript ? { logger: transcript.logger as never, transactionLog: true } : {}),
    });
    // nodemailer does not read a rendered (raw) message's headers and would make up a Message-ID for
    // its logs and result, at five random draws per message; it is told the one rendered in
    this.transporter.use('stream', (mail, done) => {
      const data = mail.data as { raw?: unknown; messageId?: string };
      if (data.raw && data.messageId) mail.message.setHeader('Message-ID', data.messageId);
      if (transcript) mail.message.transform(() => transcript.counter());
      done();
    });
    return this.transporter;
  }

  /** Turns a nodemailer error into the SysemailError the user sees, telling TLS mode mismatches apart. */
  private async explain(err: unknown, cfg: SmtpConfig, from?: string): Promise<SysemailError> {
    if (isSysemailError(err)) return err;
    if (!isNodemailerError(err)) {
      return smtpError({ provider: 'smtp', response: String(err) }, cfg, err, { from });
    }
    let failure: FailureInfo = smtpFailureOf(err);
    let mismatch = false;
    const text = `${err.message} ${err.originalCode ?? ''}`;
    if (cfg.security === 'tls' && /wrong version number|packet length too long|unknown protocol|ERR_SSL_WRONG_VERSION_NUMBER/i.test(text)) {
      mismatch = true;
      failure = { ...failure, phase: 'tls' };
    } else if (cfg.security !== 'tls' && (err.timeoutType === 'GREETING_TIMEOUT' || failure.phase === 'greeting' || /closed unexpectedly/i.test(err.message)) && !failure.responseCode) {
      // the finding goes into the words kept with the attempt, so the diagnosis of the history says it too
      if (await probeImplicitTls(cfg, this.timeouts.probeMs)) {
        mismatch = true;
        failure = { ...failure, phase: 'tls', code: 'ETLS', response: `${failure.response}; the port answered a TLS handshake: it expects implicit TLS` };
      } else if (err.timeoutType === 'GREETING_TIMEOUT') {
        failure = { ...failure, response: `${failure.response}; the port did not answer a TLS handshake either` };
      }
    }
    return smtpError(failure, cfg, err, { from, mismatch });
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const cfg = this.config();
    // A socket timeout only sees silence: a server trickling one line a second would hold the send
    // for ever. Aborting closes this message's connection (also in the pool) and nothing else.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeouts.sessionMs);
    const r = message.rendered;
    try {
      const transporter = await this.transport(cfg);
      const info = await transporter.sendMail({
        ...(r
          ? { envelope: r.envelope, raw: Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength), ...(message.messageId ? { messageId: message.messageId } : {}) }
          : nodemailerMessage(message)),
        signal: deadline.signal,
      });
      return {
        provider: 'smtp',
        messageId: info.messageId,
        response: info.response,
        accepted: (info.accepted ?? []).map((a: unknown) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a))),
        rejected: (info.rejected ?? []).map((a: unknown) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a))),
      };
    } catch (err) {
      if (deadline.signal.aborted && !isSysemailError(err)) throw sessionDeadlineError(cfg, this.timeouts.sessionMs, err);
      throw await this.explain(err, cfg, addressOf(message.from));
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // every send has ended by now; a connection still busy is one a server is stalling
    (this.transporter as unknown as { close(options?: { force?: boolean }): void } | undefined)?.close({ force: true });
    this.transporter = undefined;
  }

  /**
   * A real transaction, one step at a time, reporting each as it ends: connect (greeting), tls
   * (protocol, certificate), ehlo (capabilities), auth (mechanism, never the secret), mail, rcpt, and
   * without quitAfter the DATA of a short test message.
   */
  async test(opts: ConnectionTestOptions): Promise<{ ok: boolean; phases: PhaseResult[]; failure?: FailureInfo; error?: SysemailError }> {
    const stopIndex = opts.quitAfter ? TEST_ORDER.indexOf(opts.quitAfter) : Infinity;
    const { phases, emit } = phaseRecorder(opts.onPhase);
    const reached = (phase: TestPhase) => TEST_ORDER.indexOf(phase) >= stopIndex;
    const fail = (phase: TestPhase, error: SysemailError) => {
      emit(phase, false, error.message);
      return { ok: false, phases, failure: error.data as FailureInfo | undefined, error };
    };

    let cfg: SmtpConfig;
    try {
      cfg = this.config();
    } catch (err) {
      if (!isSysemailError(err)) throw err;
      return fail('connect', err);
    }

    const { default: Connection } = await import('nodemailer/lib/smtp-connection');
    let greeting: string | undefined;
    let lastClient = '';
    let ehloReply = '';
    let ehloBeforeTls: string | undefined;
    let authReply = '';
    let authMechanism = '';
    let stop: (() => void) | undefined;
    let remote = '';
    let conn: SMTPConnection | undefined;
    const emitTls = () => {
      const socket = (conn as unknown as { _socket?: unknown })._socket;
      const info = tlsInfoOf(socket);
      emit('tls', true, tlsDetail(socket), info ? { tls: info } : undefined);
    };
    const onLog = (entry: { tnx?: string; remoteAddress?: string } | undefined, text: string) => {
      const tnx = entry?.tnx;
      if (tnx === 'network' && entry?.remoteAddress) remote = entry.remoteAddress;
      if (tnx === 'client') {
        lastClient = text;
        if (/^AUTH /i.test(text)) authMechanism = text.split(' ')[1] ?? '';
        return;
      }
      if (tnx === 'server') {
        if (greeting === undefined) {
          greeting = text;
          if (!text.startsWith('220')) return;
          emit('connect', true, `${cfg.host}:${cfg.port}${remote && remote !== cfg.host ? ` (${remote})` : ''} ${text}`);
          if (cfg.security === 'tls') emitTls();
          if (cfg.security === 'none') emit('tls', true, 'skipped: smtp.security is none (plain connection)');
          if (reached('connect') || (cfg.security !== 'starttls' && reached('tls'))) stop?.();
        } else if (/^(EHLO|HELO|LHLO) /.test(lastClient)) ehloReply = text;
        else if (/^AUTH |^[A-Za-z0-9+/=]*$/.test(lastClient) || lastClient.includes('/* secret */')) authReply = text;
        return;
      }
      if (tnx === 'smtp' && /upgraded with STARTTLS/i.test(text)) {
        ehloBeforeTls = ehloReply;
        emitTls();
        if (reached('tls')) stop?.();
      }
    };
    const transcript = this.options.onTranscript ? transcriptLogger(this.options.onTranscript, { implicitTls: cfg.security === 'tls' }) : undefined;
    const log = (level: string) => (entry: unknown, message: unknown, ...args: unknown[]) => {
      if (level === 'trace') return;
      transcript?.logger[level]?.(entry, message, ...args);
      onLog(entry as { tnx?: string }, util.format(message, ...args));
    };
    const logger = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, log(l)]));
    conn = new Connection({ ...connectionOptions(cfg, this.timeouts), logger: logger as never, transactionLog: true });
    const c = conn;

    let quitting = false;
    let endSession!: (err: NodemailerError | SysemailError) => void;
    const closed = new Promise<NodemailerError | SysemailError>((resolve) => {
      endSession = resolve;
      c.on('error', (err: NodemailerError) => resolve(err));
      c.once('end', () => {
        if (!quitting) resolve(Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION', command: 'CONN' }) as NodemailerError);
      });
    });
    // the same overall deadline as a send: a stalling server ends the test instead of holding it
    const deadline = setTimeout(() => {
      endSession(sessionDeadlineError(cfg, this.timeouts.sessionMs));
      c.close();
    }, this.timeouts.sessionMs);
    deadline.unref();

    try {
      const finish = async () => {
        quitting = true;
        try {
          c.quit();
        } catch {
          // already closed
        }
        const timer = setTimeout(() => c.close(), QUIT_GRACE_MS);
        timer.unref();
        c.once('end', () => clearTimeout(timer));
      };
      const phaseOfFailure = (f: FailureInfo | undefined, fallback: TestPhase): TestPhase => {
        const p = f?.phase;
        if (p === 'greeting' || p === 'dns' || p === 'connect') return 'connect';
        if (p === 'tls' || p === 'ehlo' || p === 'auth' || p === 'mail' || p === 'rcpt' || p === 'data' || p === 'token') return p;
        return fallback;
      };
      const failWith = async (err: unknown, fallback: TestPhase, from?: string) => {
        const error = await this.explain(err, cfg, from);
        c.close();
        return fail(phaseOfFailure(error.data as FailureInfo | undefined, fallback), error);
      };

      // connect → greeting → (STARTTLS →) EHLO: nodemailer runs these in one go; the log shows each step
      const handshake = await new Promise<NodemailerError | 'stopped' | undefined>((resolve) => {
        stop = () => resolve('stopped');
        void closed.then(resolve);
        c.connect((err?: NodemailerError) => resolve(err));
      });
      if (handshake === 'stopped') {
        await finish();
        return { ok: true, phases };
      }
      if (handshake) {
        const done = new Set(phases.map((p) => p.phase));
        return failWith(handshake, !done.has('connect') ? 'connect' : !done.has('tls') ? 'tls' : 'ehlo');
      }
      const capabilities = capabilitiesOf(ehloReply);
      emit('ehlo', true, capabilities.length ? capabilities.join(', ') : 'no extensions announced', {
        capabilities,
        ...(ehloBeforeTls !== undefined ? { capabilitiesBeforeTls: capabilitiesOf(ehloBeforeTls) } : {}),
      });
      if (reached('ehlo')) {
        await finish();
        return { ok: true, phases };
      }

      const raceClosed = <T>(p: Promise<T>) => Promise.race([p, closed.then((e) => Promise.reject(e))]);
      if (!cfg.authRequired) {
        emit('auth', true, 'skipped: smtp.authRequired is false');
      } else if (!c.allowsAuth) {
        const failure: FailureInfo = { provider: 'smtp', phase: 'auth', code: 'EAUTH', response: 'the server announced no AUTH in its EHLO reply' };
        c.close();
        return fail('auth', smtpError(failure, cfg));
      } else {
        let auth: SMTPConnection.AuthenticationType;
        try {
          if (cfg.authMethod === 'oauth2') {
            const token = await this.accessToken(cfg);
            emit('token' as TestPhase, true, `client-credentials token from ${safeHost(cfg.oauth!.tokenUrl)} for ${cfg.oauth!.clientId}, valid ${Math.round((token.expiresAt - Date.now()) / 60_000)} min`);
            const { default: XOAuth2 } = await import('nodemailer/lib/xoauth2');
            auth = { user: cfg.username, method: 'XOAUTH2', oauth2: new XOAuth2({ user: cfg.username, accessToken: token.accessToken }) };
          } else {
            auth = { user: cfg.username, pass: await readSecret('smtp.password', 'smtp', this.options.settings, this.options.secrets) };
          }
        } catch (err) {
          c.close();
          if (!isSysemailError(err)) throw err;
          return fail((err.data as FailureInfo | undefined)?.phase === 'token' ? ('token' as TestPhase) : 'auth', err);
        }
        try {
          await raceClosed(new Promise<void>((resolve, reject) => c.login(auth, (err) => (err ? reject(err) : resolve()))));
        } catch (err) {
          return failWith(err, 'auth');
        }
        emit('auth', true, `${authMechanism || 'AUTH'} as ${cfg.username}: ${authReply || 'accepted'}`);
      }
      if (reached('auth')) {
        await finish();
        return { ok: true, phases };
      }

      const from = addressOf(opts.from);
      const utf8 = /[^\x00-\x7f]/.test(from + (opts.to ?? '')) && capabilities.some((l) => /^SMTPUTF8\b/i.test(l)) ? ' SMTPUTF8' : '';
      const envelopeStep = async (phase: 'mail' | 'rcpt', line: string): Promise<{ ok: true } | { ok: false; result: Awaited<ReturnType<typeof fail>> }> => {
        let reply: string;
        try {
          reply = await raceClosed(rawCommand(c, line));
        } catch (err) {
          return { ok: false, result: await failWith(err, phase, from) };
        }
        if (!reply.startsWith('2')) {
          const command = phase === 'mail' ? 'MAIL FROM' : 'RCPT TO';
          const err = Object.assign(new Error(reply), { code: 'EENVELOPE', response: reply, responseCode: Number(reply.slice(0, 3)) || undefined, command }) as NodemailerError;
          return { ok: false, result: await failWith(err, phase, from) };
        }
        emit(phase, true, reply);
        return { ok: true };
      };
      // a test that stops after MAIL or RCPT leaves no half-open transaction behind: RSET, then QUIT
      const resetEnvelope = () =>
        raceClosed(new Promise<void>((resolve) => c.reset(() => resolve()))).catch(() => undefined);
      const mail = await envelopeStep('mail', `MAIL FROM:<${from}>${utf8}`);
      if (!mail.ok) return mail.result;
      if (reached('mail')) {
        await resetEnvelope();
        await finish();
        return { ok: true, phases };
      }
      if (!opts.to) throw new SysemailError('usage', 'TEST_NEEDS_RECIPIENT', 'a recipient is needed from the rcpt step on', { fix: 'Give --to ADDR, or --quit-after auth to test without one' });
      const to = addressOf(opts.to);
      const rcpt = await envelopeStep('rcpt', `RCPT TO:<${to}>`);
      if (!rcpt.ok) return rcpt.result;
      if (reached('rcpt')) {
        await resetEnvelope();
        await finish();
        return { ok: true, phases };
      }

      // the real DATA: start a clean transaction and let nodemailer stream a short message
      try {
        await raceClosed(new Promise<void>((resolve, reject) => c.reset((err) => (err ? reject(err) : resolve()))));
        const raw = await buildTestMessage(opts.from, opts.to);
        transcript?.expectBody(countLines(raw));
        const info = await raceClosed(
          new Promise<{ response: string }>((resolve, reject) => c.send({ from, to: [to] }, raw, (err, res) => (err ? reject(err) : resolve(res)))),
        );
        emit('data', true, info.response);
      } catch (err) {
        return failWith(err, 'data', from);
      }
      await finish();
      return { ok: true, phases };
    } finally {
      clearTimeout(deadline);
    }
  }
}

/** Sends one command on an established session and waits for its reply (MAIL/RCPT without DATA). */
function rawCommand(conn: SMTPConnection, line: string): Promise<string> {
  const internals = conn as unknown as { _responseActions: ((reply: string) => void)[]; _sendCommand(line: string): void };
  return new Promise((resolve) => {
    internals._responseActions.push(resolve);
    internals._sendCommand(line);
  });
}

export async function buildTestMessage(from: string, to: string): Promise<Buffer> {
  const { default: MailComposer } = await import('nodemailer/lib/mail-composer');
  const when = new Date().toISOString();
  return new MailComposer({
    from,
    to,
    subject: `sysemail test message ${when}`,
    text: `This message was sent by \`sysemail test-email\` at ${when} to check the outgoing mail settings.\nNo action is needed.\n`,
  })
    .compile()
    .build();
}

/** What nodemailer hands a transport: the compiled message. */
interface RenderableMessage {
  build(cb: (err: Error | null, raw: Buffer) => void): void;
  getEnvelope(): { from: string | false; to: string[] };
}

/**
 * Renders messages to their MIME bytes exactly as the SMTP transport would (the same nodemailer
 * pipeline, into a buffer), for sending later with `rendered`. Messages with attachments are not
 * rendered ahead: their bytes could be large.
 */
export class MimeRenderer {
  private transporter?: Transporter;

  static wants(message: OutgoingMessage): boolean {
    return message.attachments.length === 0;
  }

  async render(message: OutgoingMessage): Promise<RenderedMime> {
    if (!this.transporter) {
      const { default: nodemailer } = await import('nodemailer');
      // a transport of our own that keeps the built bytes: nodemailer's stream transport would keep the
      // Bcc header, which the SMTP transport leaves out
      const keep = {
        name: 'sysemail-render',
        version: '1',
        send(mail: { message: RenderableMessage }, done: (err: Error | null, info?: unknown) => void) {
          mail.message.build((err, raw) => (err ? done(err) : done(null, { envelope: mail.message.getEnvelope(), raw })));
        },
      };
      this.transporter = nodemailer.createTransport(keep as unknown as Parameters<typeof nodemailer.createTransport>[0]);
    }
    const info = (await this.transporter.sendMail(nodemailerMessage(message))) as unknown as { envelope: { from: string | false; to: string[] }; raw: Buffer };
    return { raw: info.raw, envelope: { from: info.envelope.from || '', to: info.envelope.to } };
  }
}
