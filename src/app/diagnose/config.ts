/**
 * The configuration part of the checklist: every problem that can be seen in the settings alone,
 * all of them at once (the providers stop at the first), before any connection is tried.
 */
import { isSingleLabelDomain, parseSender } from '../../core/address.js';
import { quoted } from '../../core/text.js';
import { isSysemailError } from '../../core/errors.js';
import type { ProviderName } from '../../core/failure.js';
import { isMicrosoft365Host } from '../../core/params.js';
import type { Settings } from '../../core/precedence.js';
import { fail, pass, warn, type Check } from './types.js';

const IMPLICIT_TLS_PORT = 465;
/** Ports where a client says EHLO in plain text first: submission and relay. */
const PLAIN_FIRST_PORTS: ReadonlySet<number> = new Set([25, 587, 2525]);

/** `CONTOSO\ann` or `contoso/ann`: a Windows logon name, not the user principal name SMTP AUTH wants. */
export function isDomainUserName(name: string): boolean {
  return /^[^\\/@\s]+[\\/][^\\/@\s]+$/.test(name);
}

function isLocalHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h.startsWith('127.') || h === '::1';
}

function serverCheck(s: Settings): Check {
  const host = s.string('smtp.host');
  if (!host) {
    return fail('config.server', 'smtp.host is not set', 'Set the server: `sysemail params set smtp.host smtp.example.com smtp.port 587`');
  }
  return pass('config.server', `${host}:${s.number('smtp.port')}`);
}

function securityCheck(s: Settings): Check {
  const host = s.string('smtp.host') ?? '';
  const port = s.number('smtp.port');
  const security = s.string('smtp.security') ?? 'starttls';
  if (port === IMPLICIT_TLS_PORT && security !== 'tls') {
    return fail(
      'config.security',
      `port ${port} expects TLS from the first byte, but smtp.security is ${security}`,
      'Use `sysemail params set smtp.security tls` for port 465, or `sysemail params set smtp.port 587` for STARTTLS',
      'TLS_MODE_MISMATCH',
    );
  }
  if (PLAIN_FIRST_PORTS.has(port) && security === 'tls') {
    return fail(
      'config.security',
      `port ${port} starts in plain text (STARTTLS), but smtp.security is tls (implicit TLS)`,
      `Use \`sysemail params set smtp.security starttls\` for port ${port}, or \`sysemail params set smtp.port 465\` for implicit TLS`,
      'TLS_MODE_MISMATCH',
    );
  }
  if (security === 'none' && host && !isLocalHost(host)) {
    if (s.boolean('smtp.authRequired')) {
      return fail(
        'config.security',
        `smtp.security is none: the sign-in would cross the network to ${host} unencrypted, so sysemail refuses to send`,
        'Use `sysemail params set smtp.security starttls` (port 587) or tls (port 465); none is only for a relay on this machine',
      );
    }
    return warn(
      'config.security',
      `smtp.security is none: mail to ${host} crosses the network unencrypted`,
      'Prefer `sysemail params set smtp.security starttls` when the relay offers STARTTLS',
    );
  }
  return pass('config.security', `smtp.security ${security} on port ${port}`);
}

function senderCheck(s: Settings, provider: ProviderName): Check {
  const sender = s.string('sender.default');
  const from = s.source('sender.default');
  if (!sender) {
    if (provider === 'exchange' && s.string('exchange.mailbox')) {
      return pass('config.sender', `no sender.default: messages go out from exchange.mailbox ${s.string('exchange.mailbox')}`);
    }
    return fail(
      'config.sender',
      'no sender: sender.default is not set, so every send needs --from',
      'Set one: `sysemail params set sender.default noreply@example.com`',
    );
  }
  const mailbox = parseSender(sender).value;
  if (!mailbox) {
    return fail(
      'config.sender',
      `sender.default ${quoted(sender)} is not a valid address`,
      'Set a full address: `sysemail params set sender.default noreply@example.com`',
    );
  }
  if (isSingleLabelDomain(mailbox.address)) {
    return fail(
      'config.sender',
      `sender.default ${sender} has a domain without a dot`,
      'Use an address in a full domain (example.com), not a single-label one',
      'SINGLE_LABEL_DOMAIN',
    );
  }
  return pass(
    'config.sender',
    `${sender}${from && from.source !== 'params' && from.source !== 'default' ? ` (from ${from.origin ?? from.source})` : ''}`,
  );
}

function authCheck(s: Settings): Check {
  const host = s.string('smtp.host');
  const authRequired = s.boolean('smtp.authRequired');
  const method = s.string('smtp.authMethod') ?? 'password';
  const username = s.string('smtp.username');
  if (!authRequired) {
    if (username) {
      return warn(
        'config.auth',
        `smtp.username ${username} is set but smtp.authRequired is false, so it is never used`,
        'Sign in with `sysemail params set smtp.authRequired true`, or remove the name: `sysemail params unset smtp.username`',
      );
    }
    if (isMicrosoft365Host(host)) {
      return warn(
        'config.auth',
        `smtp.authRequired is false, but ${host} accepts mail only after a sign-in`,
        'Use `sysemail params set smtp.authRequired true smtp.username user@example.com`',
        'NOT_AUTHENTICATED',
      );
    }
    return pass('config.auth', 'no sign-in (smtp.authRequired is false): a relay that trusts this machine');
  }
  if (!username) {
    return fail(
      'config.auth',
      'smtp.authRequired is true but smtp.username is not set',
      'Set the account: `sysemail params set smtp.username user@example.com`, or `sysemail params set smtp.authRequired false` for a relay without sign-in',
    );
  }
  if (isDomainUserName(username)) {
    return fail(
      'config.auth',
      `smtp.username '${username}' is a DOMAIN\\user logon name`,
      'Use the user principal name: `sysemail params set smtp.username user@example.com`',
      'USERNAME_FORMAT',
    );
  }
  if (isMicrosoft365Host(host) && !username.includes('@')) {
    return warn(
      'config.auth',
      `smtp.username '${username}' is not an address; ${host} expects the user principal name`,
      'Use `sysemail params set smtp.username user@example.com`',
      'USERNAME_FORMAT',
    );
  }
  if (method === 'oauth2') {
    const missing = [
      !s.string('smtp.oauth.clientId') && 'smtp.oauth.clientId',
      !s.string('smtp.oauth.tokenUrl') && 'smtp.oauth.tenantId (or smtp.oauth.tokenUrl)',
    ].filter(Boolean);
    if (missing.length > 0) {
      return fail(
        'config.auth',
        `smtp.authMethod is oauth2 but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set`,
        'Set `sysemail params set smtp.oauth.tenantId TENANT smtp.oauth.clientId APP_ID`',
      );
    }
    return pass('config.auth', `XOAUTH2 as ${username} with a client-credentials token for ${s.string('smtp.oauth.clientId')}`);
  }
  return pass('config.auth', `password sign-in as ${username}`);
}

