import type { FailurePhase, ProviderName } from '../core/failure.js';

export type { ProviderName } from '../core/failure.js';

export interface OutgoingAttachment {
  filename: string;
  /** Streamed from disk when given: large attachments never sit whole in memory. */
  path?: string;
  content?: Buffer | string;
  contentType?: string;
  /** Bytes, known before sending (checked against limits.maxMessageMb). */
  size: number;
}

/** A validated message, ready for any provider. Addresses are already checked and normalised. */
export interface OutgoingMessage {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  attachments: OutgoingAttachment[];
  /** Message-ID to use (so a retried message keeps one id). */
  messageId?: string;
  headers?: Record<string, string>;
}

export interface SendResult {
  provider: ProviderName;
  messageId?: string;
  /** The server's final words (e.g. "250 2.0.0 Ok: queued as ABC"), or Graph's status line. */
  response?: string;
  /** Path of the .eml written by the eml provider. */
  file?: string;
  accepted: string[];
  rejected: string[];
}

export type TestPhase = 'connect' | 'tls' | 'ehlo' | 'auth' | 'mail' | 'rcpt' | 'data' | 'token' | 'mailbox' | 'send' | 'write';

export interface PhaseResult {
  phase: TestPhase | FailurePhase;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface ConnectionTestOptions {
  to?: string;
  from: string;
  /** Stop after this phase (connect|tls|ehlo|auth|mail|rcpt); undefined = full send of a small test message. */
  quitAfter?: 'connect' | 'tls' | 'ehlo' | 'auth' | 'mail' | 'rcpt';
  /** Called as each phase ends, so the CLI can print live. */
  onPhase?: (p: PhaseResult) => void;
}

export interface Provider {
  readonly name: ProviderName;
  /** Sends one message. Throws SysemailError (kind per contract) with data = FailureInfo on failure. */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** Runs a real transaction phase by phase. Never throws for a failed phase: the failure is in the results. */
  test(options: ConnectionTestOptions): Promise<{ ok: boolean; phases: PhaseResult[]; failure?: import('../core/failure.js').FailureInfo; error?: import('../core/errors.js').SysemailError }>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}
