/**
 * From a nodemailer error to a FailureInfo (which step, which code, the server's words) and to the one
 * line a user reads, with the fix. Kept apart from the transport so `test-email` and `send` say the
 * same thing about the same failure.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { NodemailerError } from 'nodemailer';
import { DEADLINE_SMTP, classifyFailure } from '../../core/classify.js';
import { isSysemailError, type ErrorCode, type SysemailError } from '../../core/errors.js';
import { enhancedCodeOf, type FailureInfo, type FailurePhase } from '../../core/failure.js';
import { failureError } from '../common.js';
import type { SmtpConfig, SmtpEndpoint } from './config.js';

export type { SmtpEndpoint, SmtpSecurity } from './config.js';

/** Node's own code is more telling than nodemailer's wrapper (ECONNREFUSED beats ESOCKET). */
const SPECIFIC_CODE =
  /^(E[A-Z_]+|ERR_[A-Z_]+|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+|HOSTNAME_MISMATCH)$/;
const CERT_TEXT = /certificate|self[- ]signed|unable to (get|verify)|altnames/i;

function phaseOf(err: NodemailerError): FailurePhase | undefined {
  const command = err.command ?? '';
  if (/^AUTH\b/.test(command) || err.code === 'EAUTH' || err.code === 'ENOAUTH' || err.code === 'EOAUTH2') return 'auth';
  if (command === 'MAIL FROM') return 'mail';
  if (command === 'RCPT TO') return 'rcpt';
  if (command === 'DATA') return 'data';
  if (command === 'STARTTLS') return 'tls';
  if (command === 'EHLO' || command === 'HELO' || command === 'LHLO') return 'ehlo';
  if (err.code === 'ETLS') return 'tls';
  if (err.code === 'EDNS') return 'dns';
  if (err.timeoutType === 'GREETING_TIMEOUT') return 'greeting';
  if (err.code === 'EPROTOCOL' && command === 'CONN') return 'greeting';
  const orig = err.originalCode ?? '';
  if (/^(ERR_SSL|ERR_TLS|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO|HOSTNAME_MISMATCH)/.test(orig) || CERT_TEXT.test(err.message)) return 'tls';
  if (err.code === 'EMESSAGE' || err.code === 'ESTREAM') return 'data';
  if (err.code === 'EENVELOPE') return 'rcpt';
  if (command === 'CONN' || err.code === 'ESOCKET' || err.code === 'ECONNECTION' || err.code === 'ETIMEDOUT') return 'connect';
  return undefined;
}

export function smtpFailureOf(err: NodemailerError, phaseHint?: FailurePhase): FailureInfo {
  const orig = err.originalCode;
  const code = orig && SPECIFIC_CODE.test(orig) ? orig : (err.code ?? undefined);
  const response = (err.response ?? err.message).trim();
  const enhancedCode = enhancedCodeOf(err.response);
  return {
    provider: 'smtp',
    ...((phaseOf(err) ?? phaseHint) ? { phase: phaseOf(err) ?? phaseHint } : {}),
    ...(code ? { code } : {}),
    ...(err.responseCode ? { responseCode: err.responseCode } : {}),
    ...(enhancedCode ? { enhancedCode } : {}),
    response,
    ...refusedOf((err as { rejectedErrors?: unknown }).rejectedErrors),
  };
}

/** Each recipient nodemailer reports refused, with the server's reply to it. */
export function refusedOf(list: unknown): { refused?: NonNullable<FailureInfo['refused']> } {
  if (!Array.isArray(list) || list.length === 0) return {};
  const refused = list.flatMap((e: { recipient?: unknown; responseCode?: unknown; response?: unknown; message?: unknown }) =>
    typeof e?.recipient === 'string'
      ? [
          {
            recipient: e.recipient,
            ...(typeof e.responseCode === 'number' ? { responseCode: e.responseCode } : {}),
            response: (typeof e.response === 'string' ? e.response : typeof e.message === 'string' ? e.message : '').trim(),
          },
        ]
      : [],
  );
  return refused.length > 0 ? { refused } : {};
}

/**
 * The session outlived smtp.sessionTimeoutSec: its connection was closed, and this message waits for
 * its next attempt.
 */
