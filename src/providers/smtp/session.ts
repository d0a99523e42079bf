/**
 * A real SMTP transaction, one step at a time, reporting each as it ends: connect (greeting), tls
 * (protocol, certificate), ehlo (capabilities), auth (mechanism, never the secret), mail, rcpt, and
 * without quitAfter the DATA of a short test message. What `test-email` and `diagnose` run.
 */
import tls from 'node:tls';
import type { NodemailerError } from 'nodemailer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SysemailError, isSysemailError } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import { addressOf } from '../../core/message.js';
import type { Timeouts } from '../../core/timeouts.js';
import { phaseRecorder, safeHost } from '../common.js';
import type { ConnectionTestOptions, PhaseResult, TestPhase, TlsInfo } from '../types.js';
import { connectionOptions, type SmtpConfig } from './config.js';
import type { SmtpCredentials } from './credentials.js';
import { explainSmtpError, sessionDeadlineError, smtpError } from './failure.js';
import { MASKED_SECRET, eventLogger, sendRawCommand, socketOf, type LogEvent } from './internals.js';
import { countLines, transcriptLogger } from './transcript.js';

export interface SessionResult {
  ok: boolean;
  phases: PhaseResult[];
  failure?: FailureInfo;
  error?: SysemailError;
}

export interface SessionOptions {
  /** Reads the configuration; a configuration error fails the connect step. */
  config: () => SmtpConfig;
  credentials: SmtpCredentials;
  timeouts: Timeouts;
  onTranscript?: (line: string) => void;
}

const TEST_ORDER: readonly TestPhase[] = ['connect', 'tls', 'ehlo', 'auth', 'mail', 'rcpt'];

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
  return `${socket.getProtocol() ?? 'TLS'} ${socket.getCipher()?.name ?? ''}; certificate CN=${name} issued by ${issuer}, expires ${until}`.replace(
    ' ;',
    ';',
  );
}

