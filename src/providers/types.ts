import type { SysemailError } from '../core/errors.js';
import type { FailureInfo, FailurePhase, ProviderName } from '../core/failure.js';
import type { OutgoingMessage } from '../core/outgoing.js';

export type { ProviderName } from '../core/failure.js';
export type { OutgoingAttachment, OutgoingMessage, RenderedMime } from '../core/outgoing.js';

/** What a phase-by-phase test found; a failed phase is in the results, not thrown. */
export interface ConnectionTestResult {
  ok: boolean;
  phases: PhaseResult[];
  failure?: FailureInfo;
  error?: SysemailError;
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
  /** The rejected recipients with the server's reply to each. */
  refused?: { recipient: string; responseCode?: number; response: string }[];
}

export type TestPhase = 'connect' | 'tls' | 'ehlo' | 'auth' | 'mail' | 'rcpt' | 'data' | 'token' | 'mailbox' | 'send' | 'write';

export interface PhaseResult {
  phase: TestPhase | FailurePhase;
  ok: boolean;
  ms: number;
  detail: string;
  /** What the phase learnt, for `diagnose` to judge (the detail is for people). */
  info?: PhaseInfo;
}

export interface TlsInfo {
  protocol: string;
  cipher?: string;
  subject: string;
  issuer: string;
  /** ISO date the certificate expires. */
  validTo?: string;
}

export interface PhaseInfo {
  tls?: TlsInfo;
  /** EHLO keywords of the session that signs in (after STARTTLS when there is one). */
  capabilities?: string[];
  /** EHLO keywords offered before STARTTLS. */
  capabilitiesBeforeTls?: string[];
  /** Application permissions (roles) in an OAuth2 access token, when the token says. */
  roles?: string[];
  /** An HTTP refusal a phase tolerated (e.g. 403 reading the mailbox profile). */
  httpStatus?: number;
  graphCode?: string;
}

export interface ConnectionTestOptions {
  to?: string;
  from: string;
  /** Stop after this phase (connect|tls|ehlo|auth|mail|rcpt); undefined = full send of a small test message. */
  quitAfter?: 'connect' | 'tls' | 'ehlo' | 'auth' | 'mail' | 'rcpt';
  /** Called as each phase ends, so the CLI can print live. */
  onPhase?: (p: PhaseResult) => void;
  /** The test message's bytes, signed as they will be (test-email checks the signature first); built by the provider when absent. */
  message?: Buffer;
}

export interface Provider {
  readonly name: ProviderName;
  /**
   * The longest one send may take, start to end (the overall deadline of an SMTP session or a Graph
   * request): the distributor renews a lease that would not outlast it before handing a message over.
   */
  readonly deadlineMs?: number;
  /**
   * send() awaits the message's beforeDot before its last byte: until then the server has nothing it
   * could deliver (SMTP discards a message whose final dot never came), so the distributor counts a
   * message at risk of a second send only from there.
   */
  readonly holdsDot?: boolean;
  /** Sends one message. Throws SysemailError (kind per contract) with data = FailureInfo on failure. */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** Runs a real transaction phase by phase. Never throws for a failed phase: the failure is in the results. */
  test(options: ConnectionTestOptions): Promise<ConnectionTestResult>;
  /** Releases pooled connections. */
  close(): Promise<void>;
  /**
   * Checks the settings and reads the secrets without any network traffic, so a configuration problem
   * (78) is reported before a message is stored or sent. Optional: a provider without one has nothing to check.
   */
  prepare?(): Promise<void>;
}