/** When Microsoft switches basic authentication for SMTP AUTH off by default for existing tenants. */
export const M365_BASIC_AUTH_END = Date.parse('2026-12-31T23:59:59Z');

/**
 * A password sign-in to Microsoft 365 works until Microsoft turns basic authentication off for the
 * tenant; the warning comes before that day, with the exact commands for either way out.
 */
function m365Check(s: Settings, now: number): Check | undefined {
  const host = s.string('smtp.host');
  if (!isMicrosoft365Host(host) || !s.boolean('smtp.authRequired') || (s.string('smtp.authMethod') ?? 'password') !== 'password') {
    return isMicrosoft365Host(host) && s.boolean('smtp.authRequired')
      ? pass('config.m365', `${host}: OAuth2 sign-in, ready for the end of basic authentication`)
      : undefined;
  }
  const mailbox = s.string('smtp.username') ?? 'sender@example.com';
  const when =
    now > M365_BASIC_AUTH_END
      ? 'has been switched off by default for existing tenants since the end of December 2026'
      : `is switched off by default for existing tenants at the end of December 2026 (in ${Math.max(0, Math.ceil((M365_BASIC_AUTH_END - now) / 86_400_000))} days)`;
  return warn(
    'config.m365',
    `${host} is Microsoft 365 and smtp.authMethod is password: basic authentication for SMTP AUTH ${when}, after which every send is refused (535 5.7.139)`,
    'Move to OAuth2 with an Entra application (SMTP.SendAsApp permission, an Exchange service principal with rights on the mailbox): ' +
      '`sysemail params set smtp.authMethod oauth2 smtp.oauth.tenantId TENANT_ID smtp.oauth.clientId APP_ID` and ' +
      '`printf %s "$SECRET" | sysemail params set smtp.oauth.clientSecret --stdin`; ' +
      'or send through Microsoft Graph (Mail.Send application permission): ' +
      `\`sysemail params set batch.provider exchange exchange.tenantId TENANT_ID exchange.clientId APP_ID exchange.mailbox ${mailbox}\` and ` +
      '`printf %s "$SECRET" | sysemail params set exchange.clientSecret --stdin`; then `sysemail diagnose` again',
    'BASIC_AUTH_DISABLED',
  );
}

function exchangeCheck(s: Settings): Check {
  const missing = [
    !s.string('exchange.tokenUrl') && 'exchange.tenantId',
    !s.string('exchange.clientId') && 'exchange.clientId',
    !s.string('exchange.mailbox') && 'exchange.mailbox',
    !s.string('exchange.graphUrl') && 'exchange.graphUrl',
  ].filter((k): k is string => typeof k === 'string');
  if (missing.length > 0) {
    return fail(
      'config.exchange',
      `the exchange provider needs ${missing.join(', ')}`,
      'Set them: `sysemail params set exchange.tenantId TENANT exchange.clientId APP_ID exchange.mailbox sender@example.com`',
    );
  }
  return pass(
    'config.exchange',
    `mailbox ${s.string('exchange.mailbox')} through ${s.string('exchange.graphUrl')} with application ${s.string('exchange.clientId')}`,
  );
}

/**
 * What the provider itself refuses (an unreadable smtp.caFile, ...), asked of the provider so the
 * rule lives in one place; only consulted when the checks above found nothing, to avoid saying the
 * same thing twice.
 */
async function providerCheck(s: Settings): Promise<Check> {
  const { readSmtpConfig } = await import('../../providers/smtp/config.js');
  try {
    const cfg = readSmtpConfig(s);
    return pass('config.smtp', cfg.ca ? `extra trusted CA from smtp.caFile ${s.string('smtp.caFile')}` : 'system trusted CAs');
  } catch (err) {
    if (!isSysemailError(err)) throw err;
    return fail('config.smtp', err.message, err.fix ?? '');
  }
}

export async function configChecks(s: Settings, provider: ProviderName, now = Date.now()): Promise<Check[]> {
  if (provider === 'eml') {
    return [senderCheck(s, provider), pass('config.eml', `.eml files go to ${s.string('eml.outputDir')}`)];
  }
  if (provider === 'exchange') return [exchangeCheck(s), senderCheck(s, provider)];
  const checks = [serverCheck(s), securityCheck(s), senderCheck(s, provider), authCheck(s)];
  const m365 = m365Check(s, now);
  if (m365) checks.push(m365);
  if (!checks.some((c) => c.status === 'fail')) checks.push(await providerCheck(s));
  return checks;
}
