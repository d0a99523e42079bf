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

/** The fields of nodemailer's MimeNode that serializeMime reads (its public build() streams them). */
interface MimeNodeInternals {
  content?: unknown;
  childNodes: MimeNodeInternals[];
  multipart?: string | false;
  boundary?: string;
  contentType?: string;
  newline?: unknown;
  _raw?: unknown;
  _transforms: unknown[];
  _processFuncs: unknown[];
  getTransferEncoding(): string | false;
  buildHeaders(): string;
}

/** Encoders nodemailer's MimeNode streams content through (nodemailer/lib/qp and lib/base64, public). */
export interface MimeEncoders {
  qp: { encode(b: Buffer): string; wrap(s: string, lineLength?: number): string };
  base64: { encode(b: Buffer): string; wrap(s: string, lineLength?: number): string };
}

/** The byte nodemailer's QP encoder treats as end-of-line whitespace: a body ending in it is left to build(). */
const isQpWhitespace = (c: number | undefined) => c === 0x20 || c === 0x09;
/** The QP encoder works in slices of this many bytes; longer contents are left to build(). */
const QP_SLICE = 64 * 1024;

function serializeNode(node: MimeNodeInternals, enc: MimeEncoders, out: Buffer[]): boolean {
  if (node._raw || node._transforms.length > 0 || node._processFuncs.length > 0 || node.newline) return false;
  const c = node.content;
  if (c !== undefined && c !== null && c !== '' && typeof c !== 'string' && !Buffer.isBuffer(c)) return false; // a stream, a path, a URL
  // the order MimeNode.stream() uses: the encoding first, then the headers (which may set it)
  const transferEncoding = node.getTransferEncoding();
  out.push(Buffer.from(node.buildHeaders() + '\r\n\r\n'));
  if (c) {
    const bytes = typeof c === 'string' ? Buffer.from(c) : c;
    if (transferEncoding === 'quoted-printable') {
      // nodemailer's encoder holds back trailing whitespace and treats non-text as binary: left to build()
      if (!/^text\//i.test(node.contentType ?? '') || bytes.length > QP_SLICE || isQpWhitespace(bytes[bytes.length - 1])) return false;
      out.push(Buffer.from(enc.qp.wrap(enc.qp.encode(bytes), 76), 'latin1'));
    } else if (transferEncoding === 'base64') {
      out.push(Buffer.from(enc.base64.wrap(enc.base64.encode(bytes), 76), 'latin1'));
    } else out.push(bytes);
  }
  if (node.multipart) {
    for (let i = 0; i < node.childNodes.length; i++) {
      out.push(Buffer.from(`${i > 0 ? '\r\n' : ''}--${node.boundary}\r\n`));
      if (!serializeNode(node.childNodes[i], enc, out)) return false;
    }
    out.push(Buffer.from(`\r\n--${node.boundary}--\r\n`));
  }
  return true;
}

/**
 * The bytes nodemailer's MimeNode.build() would give for `message`, written at once instead of through
 * its stream pipeline (a pipeline, an abort controller and several stream hops per node and message):
 * for a tree of string or Buffer contents without transforms, DKIM or a newline option. Returns
 * undefined for anything else (build() renders those). The canary test builds the same nodes both
 * ways and compares the bytes.
 */
export function serializeMime(message: unknown, enc: MimeEncoders): Buffer | undefined {
  const out: Buffer[] = [];
  if (!serializeNode(message as MimeNodeInternals, enc, out)) return undefined;
  // nodemailer's LastNewline: the message ends with a line break
  const last = out.findLast((b) => b.length > 0);
  const lastByte = last?.[last.length - 1];
  if (lastByte === 0x0d) out.push(Buffer.from('\n'));
  else if (lastByte !== 0x0a) out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}
