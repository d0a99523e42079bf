/**
 * What is known about one failed attempt, in the shape every part of sysemail shares:
 * providers fill it from nodemailer / Graph errors, the store keeps it per attempt,
 * the diagnosis catalogue matches on it (codes first, text last).
 */
import type { ProviderName } from './providers.js';

export type { ProviderName } from './providers.js';

export type FailurePhase =
  | 'config'
  | 'secret'
  | 'dns'
  | 'connect'
  | 'greeting'
  | 'tls'
  | 'ehlo'
  | 'auth'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'token'
  | 'mailbox'
  | 'send'
  | 'write';

export interface FailureInfo {
  provider?: ProviderName;
  /** Where in the transaction it failed. */
  phase?: FailurePhase;
  /** nodemailer / Node error code: EAUTH, ECONNECTION, ETIMEDOUT, ESOCKET, EENVELOPE, EMESSAGE, ETLS, EDNS, ECONNREFUSED, ENOTFOUND, ... */
  code?: string;
  /** SMTP reply code, e.g. 535. */
  responseCode?: number;
  /** Enhanced status code (RFC 3463), e.g. "5.7.139". */
  enhancedCode?: string;
  /** The server's own words (SMTP reply line(s), Graph error message, or the error text). Never holds a secret. */
  response?: string;
  /** Microsoft Graph error.code, e.g. "ErrorAccessDenied". */
  graphCode?: string;
  /** HTTP status of a Graph / token endpoint reply. */
  httpStatus?: number;
  /** Seconds the server asked us to wait (Retry-After). */
  retryAfterSec?: number;
  /** The recipients the server refused, each with its own reply (SMTP RCPT TO, or LMTP's DATA). */
  refused?: { recipient: string; responseCode?: number; response: string }[];
}

/** Pulls an RFC 3463 enhanced status code out of a reply text, e.g. "550 5.1.1 <x>: unknown" → "5.1.1". */
export function enhancedCodeOf(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const m = /(?:^|[\s(\-#[])([245]\.\d{1,3}\.\d{1,3})(?=$|[\s.,;:)\]])/.exec(text);
  return m ? m[1] : undefined;
}
