/**
 * Outcome unknown: the connection was lost after the whole message went out (its final dot) and
 * before the server's reply to it. The server may have queued it for delivery, so the distributor
 * must not send it again on its own.
 *
 * nodemailer reports that loss as it reports any lost connection (code ECONNECTION, "Connection
 * closed unexpectedly", command CONN; a silent server as ETIMEDOUT), so what tells it apart is where
 * the message stood: a pass-through at the end of the message's stream marks when its last byte was
 * read, which nodemailer does only after the server's 354 and which it follows at once with the dot.
 */
import { Transform, type Readable } from 'node:stream';
import { SysemailError, isSysemailError } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import type { SmtpEndpoint } from './config.js';

export interface BodyProgress {
  /** The message's last byte went to the connection (the final dot follows it). */
  handedOver: boolean;
  /** Awaited before the last byte (OutgoingMessage.beforeDot). */
  beforeDot?: () => Promise<void>;
  /** What beforeDot rejected with: the message's end was withheld. */
  withheld?: unknown;
}

/**
 * The last stage of a message's stream (a nodemailer process function, after the DKIM signature): a
 * pass-through whose end, which the final dot follows at once, waits until the connection has begun
 * to read the message (nodemailer pipes it only after the server's 354) and then for the message's
 * beforeDot. It marks `progress` as the end goes; when beforeDot rejects, the end never comes (the
 * stream fails instead, and nodemailer closes the connection with no dot).
 */
export function bodyEnd(progress: BodyProgress): (input: Readable) => Readable {
  return (input) => {
    let reading = false;
    let onRead: (() => void) | undefined;
    const out = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        cb(null, chunk);
      },
      flush(cb) {
        const end = () => {
          progress.handedOver = true;
          cb();
        };
        const { beforeDot } = progress;
        if (!beforeDot) return end();
        const read = reading ? Promise.resolve() : new Promise<void>((resolve) => (onRead = resolve));
        read.then(beforeDot).then(end, (err: unknown) => {
          progress.withheld = err;
          // a fresh error: nodemailer rewrites the one it is given (its code becomes ESTREAM)
          cb(new Error('the message was withheld before its final dot'));
        });
      },
    });
    out.once('resume', () => {
      reading = true;
      onRead?.();
    });
    input.on('error', (err) => out.destroy(err));
    out.on('close', () => {
      if (!out.writableFinished) input.destroy();
    });
    input.pipe(out);
    return out;
  };
}

/** Codes of a connection lost or silenced with no reply, as nodemailer and Node name them. */
const LOST = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * Did this error end the session with no reply after the message went out? A reply (4xx, 5xx) is an
 * answer, known; our own deadline cutting a silent server off is not.
 */
export function lostAfterDot(err: unknown, deadlineHit: boolean): boolean {
  if (deadlineHit) return true;
  const e = err as { code?: unknown; responseCode?: unknown; command?: unknown } | undefined;
  if (!e || typeof e.responseCode === 'number') return false;
  return typeof e.code === 'string' && LOST.has(e.code) && (e.command === undefined || e.command === 'CONN' || e.command === 'DATA');
}

/** The error of a message whose outcome is unknown: the server's last state, and what the operator does. */
export function outcomeUnknownError(e: SysemailError, ep: SmtpEndpoint): SysemailError {
  const data = (isSysemailError(e) && e.data && typeof e.data === 'object' ? e.data : {}) as FailureInfo & { scope?: string };
  const response = `the connection to ${ep.host}:${ep.port} was lost after the whole message was sent and before the server answered (${data.response ?? e.message}): it may have been delivered`;
  return new SysemailError('tempfail', 'OUTCOME_UNKNOWN', response, {
    fix: 'Look for the message at the recipient, then `sysemail queue release ID` to send it again or `sysemail queue delete ID`',
    data: { ...data, provider: 'smtp', phase: 'data', outcomeUnknown: true, response, scope: 'message' },
    cause: e,
  });
}
