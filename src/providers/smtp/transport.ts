/**
 * Sending through nodemailer's SMTP transport: one transport shared by parallel sends (a pool for the
 * distributor), and an overall deadline per message that a socket timeout cannot give.
 */
import net from 'node:net';
import type { SendMailOptions, Transporter } from 'nodemailer';
import type { DkimSigningKey } from '../../core/dkim.js';
import { isSysemailError } from '../../core/errors.js';
import { addressOf } from '../../core/message.js';
import type { OutgoingMessage } from '../../core/outgoing.js';
import type { Timeouts } from '../../core/timeouts.js';
import { nodemailerMessage, type AccessToken } from '../common.js';
import { dkimProcessFunc } from '../dkim.js';
import type { SendResult } from '../types.js';
import { connectionOptions, poolOptions, type SmtpConfig } from './config.js';
import type { SmtpCredentials } from './credentials.js';
import { bodyEnd, lostAfterDot, outcomeUnknownError, type BodyProgress } from './outcome.js';
import { explainSmtpError, refusedOf, sessionDeadlineError } from './failure.js';
import { closeTransport } from './internals.js';
import { transcriptLogger } from './transcript.js';

export interface SmtpTransportOptions {
  credentials: SmtpCredentials;
  timeouts: Timeouts;
  /** Keep connections open between messages (the distributor). */
  pool?: { maxConnections: number };
  onTranscript?: (line: string) => void;
  /** Keys to sign with (by the From domain); see providers/dkim.ts. */
  dkim?: readonly DkimSigningKey[];
}

function addressesOf(list: unknown[] | undefined): string[] {
  return (list ?? []).map((a: unknown) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a)));
}

/** How long a connection of its own may take to close after QUIT before it is closed on. */
const OWN_CONNECTION_CLOSE_MS = 5_000;

/** The option that carries a message's BodyProgress to the stream plugin (nodemailer copies string keys only). */
const BODY = 'sysemailBody';

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

  /**
   * A transport for one message whose connection is closed before the send resolves: the socket is
   * opened here (nodemailer's getSocket), so its close can be awaited.
   */
  private async ownConnection(cfg: SmtpConfig): Promise<{ transporter: Transporter; closed: () => Promise<void> }> {
    const { default: nodemailer } = await import('nodemailer');
    const { auth } = await this.o.credentials.forTransport(cfg);
    let socket: net.Socket | undefined;
    const options = connectionOptions(cfg, this.o.timeouts);
    const transporter = nodemailer.createTransport({
      ...options,
      ...(auth ? { auth, forceAuth: true } : {}),
      getSocket: (_o: unknown, cb: (err: Error | null, s?: { connection: net.Socket }) => void) => {
        const s = net.connect({ host: cfg.host, port: cfg.port });
        socket = s;
        const timer = setTimeout(
          () => s.destroy(Object.assign(new Error('Connection timeout'), { code: 'ETIMEDOUT' })),
          this.o.timeouts.connectionMs,
        );
        s.once('connect', () => {
          clearTimeout(timer);
          cb(null, { connection: s });
        });
        s.once('error', (err) => {
          clearTimeout(timer);
          cb(err);
        });
      },
    } as never);
    // signed, watched and held before its dot as a pooled message is
    this.usePlugins(transporter);
    const closed = async () => {
      const s = socket;
      if (!s || s.destroyed) return;
      // QUIT was sent as the send ended; a server that does not close is closed on
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => s.destroy(), OWN_CONNECTION_CLOSE_MS);
        s.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    };
    return { transporter, closed };
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
    this.usePlugins(this.transporter, transcript);
    return this.transporter;
  }

  /** What every transport does to a message's stream: its Message-ID, the transcript, the DKIM signature, and last its end (bodyEnd). */
  private usePlugins(transporter: Transporter, transcript?: ReturnType<typeof transcriptLogger>): void {
    // nodemailer does not read a rendered (raw) message's headers and would make up a Message-ID for
    // its logs and result, at five random draws per message; it is told the one rendered in
    const keys = this.o.dkim ?? [];
    transporter.use('stream', (mail, done) => {
      const data = mail.data as { raw?: unknown; messageId?: string; from?: unknown; [BODY]?: BodyProgress };
      if (data.raw && data.messageId) mail.message.setHeader('Message-ID', data.messageId);
      if (transcript) mail.message.transform(() => transcript.counter());
      // signed over the final bytes; a message rendered ahead was signed when it was rendered
      const sign = !data.raw && keys.length > 0 && typeof data.from === 'string' ? dkimProcessFunc(keys, data.from) : undefined;
      if (sign) mail.message.processFunc(sign);
      // and watched last, where its end (the dot) waits for beforeDot
      const progress = data[BODY];
      if (progress) mail.message.processFunc(bodyEnd(progress));
      done();
    });
  }

  async send(cfg: SmtpConfig, message: OutgoingMessage): Promise<SendResult> {
    // A socket timeout only sees silence: a server trickling one line a second would hold the send
    // for ever. Aborting closes this message's connection (also in the pool) and nothing else.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.o.timeouts.sessionMs);
    const r = message.rendered;
    const body: BodyProgress = { handedOver: false, ...(message.beforeDot ? { beforeDot: message.beforeDot } : {}) };
    const own = message.ownConnection ? await this.ownConnection(cfg) : undefined;
    try {
      const transporter = own?.transporter ?? this.openTransport() ?? (await this.transport(cfg));
      const options: SendMailOptions & { [BODY]: BodyProgress } = {
        [BODY]: body,
        ...(r
          ? {
              envelope: r.envelope,
              raw: Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength),
              ...(message.messageId ? { messageId: message.messageId } : {}),
            }
          : nodemailerMessage(message)),
        signal: deadline.signal,
      };
      const info = await transporter.sendMail(options);
      return {
        provider: 'smtp',
        messageId: info.messageId,
        response: info.response,
        accepted: addressesOf(info.accepted),
        rejected: addressesOf(info.rejected),
        ...refusedOf((info as { rejectedErrors?: unknown }).rejectedErrors),
      };
    } catch (err) {
      // withheld before the dot: nothing the server could deliver, and the distributor's own reason
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what beforeDot rejected with, as it was
      if (body.withheld !== undefined) throw body.withheld;
      const unknown = body.handedOver && lostAfterDot(err, deadline.signal.aborted);
      const e =
        deadline.signal.aborted && !isSysemailError(err)
          ? sessionDeadlineError(cfg, this.o.timeouts.sessionMs, err)
          : await explainSmtpError(err, cfg, this.o.timeouts.probeMs, addressOf(message.from));
      throw unknown ? outcomeUnknownError(e, cfg) : e;
    } finally {
      clearTimeout(timer);
      if (own) {
        await own.closed();
        own.transporter.close();
      }
    }
  }

  close(): void {
    // every send has ended by now; a connection still busy is one a server is stalling
    if (this.transporter) closeTransport(this.transporter, { force: true });
    this.transporter = undefined;
  }
}
