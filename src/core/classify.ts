/**
 * One function decides what a failed attempt means, in the contract's exit-code terms (msmtp style):
 * - kind: tempfail (75, retrying may work), unavailable (69, this will not go through), noperm (77,
 *   sign-in or Send As refused), config (78, sysemail or the server is set up wrong);
 * - scope: 'account' when every other message through the same provider would fail the same way (the
 *   distributor stops its run), 'message' when only this message is concerned.
 * Codes first (nodemailer/Node code, SMTP reply, enhanced status, Graph code, HTTP status), text last.
 */
import type { FailureInfo } from './failure.js';
import { enhancedCodeOf } from './failure.js';

/** FailureInfo.code of an SMTP session that outlived smtp.sessionTimeoutSec. */
export const DEADLINE_SMTP = 'SESSION_TIMEOUT';
/** FailureInfo.code of a Graph send that outlived exchange.requestTimeoutSec. */
export const DEADLINE_GRAPH = 'REQUEST_TIMEOUT';

export type FailureKind = 'tempfail' | 'unavailable' | 'noperm' | 'config';
export type FailureScope = 'message' | 'account';

export interface Classification {
  kind: FailureKind;
  scope: FailureScope;
  /** A short stable label of the rule that decided, for logs and tests. */
  rule: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNECTION',
  'ESOCKET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'EDNS',
  'EPROTOCOL',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ABORT_ERR',
  'TimeoutError',
]);

/** Node's certificate verification codes, and the text OpenSSL uses when nodemailer drops the code. */
const CERT_CODES =
  /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;
const CERT_TEXT =
  /self[- ]signed certificate|unable to (get|verify)|certificate (has expired|is not yet valid|signature failure)|altnames|Hostname\/IP does not match|unknown ca/i;
/** A TLS client that met plain SMTP, or the reverse. */
const TLS_MODE_TEXT =
  /wrong version number|packet length too long|unknown protocol|http request|ERR_SSL_WRONG_VERSION_NUMBER|TLS_MODE_MISMATCH/i;

const c = (kind: FailureKind, scope: FailureScope, rule: string): Classification => ({ kind, scope, rule });

function classifyGraph(f: FailureInfo, status: number): Classification {
  const code = f.graphCode ?? '';
  if (status === 401 || status === 403) return c('noperm', 'account', 'graph-auth');
  if (status === 429) return c('tempfail', 'account', 'graph-throttled');
  if (
    status === 404 &&
    (f.phase === 'mailbox' ||
      f.phase === 'token' ||
      /NonExistentMailbox|MailboxNotEnabled|ResourceNotFound|Request_ResourceNotFound/i.test(code))
  ) {
    return c('unavailable', 'account', 'graph-mailbox-not-found');
  }
  // a failing service fails every message alike: the run stops instead of sending the queue into it
  if (status === 408 || status >= 500) return c('tempfail', 'account', 'graph-unavailable');
  if (/SendAsDenied|AccessDenied|Authorization_RequestDenied|InvalidAuthenticationToken/i.test(code))
    return c('noperm', 'account', 'graph-auth');
  if (/MailboxNotEnabled|NonExistentMailbox/i.test(code)) return c('unavailable', 'account', 'graph-mailbox-not-found');
  if (/QuotaExceeded/i.test(code)) return c('unavailable', 'account', 'graph-quota');
  return c('unavailable', 'message', 'graph-rejected');
}

/** OAuth2 token endpoint (Microsoft identity platform): invalid_client etc. */
function classifyToken(f: FailureInfo, status: number): Classification {
  if (status === 429 || status >= 500) return c('tempfail', 'account', 'token-unavailable');
  if (status === 400 || status === 401 || status === 403) return c('noperm', 'account', 'token-refused');
  if (status === 404) return c('config', 'account', 'token-url');
  return c('config', 'account', 'token-other');
}

