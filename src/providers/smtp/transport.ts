/**
 * Sending through nodemailer's SMTP transport: one transport shared by parallel sends (a pool for the
 * distributor), and an overall deadline per message that a socket timeout cannot give.
 */
import type { Transporter } from 'nodemailer';
import { isSysemailError } from '../../core/errors.js';
import { addressOf } from '../../core/message.js';
import type { OutgoingMessage } from '../../core/outgoing.js';
import type { Timeouts } from '../../core/timeouts.js';
import { nodemailerMessage, type AccessToken } from '../common.js';
import type { SendResult } from '../types.js';
import { connectionOptions, poolOptions, type SmtpConfig } from './config.js';
import type { SmtpCredentials } from './credentials.js';
import { explainSmtpError, refusedOf, sessionDeadlineError } from './failure.js';
import { closeTransport } from './internals.js';
import { transcriptLogger } from './transcript.js';

export interface SmtpTransportOptions {
  credentials: SmtpCredentials;
  timeouts: Timeouts;
  /** Keep connections open between messages (the distributor). */
  pool?: { maxConnections: number };
  onTranscript?: (line: string) => void;
}

function addressesOf(list: unknown[] | undefined): string[] {
  return (list ?? []).map((a: unknown) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a)));
}

export class SmtpTransport {
  private transporter?: Transporter;
  private transportToken?: AccessToken;
  private creating?: Promise<Transporter>;

  constructor(private readonly o: SmtpTransportOptions) {}

  /** Parallel first sends (the distributor's pool) share one transport instead of each opening, and leaking, its own. */
  private transport(cfg: SmtpConfig): Promise<Transporter> {
    if (!this.creating) this.creating = this.open(cfg).finally(() => (this.creating = undefined));
    return this.creating;
  }

  /** The open transport when it can serve this send as it is (no OAuth2 token to renew): no promise per message. */
  private openTransport(): Transporter | undefined {
    return this.transporter && !this.creating && (!this.transportToken || this.transportToken.expiresAt > Date.now())
      ? this.transporter
      : undefined;
  }

  private async open(cfg: SmtpConfig): Promise<Transporter> {
    // an OAuth2 token lives about an hour: a pooled transport is rebuilt with a fresh one
    if (this.transporter && (!this.transportToken || this.transportToken.expiresAt > Date.now())) return this.transporter;
    if (this.transporter) this.transporter.close();
    const { default: nodemailer } = await import('nodemailer');
    const { auth, token } = await this.o.credentials.forTransport(cfg);
    this.transportToken = token;
    const transcript = this.o.onTranscript ? transcriptLogger(this.o.onTranscript, { implicitTls: cfg.security === 'tls' }) : undefined;
    this.transporter = nodemailer.createTransport({
      ...connectionOptions(cfg, this.o.timeouts),
      ...(auth ? { auth, forceAuth: true } : {}),
      ...(this.o.pool ? poolOptions(this.o.pool) : {}),
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

  async send(cfg: SmtpConfig, message: OutgoingMessage): Promise<SendResult> {
    // A socket timeout only sees silence: a server trickling one line a second would hold the send
    // for ever. Aborting closes this message's connection (also in the pool) and nothing else.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.o.timeouts.sessionMs);
    const r = message.rendered;
    try {
      const transporter = this.openTransport() ?? (await this.transport(cfg));
      const info = await transporter.sendMail({
        ...(r
          ? {
              envelope: r.envelope,
              raw: Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength),
              ...(message.messageId ? { messageId: message.messageId } : {}),
            }
          : nodemailerMessage(message)),
        signal: deadline.signal,
      });
      return {
        provider: 'smtp',
        messageId: info.messageId,
        response: info.response,
        accepted: addressesOf(info.accepted),
        rejected: addressesOf(info.rejected),
        ...refusedOf((info as { rejectedErrors?: unknown }).rejectedErrors),
      };
    } catch (err) {
      if (deadline.signal.aborted && !isSysemailError(err)) throw sessionDeadlineError(cfg, this.o.timeouts.sessionMs, err);
      throw await explainSmtpError(err, cfg, this.o.timeouts.probeMs, addressOf(message.from));
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    // every send has ended by now; a connection still busy is one a server is stalling
    if (this.transporter) closeTransport(this.transporter, { force: true });
    this.transporter = undefined;
  }
}
