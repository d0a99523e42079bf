/**
 * SMTP through nodemailer: the provider the others in this folder make up. config.ts reads the
 * settings, transport.ts sends, session.ts runs the phase-by-phase test, failure.ts says what went
 * wrong, render.ts renders ahead for the distributor's worker, and internals.ts alone touches what
 * nodemailer does not document.
 */
import type { FailureInfo } from '../../core/failure.js';
import type { SysemailError } from '../../core/errors.js';
import type { OutgoingMessage } from '../../core/outgoing.js';
import { resolveTimeouts, type Timeouts } from '../../core/timeouts.js';
import type { ProviderOptions } from '../common.js';
import type { ConnectionTestOptions, PhaseResult, Provider, SendResult } from '../types.js';
import { readSmtpConfig, type SmtpConfig } from './config.js';
import { SmtpCredentials } from './credentials.js';
import { runSmtpSession } from './session.js';
import { SmtpTransport } from './transport.js';

export { isLoopbackHost, readSmtpConfig, type SmtpConfig } from './config.js';
export { probeImplicitTls } from './failure.js';
export { MimeRenderer } from './render.js';
export { buildTestMessage } from './session.js';

export class SmtpProvider implements Provider {
  readonly name = 'smtp' as const;
  /** smtp.sessionTimeoutSec: connection to the end of DATA, however busy the server keeps the socket. */
  readonly deadlineMs: number;
  readonly holdsDot = true;
  private readonly timeouts: Timeouts;
  private readonly credentials: SmtpCredentials;
  private readonly transport: SmtpTransport;

  constructor(private readonly options: ProviderOptions) {
    this.timeouts = resolveTimeouts(options.settings, options.timeouts);
    this.deadlineMs = this.timeouts.sessionMs;
    this.credentials = new SmtpCredentials(options.settings, options.secrets);
    this.transport = new SmtpTransport({
      credentials: this.credentials,
      timeouts: this.timeouts,
      ...(options.pool ? { pool: options.pool } : {}),
      ...(options.onTranscript ? { onTranscript: options.onTranscript } : {}),
      ...(options.dkim ? { dkim: options.dkim } : {}),
    });
  }

  /** The settings are the run's and do not change under it: read once (a bad one throws each time). */
  private cfg?: SmtpConfig;

  private config(): SmtpConfig {
    return (this.cfg ??= readSmtpConfig(this.options.settings));
  }

  /** Checks the settings and reads the secret, so a missing one is reported before anything is stored. */
  async prepare(): Promise<void> {
    await this.credentials.prepare(this.config());
  }

  send(message: OutgoingMessage): Promise<SendResult> {
    return this.transport.send(this.config(), message);
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  test(opts: ConnectionTestOptions): Promise<{ ok: boolean; phases: PhaseResult[]; failure?: FailureInfo; error?: SysemailError }> {
    return runSmtpSession(
      {
        config: () => this.config(),
        credentials: this.credentials,
        timeouts: this.timeouts,
        ...(this.options.onTranscript ? { onTranscript: this.options.onTranscript } : {}),
      },
      opts,
    );
  }
}