export function sessionDeadlineError(ep: SmtpEndpoint, deadlineMs: number, cause?: unknown): SysemailError {
  const seconds = Math.round(deadlineMs / 1000);
  const response = `the SMTP session with ${ep.host}:${ep.port} did not end within smtp.sessionTimeoutSec (${seconds} s), so it was cut off`;
  return failureError(
    { provider: 'smtp', code: DEADLINE_SMTP, response },
    DEADLINE_SMTP,
    response,
    `The server stalls or is very slow; the message is retried later. If it is only slow, allow more: \`sysemail params set smtp.sessionTimeoutSec ${Math.max(600, seconds * 2)}\``,
    cause,
  );
}

export function mismatchMessage(ep: SmtpEndpoint): string {
  if (ep.security === 'tls') {
    const plainPort = ep.port === 465 ? 587 : ep.port;
    return `port ${ep.port} speaks plain SMTP but smtp.security is tls: use starttls for ${plainPort}, tls for 465`;
  }
  const tlsPort = ep.port === 587 ? 465 : ep.port;
  return `port ${ep.port} expects implicit TLS but smtp.security is ${ep.security}: use tls for ${tlsPort}, starttls for 587`;
}

/** The SysemailError for a failed SMTP step, with a message naming the server and what to do. */
export function smtpError(
  failure: FailureInfo,
  ep: SmtpEndpoint,
  cause?: unknown,
  extra?: { from?: string; mismatch?: boolean },
): SysemailError {
  const server = `${ep.host}:${ep.port}`;
  const words = failure.response ?? failure.code ?? 'no details';
  const { rule } = classifyFailure(failure);
  const user = ep.username ? `'${ep.username}'` : 'the account';
  const secretHint =
    ep.authMethod === 'oauth2'
      ? 'check smtp.oauth.clientId, the client secret and that the application may send as this mailbox (SMTP.SendAsApp, service principal, mailbox permission)'
      : 'check smtp.username and the password (printf %s "$PW" | sysemail params set smtp.password --stdin)';
  const diagnose = `; \`sysemail diagnose --error '${words.replace(/'/g, '').slice(0, 120)}'\` explains the reply`;
  const fail = (code: ErrorCode, message: string, fix: string) => failureError(failure, code, message, fix, cause);

  if (extra?.mismatch || rule === 'tls-mode') {
    return fail(
      'TLS_MODE_MISMATCH',
      `${server}: ${mismatchMessage(ep)}`,
      `Fix it with \`sysemail params set smtp.security ${ep.security === 'tls' ? 'starttls' : 'tls'}\` or change smtp.port`,
    );
  }
  switch (rule) {
    case 'tls-cert':
      return fail(
        'TLS_CERT_UNTRUSTED',
        `the TLS certificate of ${server} is not trusted (${words})`,
        'If a private CA or a TLS-inspecting proxy signs it, add that CA with `sysemail params set smtp.caFile /path/ca.pem`; make sure smtp.host is the name on the certificate',
      );
    case 'starttls-unavailable':
      // "502 command not recognized" alone does not say what was refused
      if (!/TLS/i.test(failure.response ?? '')) failure = { ...failure, response: `STARTTLS not available: ${words}` };
      return fail(
        'STARTTLS_UNAVAILABLE',
        `smtp.security is starttls but ${server} does not offer STARTTLS (it answered: ${words}); nothing was sent and no password crossed the connection`,
        "Use the server's submission port that offers STARTTLS (587: `sysemail params set smtp.port 587`), or port 465 with `sysemail params set smtp.security tls`; smtp.security none is only for a local relay",
      );
    case 'tls':
      return fail(
        'TLS_FAILED',
        `TLS with ${server} failed (${words})`,
        'Check smtp.port and smtp.security (starttls for 587, tls for 465)' + diagnose,
      );
    case 'tls-network':
      return fail('TLS_FAILED', `TLS with ${server} failed for now (${words})`, 'Try again later' + diagnose);
    case 'starttls-required':
      return fail('STARTTLS_REQUIRED', `${server} requires STARTTLS first (${words})`, 'Use `sysemail params set smtp.security starttls`');
    case 'send-as':
      return fail(
        'SEND_AS_DENIED',
        `${server} refused to let ${user} send as ${extra?.from ?? 'this sender'} (${words})`,
        `Grant ${user} Send As permission on that address, or send from the account's own address (--from or sender.default)`,
      );
    case 'auth-refused':
      return fail(
        'AUTH_REFUSED',
        `${server} refused the sign-in of ${user} (${words})`,
        secretHint.charAt(0).toUpperCase() + secretHint.slice(1) + diagnose,
      );
    case 'auth-temporary':
    case 'auth-network':
      return fail('AUTH_TEMPFAIL', `${server} could not sign in ${user} for now (${words})`, 'Try again later' + diagnose);
    case 'auth-mechanism':
    case 'auth-setup':
      return fail(
        'AUTH_NOT_POSSIBLE',
        `cannot sign in to ${server} (${words})`,
        ep.security === 'none'
          ? 'The server may offer AUTH only after STARTTLS: use smtp.security starttls'
          : 'Check smtp.authMethod and that the server offers AUTH (`sysemail test-email --quit-after ehlo` lists what it offers); set smtp.authRequired false for a relay without sign-in',
      );
    case 'dns-not-found':
      return fail(
        'HOST_NOT_FOUND',
        `smtp.host '${ep.host}' does not resolve (${words})`,
        'Check the spelling of smtp.host and the DNS settings of this machine',
      );
    case 'smtp-421':
    case 'smtp-throttled':
      return fail(
        'SERVER_BUSY',
        `${server} is not taking mail right now (${words})`,
        'The server is busy or limiting the sending rate; try again later' + diagnose,
      );
    case 'network':
      if (failure.code === 'ECONNREFUSED') {
        return fail(
          'CONNECTION_REFUSED',
          `cannot connect to ${server}: connection refused`,
          `Check smtp.host and smtp.port and that the server is up; a firewall may block outbound port ${ep.port}`,
        );
      }
      if (failure.code === 'ETIMEDOUT') {
        return fail(
          'CONNECTION_TIMEOUT',
          `no answer from ${server} in time (${words})`,
          `Check that outbound port ${ep.port} is open from this machine (firewalls often block 25 and 587); try again later`,
        );
      }
      return fail('CONNECTION_FAILED', `the connection to ${server} failed (${words})`, 'Try again later' + diagnose);
    case 'smtp-5xx':
    case 'message-refused-locally':
      if (failure.phase === 'rcpt')
        return fail('RECIPIENT_REFUSED', `${server} refused the recipient (${words})`, 'Check the recipient address' + diagnose);
      if (failure.phase === 'mail')
        return fail(
          'SENDER_REFUSED',
          `${server} refused the sender ${extra?.from ?? ''} (${words})`.replace('  ', ' '),
          'Check the From address and that the account may use it' + diagnose,
        );
      return fail(
        'MESSAGE_REFUSED',
        `${server} refused the message (${words})`,
        failure.responseCode === 552 || /size/i.test(words)
          ? "The message is over the server's size limit: send smaller attachments"
          : "See the server's reply" + diagnose,
      );
    case 'smtp-4xx':
    case 'smtp-4xx-session':
      return fail(
        'SEND_DEFERRED',
        `${server} deferred the message (${words})`,
        'Try again later (`sysemail send --queue` lets the distributor retry)' + diagnose,
      );
    case 'smtp-5xx-session':
      return fail(
        'SERVER_REFUSED',
        `${server} refused the session (${words})`,
        'The server does not accept mail from this machine' + diagnose,
      );
    default:
      return fail(
        'SEND_FAILED',
        `sending through ${server} failed${failure.phase ? ` at ${failure.phase}` : ''} (${words})`,
        'Run `sysemail test-email --to ADDR` to see which step fails' + diagnose,
      );
  }
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

/**
 * Turns a nodemailer error into the SysemailError the user sees, telling TLS mode mismatches apart
 * (a silent greeting is probed with a TLS handshake, for at most probeMs).
 */
export async function explainSmtpError(err: unknown, cfg: SmtpConfig, probeMs: number, from?: string): Promise<SysemailError> {
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
  } else if (
    cfg.security !== 'tls' &&
    (err.timeoutType === 'GREETING_TIMEOUT' || failure.phase === 'greeting' || /closed unexpectedly/i.test(err.message)) &&
    !failure.responseCode
  ) {
    // the finding goes into the words kept with the attempt, so the diagnosis of the history says it too
    if (await probeImplicitTls(cfg, probeMs)) {
      mismatch = true;
      failure = {
        ...failure,
        phase: 'tls',
        code: 'ETLS',
        response: `${failure.response}; the port answered a TLS handshake: it expects implicit TLS`,
      };
    } else if (err.timeoutType === 'GREETING_TIMEOUT') {
      failure = { ...failure, response: `${failure.response}; the port did not answer a TLS handshake either` };
    }
  }
  return smtpError(failure, cfg, err, { from, mismatch });
}