export function classifyFailure(f: FailureInfo): Classification {
  const code = f.code ?? '';
  const text = f.response ?? '';
  const reply = f.responseCode ?? (/^[2-5]\d\d(?=[ -]|$)/.test(text) ? Number(text.slice(0, 3)) : undefined);
  const enhanced = f.enhancedCode ?? enhancedCodeOf(text);

  if (f.phase === 'config' || f.phase === 'secret') return c('config', 'account', 'config');
  // the message may have been delivered: this one is the operator's to decide, the next may go
  if (f.outcomeUnknown) return c('tempfail', 'message', 'outcome-unknown');
  // the overall deadline of one session or request: this message is deferred, the next may pass
  if (code === DEADLINE_SMTP || code === DEADLINE_GRAPH) return c('tempfail', 'message', 'deadline');
  if (f.phase === 'write') {
    return /ENOSPC|EMFILE|ENFILE|EAGAIN|EBUSY/.test(code)
      ? c('tempfail', 'account', 'write-temporary')
      : c('config', 'account', 'write-refused');
  }
  if (f.phase === 'token' && f.httpStatus !== undefined) return classifyToken(f, f.httpStatus);
  if (f.httpStatus !== undefined) return classifyGraph(f, f.httpStatus);
  if (f.graphCode) return classifyGraph(f, 0);

  // The server is closing the session (too busy, too many connections, rate limit): try later.
  if (reply === 421) return c('tempfail', 'account', 'smtp-421');

  if (code === 'ENOTFOUND' || (code === 'EDNS' && /ENOTFOUND|not found/i.test(text))) return c('config', 'account', 'dns-not-found');

  // TLS negotiation: a certificate we do not trust, implicit TLS against a plain port (or the reverse),
  // STARTTLS refused or missing. None of these gets better by retrying.
  if (CERT_CODES.test(code) || CERT_TEXT.test(text)) return c('config', 'account', 'tls-cert');
  if (TLS_MODE_TEXT.test(code) || TLS_MODE_TEXT.test(text)) return c('config', 'account', 'tls-mode');
  if (f.phase === 'tls') {
    // any reply to STARTTLS but 220 (454 "TLS not available", 502 unknown command): the server does
    // not do it, and waiting will not change that while smtp.security requires it
    if (reply !== undefined) return c('config', 'account', 'starttls-unavailable');
    if (NETWORK_CODES.has(code) && reply === undefined) return c('tempfail', 'account', 'tls-network');
    return c('config', 'account', 'tls');
  }
  if (/Must issue a STARTTLS command first|STARTTLS is required|5\.7\.0 .*STARTTLS/i.test(text))
    return c('config', 'account', 'starttls-required');

  // Send As / Send On Behalf denied: the sign-in works but this account may not use the From.
  if (enhanced === '5.7.60' || /SendAsDenied|not (authori[sz]ed|allowed) to send (as|on behalf)/i.test(text)) {
    return c('noperm', 'account', 'send-as');
  }

  const authReply = reply === 530 || reply === 534 || reply === 535 || reply === 538;
  if (f.phase === 'auth' || code === 'EAUTH' || code === 'ENOAUTH' || code === 'EOAUTH2') {
    if (reply !== undefined && reply >= 400 && reply < 500) return c('tempfail', 'account', 'auth-temporary');
    // AUTH not offered, not implemented or not in this state: a setup problem, not a refusal
    if (reply === 500 || reply === 502 || reply === 503 || reply === 504) return c('config', 'account', 'auth-mechanism');
    if (reply !== undefined && reply >= 500) return c('noperm', 'account', 'auth-refused');
    if (NETWORK_CODES.has(code)) return c('tempfail', 'account', 'auth-network');
    // no reply: credentials missing, or no mechanism the server and sysemail share
    return c('config', 'account', 'auth-setup');
  }
  if (
    authReply ||
    enhanced === '5.7.57' ||
    enhanced === '5.7.139' ||
    enhanced === '5.7.3' ||
    enhanced === '5.7.8' ||
    enhanced === '5.7.9' ||
    enhanced === '5.7.30'
  ) {
    return c('noperm', 'account', 'auth-refused');
  }

  if (reply !== undefined && reply >= 400 && reply < 500) {
    // throttling and server-wide trouble concern every message; a full mailbox only this one
    if (enhanced?.startsWith('4.7.') || reply === 432 || reply === 454) return c('tempfail', 'account', 'smtp-throttled');
    if (f.phase === 'connect' || f.phase === 'greeting' || f.phase === 'ehlo') return c('tempfail', 'account', 'smtp-4xx-session');
    return c('tempfail', 'message', 'smtp-4xx');
  }
  if (reply !== undefined && reply >= 500) {
    if (f.phase === 'connect' || f.phase === 'greeting' || f.phase === 'ehlo') return c('unavailable', 'account', 'smtp-5xx-session');
    return c('unavailable', 'message', 'smtp-5xx');
  }

  if (NETWORK_CODES.has(code)) return c('tempfail', 'account', 'network');
  if (code === 'EMESSAGE' || code === 'EENVELOPE' || code === 'EMAXRECIPIENTS')
    return c('unavailable', 'message', 'message-refused-locally');
  if (code === 'ECONFIG' || code === 'EREQUIRETLS') return c('config', 'account', 'config');
  if (code === 'ENOENT' || code === 'EACCES' || code === 'ESTREAM' || code === 'EFILEACCESS')
    return c('unavailable', 'message', 'attachment-unreadable');
  // Nothing recognisable: assume it may pass later, and stop the run rather than burn through the queue.
  return c('tempfail', 'account', 'unknown');
}
