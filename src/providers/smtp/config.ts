/**
 * From the settings to what nodemailer is given. smtp.security: `starttls` requires the upgrade and
 * never falls back to plaintext (so no AUTH ever crosses an unencrypted connection), `tls` is implicit
 * TLS, `none` is plain and refuses to send a credential anywhere but this machine. Certificates are
 * always verified; smtp.caFile adds one trusted CA to the system ones.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SMTP_OAUTH_SCOPE } from '../../core/params.js';
import type { Settings } from '../../core/precedence.js';
import type { Timeouts } from '../../core/timeouts.js';
import { configError } from '../common.js';

export type SmtpSecurity = 'starttls' | 'tls' | 'none';

/** What a message about the server needs to name: where, how, as whom. */
export interface SmtpEndpoint {
  host: string;
  port: number;
  security: SmtpSecurity;
  username?: string;
  authMethod: 'password' | 'oauth2';
}

export interface SmtpConfig extends SmtpEndpoint {
  authRequired: boolean;
  ca?: string;
  oauth?: { tokenUrl: string; clientId: string; scope: string };
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

export function readSmtpConfig(settings: Settings): SmtpConfig {
  const host = settings.string('smtp.host');
  if (!host)
    throw configError(
      'smtp',
      'SMTP_HOST_MISSING',
      'smtp.host is not set',
      'Set the server with `sysemail params set smtp.host smtp.example.com smtp.port 587`',
    );
  const port = settings.number('smtp.port');
  const security = (settings.string('smtp.security') ?? 'starttls') as SmtpSecurity;
  const authRequired = settings.boolean('smtp.authRequired');
  const authMethod = (settings.string('smtp.authMethod') ?? 'password') as 'password' | 'oauth2';
  const username = settings.string('smtp.username');
  if (authRequired && !username) {
    throw configError(
      'smtp',
      'SMTP_USERNAME_MISSING',
      'smtp.authRequired is true but smtp.username is not set',
      'Set `sysemail params set smtp.username user@example.com`, or `sysemail params set smtp.authRequired false` for a relay that needs no sign-in',
    );
  }
  if (security === 'none' && authRequired && !isLoopbackHost(host)) {
    throw configError(
      'smtp',
      'INSECURE_AUTH_REFUSED',
      `smtp.security is none, so the credentials would cross the network to ${host} unencrypted; sysemail refuses`,
      'Use `sysemail params set smtp.security starttls` (port 587) or tls (port 465); none is only for a relay on this machine',
    );
  }
  const cfg: SmtpConfig = { host, port, security, authRequired, authMethod, ...(username ? { username } : {}) };
  if (authRequired && authMethod === 'oauth2') {
    const tokenUrl = settings.string('smtp.oauth.tokenUrl');
    const clientId = settings.string('smtp.oauth.clientId');
    if (!tokenUrl || !clientId) {
      throw configError(
        'smtp',
        'SMTP_OAUTH_INCOMPLETE',
        `smtp.authMethod is oauth2 but ${!clientId ? 'smtp.oauth.clientId' : 'smtp.oauth.tenantId (or smtp.oauth.tokenUrl)'} is not set`,
        'Set `sysemail params set smtp.oauth.tenantId TENANT smtp.oauth.clientId APP_ID` and store the secret with `printf %s "$SECRET" | sysemail params set smtp.oauth.clientSecret --stdin`',
      );
    }
    cfg.oauth = { tokenUrl, clientId, scope: settings.string('smtp.oauth.scope') ?? SMTP_OAUTH_SCOPE };
  }
  const caFile = settings.string('smtp.caFile');
  if (caFile) {
    let pem: string;
    try {
      pem = fs.readFileSync(caFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw configError(
        'smtp',
        'SMTP_CA_UNREADABLE',
        `smtp.caFile ${caFile} cannot be read (${code})`,
        'Point smtp.caFile at a readable PEM file, or `sysemail params unset smtp.caFile`',
      );
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw configError(
        'smtp',
        'SMTP_CA_INVALID',
        `smtp.caFile ${caFile} holds no PEM certificate`,
        'Give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)',
      );
    }
    cfg.ca = pem;
  }
  return cfg;
}

/** The TLS options of every connection to the server: TLS 1.2 at least, the name checked, the extra CA trusted. */
export function tlsOptions(cfg: SmtpConfig): tls.ConnectionOptions {
  return {
    minVersion: 'TLSv1.2',
    ...(cfg.ca ? { ca: [...tls.rootCertificates, cfg.ca] } : {}),
    ...(net.isIP(cfg.host) ? {} : { servername: cfg.host }),
  };
}

/** Options shared by the transport (send) and the step-by-step session (test). */
export function connectionOptions(cfg: SmtpConfig, t: Pick<Timeouts, 'connectionMs' | 'greetingMs' | 'socketMs'>): SMTPConnection.Options {
  return {
    host: cfg.host,
    port: cfg.port,
    secure: cfg.security === 'tls',
    requireTLS: cfg.security === 'starttls',
    ignoreTLS: cfg.security === 'none',
    connectionTimeout: t.connectionMs,
    greetingTimeout: t.greetingMs,
    socketTimeout: t.socketMs,
    tls: tlsOptions(cfg),
  };
}

/**
 * A pool for the distributor: its connections stay open between messages. nodemailer's default
 * reconnects after every 100 messages; a connection here lasts until the server or the run ends it.
 */
export function poolOptions(pool: { maxConnections: number }): { pool: true; maxConnections: number; maxMessages: number } {
  return { pool: true, maxConnections: pool.maxConnections, maxMessages: Infinity };
}