/** Lines of an EHLO reply without the greeting line and the codes: the server's capabilities. */
function capabilitiesOf(ehloReply: string): string[] {
  return ehloReply
    .split(/\r?\n/)
    .map((l) => l.replace(/^\d{3}[ -]/, '').trim())
    .filter(Boolean)
    .slice(1);
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

/** Runs the session. Never throws for a failed phase: the failure is in the result. */
export async function runSmtpSession(o: SessionOptions, opts: ConnectionTestOptions): Promise<SessionResult> {
  const stopIndex = opts.quitAfter ? TEST_ORDER.indexOf(opts.quitAfter) : Infinity;
  const { phases, emit } = phaseRecorder(opts.onPhase);
  const reached = (phase: TestPhase) => TEST_ORDER.indexOf(phase) >= stopIndex;
  const fail = (phase: TestPhase, error: SysemailError): SessionResult => {
    emit(phase, false, error.message);
    return { ok: false, phases, failure: error.data, error };
  };
  const explain = (err: unknown, from?: string) => explainSmtpError(err, cfg, o.timeouts.probeMs, from);

  let cfg: SmtpConfig;
  try {
    cfg = o.config();
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
  // eslint-disable-next-line prefer-const -- assigned below, read by handlers declared first
  let conn: SMTPConnection | undefined;
  const emitTls = () => {
    const socket = conn ? socketOf(conn) : undefined;
    const info = tlsInfoOf(socket);
    emit('tls', true, tlsDetail(socket), info ? { tls: info } : undefined);
  };
  const onLog = (e: LogEvent) => {
    if (e.kind === 'network' && e.remoteAddress) remote = e.remoteAddress;
    if (e.kind === 'client') {
      lastClient = e.text;
      if (/^AUTH /i.test(e.text)) authMechanism = e.text.split(' ')[1] ?? '';
      return;
    }
    if (e.kind === 'server') {
      const text = e.text;
      if (greeting === undefined) {
        greeting = text;
        if (!text.startsWith('220')) return;
        emit('connect', true, `${cfg.host}:${cfg.port}${remote && remote !== cfg.host ? ` (${remote})` : ''} ${text}`);
        if (cfg.security === 'tls') emitTls();
        if (cfg.security === 'none') emit('tls', true, 'skipped: smtp.security is none (plain connection)');
        if (reached('connect') || (cfg.security !== 'starttls' && reached('tls'))) stop?.();
      } else if (/^(EHLO|HELO|LHLO) /.test(lastClient)) ehloReply = text;
      else if (/^AUTH |^[A-Za-z0-9+/=]*$/.test(lastClient) || lastClient.includes(MASKED_SECRET)) authReply = text;
      return;
    }
    if (e.kind === 'starttls') {
      ehloBeforeTls = ehloReply;
      emitTls();
      if (reached('tls')) stop?.();
    }
  };
  const transcript = o.onTranscript ? transcriptLogger(o.onTranscript, { implicitTls: cfg.security === 'tls' }) : undefined;
  const logger = eventLogger((e) => {
    transcript?.onEvent(e);
    onLog(e);
  });
  conn = new Connection({ ...connectionOptions(cfg, o.timeouts), logger: logger as never, transactionLog: true });
  const c = conn;

  let quitting = false;
  let endSession!: (err: NodemailerError | SysemailError) => void;
  const closed = new Promise<NodemailerError | SysemailError>((resolve) => {
    endSession = resolve;
    c.on('error', (err: NodemailerError) => resolve(err));
    c.once('end', () => {
      if (!quitting) resolve(Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION', command: 'CONN' }));
    });
  });
  // the same overall deadline as a send: a stalling server ends the test instead of holding it
  const deadline = setTimeout(() => {
    endSession(sessionDeadlineError(cfg, o.timeouts.sessionMs));
    c.close();
  }, o.timeouts.sessionMs);
  deadline.unref();

  try {
    const finish = async () => {
      quitting = true;
      try {
        c.quit();
      } catch {
        // already closed
      }
      const timer = setTimeout(() => c.close(), o.timeouts.quitMs);
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
      const error = await explain(err, from);
      c.close();
      return fail(phaseOfFailure(error.data, fallback), error);
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
      return await failWith(handshake, !done.has('connect') ? 'connect' : !done.has('tls') ? 'tls' : 'ehlo');
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
      const failure: FailureInfo = {
        provider: 'smtp',
        phase: 'auth',
        code: 'EAUTH',
        response: 'the server announced no AUTH in its EHLO reply',
      };
      c.close();
      return fail('auth', smtpError(failure, cfg));
    } else {
      let auth: SMTPConnection.AuthenticationType;
      try {
        if (cfg.authMethod === 'oauth2') {
          const token = await o.credentials.accessToken(cfg);
          emit(
            'token',
            true,
            `client-credentials token from ${safeHost(cfg.oauth!.tokenUrl)} for ${cfg.oauth!.clientId}, valid ${Math.round((token.expiresAt - Date.now()) / 60_000)} min`,
          );
          const { default: XOAuth2 } = await import('nodemailer/lib/xoauth2');
          auth = { user: cfg.username, method: 'XOAUTH2', oauth2: new XOAuth2({ user: cfg.username, accessToken: token.accessToken }) };
        } else {
          auth = { user: cfg.username, pass: await o.credentials.password() };
        }
      } catch (err) {
        c.close();
        if (!isSysemailError(err)) throw err;
        return fail((err.data as FailureInfo | undefined)?.phase === 'token' ? 'token' : 'auth', err);
      }
      try {
        await raceClosed(new Promise<void>((resolve, reject) => c.login(auth, (err) => (err ? reject(err) : resolve()))));
      } catch (err) {
        return await failWith(err, 'auth');
      }
      emit('auth', true, `${authMechanism || 'AUTH'} as ${cfg.username}: ${authReply || 'accepted'}`);
    }
    if (reached('auth')) {
      await finish();
      return { ok: true, phases };
    }

    const from = addressOf(opts.from);
    const utf8 = /[^\x00-\x7f]/.test(from + (opts.to ?? '')) && capabilities.some((l) => /^SMTPUTF8\b/i.test(l)) ? ' SMTPUTF8' : '';
    const envelopeStep = async (phase: 'mail' | 'rcpt', line: string): Promise<{ ok: true } | { ok: false; result: SessionResult }> => {
      let reply: string;
      try {
        reply = await raceClosed(sendRawCommand(c, line));
      } catch (err) {
        return { ok: false, result: await failWith(err, phase, from) };
      }
      if (!reply.startsWith('2')) {
        const command = phase === 'mail' ? 'MAIL FROM' : 'RCPT TO';
        const err = Object.assign(new Error(reply), {
          code: 'EENVELOPE',
          response: reply,
          responseCode: Number(reply.slice(0, 3)) || undefined,
          command,
        }) as NodemailerError;
        return { ok: false, result: await failWith(err, phase, from) };
      }
      emit(phase, true, reply);
      return { ok: true };
    };
    // a test that stops after MAIL or RCPT leaves no half-open transaction behind: RSET, then QUIT
    const resetEnvelope = () => raceClosed(new Promise<void>((resolve) => c.reset(() => resolve()))).catch(() => undefined);
    const mail = await envelopeStep('mail', `MAIL FROM:<${from}>${utf8}`);
    if (!mail.ok) return mail.result;
    if (reached('mail')) {
      await resetEnvelope();
      await finish();
      return { ok: true, phases };
    }
    if (!opts.to)
      throw new SysemailError('usage', 'TEST_NEEDS_RECIPIENT', 'a recipient is needed from the rcpt step on', {
        fix: 'Give --to ADDR, or --quit-after auth to test without one',
      });
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
      const raw = opts.message ?? (await buildTestMessage(opts.from, opts.to));
      transcript?.expectBody(countLines(raw));
      const info = await raceClosed(
        new Promise<{ response: string }>((resolve, reject) =>
          c.send({ from, to: [to] }, raw, (err, res) => (err ? reject(err) : resolve(res))),
        ),
      );
      emit('data', true, info.response);
    } catch (err) {
      return await failWith(err, 'data', from);
    }
    await finish();
    return { ok: true, phases };
  } finally {
    clearTimeout(deadline);
  }
}
