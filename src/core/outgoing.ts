/** A message on its way out, in the shape every provider takes: validated, addresses normalised. */
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
  /**
   * The same message already rendered to its MIME bytes (see providers/smtp/render.ts): SMTP sends these as they
   * are. The distributor's worker thread renders ahead, so the main thread only talks SMTP.
   */
  rendered?: RenderedMime;
  /**
   * Send over a connection of its own, closed before the send resolves (no pooled connection stays
   * open after it): the send holds one of its mailbox's concurrency slots, which the connection must
   * not outlive.
   */
  ownConnection?: boolean;
  /**
   * Awaited before the message's last byte and its final dot (a provider with `holdsDot`): the
   * distributor's last word on sending it. A rejection withholds the dot, so the server discards the
   * message, and the send rejects with that very error.
   */
  beforeDot?: () => Promise<void>;
}

/** A message's final bytes and its SMTP envelope (every recipient, Bcc included; Bcc is not in the bytes). */
export interface RenderedMime {
  raw: Uint8Array;
  envelope: { from: string; to: string[] };
}

/** The header every message sysemail sends carries: its id in this database, so a bounce finds it. */
export const SYSEMAIL_ID_HEADER = 'X-Sysemail-Id';

/** `42.1f0c9a2b7d3e`: the message id, then the first 12 characters of the database's own id. */
export function sysemailIdValue(id: number, dbId: string): string {
  return `${id}.${dbId.slice(0, 12)}`;
}

/** Reads an X-Sysemail-Id value back; undefined when it is not one. */
export function parseSysemailId(value: string): { id: number; db?: string } | undefined {
  const m = /^\s*(\d{1,15})(?:\.([0-9A-Za-z_-]{1,64}))?\s*$/.exec(value);
  return m ? { id: Number(m[1]), ...(m[2] ? { db: m[2] } : {}) } : undefined;
}
