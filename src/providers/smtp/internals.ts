/**
 * The one place that relies on what nodemailer does not document: private fields of its SMTP
 * connection, the shape of its log entries, the masked form of AUTH lines, and the `force` option of
 * its pool's close. test/integration/nodemailer-internals.test.ts checks each against the installed
 * nodemailer and a real SMTP session, so an upgrade that changes one fails there, not in production.
 */
import util from 'node:util';
import type { Transporter } from 'nodemailer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';

/** The private fields of SMTPConnection used here. */
interface ConnectionInternals {
  /** Callbacks waiting for the server's next replies, in order. */
  _responseActions: ((reply: string) => void)[];
  /** Writes one command line (logging it under tnx 'client'). */
  _sendCommand(line: string): void;
  /** The socket, replaced by a TLSSocket once STARTTLS is done. */
  _socket?: unknown;
}

function internalsOf(conn: SMTPConnection): ConnectionInternals {
  return conn as unknown as ConnectionInternals;
}

/**
 * Sends one command on an established session and waits for its reply: MAIL FROM and RCPT TO
 * without DATA, which nodemailer's public API does not offer.
 */
export function sendRawCommand(conn: SMTPConnection, line: string): Promise<string> {
  const internals = internalsOf(conn);
  return new Promise((resolve) => {
    internals._responseActions.push(resolve);
    internals._sendCommand(line);
  });
}

/** The connection's current socket (a TLSSocket once TLS is up), for its protocol and certificate. */
export function socketOf(conn: SMTPConnection): unknown {
  return internalsOf(conn)._socket;
}

/**
 * Closes a transport; with `force` also the pooled connections in the middle of a delivery (their
 * messages fail), for a caller that gave up on a server that stalls.
 */
export function closeTransport(transporter: Transporter, options: { force: boolean }): void {
  (transporter as unknown as { close(options?: { force?: boolean }): void }).close(options);
}

/** What nodemailer writes in place of a credential when it logs an AUTH line. */
export const MASKED_SECRET = '/* secret */';

/** The logger levels nodemailer calls (a bunyan-style logger). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** One log entry of nodemailer's SMTP client, read. */
export type LogEvent =
  /** A line we sent (an AUTH credential already masked, see MASKED_SECRET). */
  | { kind: 'client'; session: string; text: string }
  /** A reply line(s) of the server. */
  | { kind: 'server'; session: string; text: string }
  /** The TCP (or implicit TLS) connection is up, or another network note naming the peer. */
  | { kind: 'network'; session: string; text: string; remoteAddress?: string; remotePort?: number; established: boolean }
  /** STARTTLS is done: everything from here on is encrypted. */
  | { kind: 'starttls'; session: string }
  /** The message went out after DATA, this many bytes. */
  | { kind: 'body-sent'; session: string; bytes: number }
  | { kind: 'other'; session: string; text: string };

type RawEntry = { tnx?: string; sid?: string; cid?: number; remoteAddress?: string; remotePort?: number; outByteCount?: number };

/** Reads one logger call (entry, printf-style message, its arguments) into a LogEvent. */
export function readLogEntry(entry: unknown, message: unknown, args: readonly unknown[]): LogEvent {
  const e = (entry ?? {}) as RawEntry;
  const session = String(e.sid ?? e.cid ?? '');
  // a server's or client's line comes as the message itself: formatting it would eat a `%%` in it
  const text = typeof message !== 'string' ? '' : args.length === 0 ? message : util.format(message, ...args);
  switch (e.tnx) {
    case 'client':
      return { kind: 'client', session, text };
    case 'server':
      return { kind: 'server', session, text };
    case 'network':
      return {
        kind: 'network',
        session,
        text,
        ...(e.remoteAddress ? { remoteAddress: e.remoteAddress } : {}),
        ...(e.remotePort !== undefined ? { remotePort: e.remotePort } : {}),
        established: /established to/i.test(text),
      };
    case 'smtp':
      return /upgraded with STARTTLS/i.test(text) ? { kind: 'starttls', session } : { kind: 'other', session, text };
    case 'message':
      return e.outByteCount !== undefined ? { kind: 'body-sent', session, bytes: e.outByteCount } : { kind: 'other', session, text };
    default:
      return { kind: 'other', session, text };
  }
}

/**
 * A logger for nodemailer (its `logger` option, with `transactionLog: true`) that hands each entry,
 * read, to `onEvent`. Trace entries (the raw bytes) are skipped.
 */
export function eventLogger(onEvent: (event: LogEvent) => void): Record<(typeof LOG_LEVELS)[number], (...args: unknown[]) => void> {
  const log = (entry: unknown, message: unknown, ...args: unknown[]) => onEvent(readLogEntry(entry, message, args));
  return Object.fromEntries(LOG_LEVELS.map((level) => [level, level === 'trace' ? () => undefined : log])) as Record<
    (typeof LOG_LEVELS)[number],
    (...args: unknown[]) => void
  >;
}
