/**
 * The SMTP conversation as swaks shows it, for `-v`: `-> ` what we send, `<- ` what the server says,
 * `~> `/`<~ ` once TLS is up, `=== ` for what happens around it. What must not be read over a
 * shoulder never gets here: the payload of AUTH and its continuation lines become `****`, and the
 * message itself (after DATA) is a line count.
 */
import { Transform } from 'node:stream';
import { eventLogger, type LogEvent } from './internals.js';

/** A server line longer than this is cut: `-v` is read by people, not replayed. */
const MAX_LINE = 400;

/** Control characters (CR, NUL, escapes) shown as \xNN so a hostile reply cannot rewrite the terminal. */
function printable(text: string): string {
  const safe = text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > MAX_LINE ? `${safe.slice(0, MAX_LINE)}…` : safe;
}

export class SmtpTranscript {
  private secure: boolean;
  /** Between AUTH and the reply that ends it, every client line is a credential. */
  private inAuth = false;

  constructor(
    private readonly emit: (line: string) => void,
    options: { implicitTls: boolean },
  ) {
    this.secure = options.implicitTls;
  }

  note(text: string): void {
    this.emit(`=== ${printable(text)}`);
  }

  client(text: string): void {
    const arrow = this.secure ? '~> ' : '-> ';
    for (const raw of text.split(/\r?\n/)) {
      const auth = /^AUTH\s+(\S+)(\s+\S.*)?$/i.exec(raw);
      let shown: string;
      if (auth) {
        this.inAuth = true;
        shown = `AUTH ${auth[1].toUpperCase()}${auth[2] ? ' ****' : ''}`;
      } else if (this.inAuth) {
        shown = '****';
      } else {
        shown = raw;
      }
      this.emit(arrow + printable(shown));
    }
  }

  server(text: string): void {
    const arrow = this.secure ? '<~ ' : '<- ';
    const lines = text.split(/\r?\n/).filter((l) => l !== '');
    // a 334 asks for the next piece of the credential; anything else ends the exchange
    if (this.inAuth && !/^334[ -]?/.test(lines[lines.length - 1] ?? '')) this.inAuth = false;
    for (const l of lines) this.emit(arrow + printable(l));
  }

  /** The message went out after DATA: only its size is shown. */
  body(lines: number | undefined, bytes: number): void {
    const arrow = this.secure ? '~> ' : '-> ';
    this.emit(`${arrow}[message body: ${lines !== undefined ? `${lines} line${lines === 1 ? '' : 's'}, ` : ''}${bytes} bytes, not shown]`);
    this.emit(`${arrow}.`);
  }

  /** The connection is now encrypted (STARTTLS done, or implicit TLS up). */
  secured(detail: string): void {
    this.secure = true;
    this.note(`TLS started: ${detail}`);
  }
}

/** Counts the lines of a message on its way out; the count is shown once the server has the message. */
function bodyCounter(onEnd: (lines: number) => void): Transform {
  let lines = 0;
  let last = 0x0a;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
      if (chunk.length > 0) last = chunk[chunk.length - 1]!;
      done(null, chunk);
    },
    flush(done) {
      onEnd(lines + (last === 0x0a ? 0 : 1));
      done();
    },
  });
}

export function countLines(raw: Uint8Array): number {
  let lines = 0;
  for (let i = raw.indexOf(0x0a); i !== -1; i = raw.indexOf(0x0a, i + 1)) lines++;
  return lines + (raw.length > 0 && raw[raw.length - 1] !== 0x0a ? 1 : 0);
}

export interface TranscriptLogger {
  /** The nodemailer logger. */
  logger: Record<string, (...args: unknown[]) => void>;
  /** The same, for a caller that reads the log itself (see internals.ts) and passes each entry on. */
  onEvent(event: LogEvent): void;
  /** A transform for the message stream that counts its lines. */
  counter(): Transform;
  /** The line count of a message sent without the counter (a prebuilt test message). */
  expectBody(lines: number): void;
}

/**
 * A nodemailer logger that feeds transcripts, one per connection (the pool runs several). Only the
 * conversation is taken; nodemailer's own chatter and its error objects are never printed.
 */
export function transcriptLogger(emit: (line: string) => void, options: { implicitTls: boolean }): TranscriptLogger {
  const sessions = new Map<string, SmtpTranscript>();
  // messages are counted as they are read, which is before they are sent: the counts wait in order
  const counted: number[] = [];
  const session = (key: string): SmtpTranscript => {
    let t = sessions.get(key);
    if (!t) {
      t = new SmtpTranscript(emit, options);
      sessions.set(key, t);
    }
    return t;
  };
  const onEvent = (e: LogEvent) => {
    switch (e.kind) {
      case 'client':
        session(e.session).client(e.text);
        break;
      case 'server':
        session(e.session).server(e.text);
        break;
      case 'network':
        if (e.remoteAddress && e.established)
          session(e.session).note(`Connected to ${e.remoteAddress}:${e.remotePort ?? ''}${options.implicitTls ? ' (implicit TLS)' : ''}`);
        break;
      case 'starttls':
        session(e.session).secured('STARTTLS');
        break;
      case 'body-sent':
        session(e.session).body(counted.shift(), e.bytes);
        break;
      default:
        break;
    }
  };
  return {
    logger: eventLogger(onEvent),
    onEvent,
    counter: () => bodyCounter((lines) => counted.push(lines)),
    expectBody: (lines) => counted.push(lines),
  };
}
