/**
 * The network part of the checklist for SMTP: DNS and TCP here, then the provider's own phase-by-phase
 * session (greeting, TLS, EHLO, sign-in, MAIL FROM, RCPT TO, then RSET and QUIT: never DATA), each
 * phase judged as a check of its own.
 */
import dns from 'node:dns';
import net from 'node:net';
import { diagnose, DIAGNOSIS_IDS, catalogueEntry, type DiagnosisId } from '../../core/diagnosis/index.js';
import type { SysemailError } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import type { Settings } from '../../core/precedence.js';
import { DIAGNOSE_TIMEOUTS, defaultTimeout, resolveTimeouts, type TimeoutOverrides } from '../../core/timeouts.js';
import type { SecretAccess } from '../../providers/common.js';
import type { PhaseResult } from '../../providers/types.js';
import { fail, pass, skip, warn, type Check } from './types.js';

/** A certificate closer to its end than this is worth a warning. */
export const CERT_EXPIRY_WARN_DAYS = 14;

const DAY_MS = 86_400_000;

export interface SmtpCheckOptions {
  settings: Settings;
  secrets: SecretAccess;
  /** MAIL FROM with this sender; undefined = stop after the sign-in. */
  from?: string;
  /** RCPT TO this address (then RSET and QUIT). */
  to?: string;
  /** The secret could not be read: stop after EHLO instead of failing the sign-in again. */
  noSignIn?: boolean;
  /** Timeouts by name over diagnose's own (DIAGNOSE_TIMEOUTS), e.g. shorter ones for tests. */
  timeouts?: TimeoutOverrides;
  now?: number;
}

/**
 * Provider verdicts that name a catalogue cause under another code: the server's own words do not
 * say it, the provider's knowledge of the session does.
 */
const PROVIDER_VERDICTS: Readonly<Record<string, DiagnosisId>> = {
  SESSION_TIMEOUT: 'CONNECTION_TIMEOUT',
  REQUEST_TIMEOUT: 'CONNECTION_TIMEOUT',
};

/** A failure's catalogue id: the provider's own verdict when it is one, else the best match. */
export function diagnosisOf(error: SysemailError | undefined, failure: FailureInfo | undefined): DiagnosisId | undefined {
  if (error && (DIAGNOSIS_IDS as readonly string[]).includes(error.code)) return error.code as DiagnosisId;
  if (error && PROVIDER_VERDICTS[error.code]) return PROVIDER_VERDICTS[error.code];
  return failure ? diagnose(failure)[0]?.id : undefined;
}

/**
 * The check for a failed step. The fix comes from the provider when it named the cause itself (it knows
 * the port and the setting to change); when the cause was recognised from the server's words, the
 * catalogue's fix for that cause says more than the provider's generic one.
 */
export function failedStep(id: string, error: SysemailError | undefined, failure: FailureInfo | undefined, fallbackDetail: string): Check {
  const diagnosis = diagnosisOf(error, failure);
  const providerNamedIt = error !== undefined && (error.code === diagnosis || PROVIDER_VERDICTS[error.code] === diagnosis);
  const fix =
    (providerNamedIt || !diagnosis ? error?.fix : catalogueEntry(diagnosis).fix) ||
    'Run `sysemail test-email --to ADDR --quit-after auth -v` for the whole conversation';
  return fail(id, error?.message ?? fallbackDetail, fix, diagnosis);
}

function timeout<T>(work: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export async function dnsCheck(host: string, ms = defaultTimeout('dnsMs')): Promise<{ check: Check; address?: string }> {
  if (net.isIP(host.replace(/^\[|\]$/g, '')))
    return { check: pass('dns', `${host} is an IP address`), address: host.replace(/^\[|\]$/g, '') };
  const lookup = dns.promises.lookup(host, { all: true }).then(
    (addresses) => ({ addresses }),
    (err: NodeJS.ErrnoException) => ({ err }),
  );
  const r = await timeout<{ addresses?: dns.LookupAddress[]; err?: NodeJS.ErrnoException }>(lookup, ms, () => ({
    err: Object.assign(new Error(`no answer within ${ms / 1000} s`), { code: 'ETIMEOUT' }),
  }));
  if (r.addresses && r.addresses.length > 0) {
    return { check: pass('dns', `${host} → ${r.addresses.map((a) => a.address).join(', ')}`), address: r.addresses[0].address };
  }
  const code = r.err?.code ?? 'ENOTFOUND';
  const detail = `${host} does not resolve (${code}${r.err?.message && !r.err.message.includes(code) ? `: ${r.err.message}` : ''})`;
  const fix =
    code === 'EAI_AGAIN' || code === 'ETIMEOUT'
      ? 'The DNS server of this machine did not answer: check /etc/resolv.conf and the network, then try again'
      : 'Check the spelling of smtp.host (`sysemail params get smtp.host`) and the DNS settings of this machine';
  return { check: fail('dns', detail, fix, 'HOST_NOT_FOUND') };
}

export function tcpCheck(address: string, port: number, ms = defaultTimeout('tcpMs')): Promise<Check> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const done = (check: Check) => {
      socket.destroy();
      resolve(check);
    };
    socket.setTimeout(ms, () =>
      done(
        fail(
          'tcp',
          `no answer from ${address}:${port} within ${ms / 1000} s`,
          `A firewall probably drops outbound port ${port}: open it, or ask the network team; some hosting providers block 25 and 587`,
          'CONNECTION_TIMEOUT',
        ),
      ),
    );
    socket.once('connect', () => done(pass('tcp', `${address}:${port} accepts connections (${Date.now() - started} ms)`)));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'ECONNECTION';
      const diagnosis = diagnose({ phase: 'connect', code, response: err.message })[0]?.id ?? 'CONNECTION_REFUSED';
      done(
        fail(
          'tcp',
          `cannot connect to ${address}:${port} (${code})`,
          `Check smtp.host and smtp.port and that the server is up; a firewall may block port ${port}`,
          diagnosis,
        ),
      );
    });
  });
}

function tlsCheck(p: PhaseResult, now: number): Check {
  const t = p.info?.tls;
  if (!t) return p.detail.startsWith('skipped') ? skip('tls', p.detail) : pass('tls', p.detail);
  const days = t.validTo ? Math.floor((Date.parse(t.validTo) - now) / DAY_MS) : undefined;
  const detail = `${t.protocol}${t.cipher ? ` ${t.cipher}` : ''}; certificate ${t.subject} issued by ${t.issuer}${
    days !== undefined ? `, expires ${t.validTo!.slice(0, 10)} (${days} day${days === 1 ? '' : 's'})` : ''
  }`;
  if (days !== undefined && days < CERT_EXPIRY_WARN_DAYS) {
    return warn(
      'tls',
      detail,
      "The server's certificate expires soon: tell its administrator; once it lapses every send fails with an untrusted certificate",
      'TLS_CERT_UNTRUSTED',
    );
  }
  return pass('tls', detail);
}

const SIZE_KEYWORD = /^SIZE(?:\s+(\d+))?$/i;
const AUTH_KEYWORD = /^AUTH[ =](.*)$/i;

function mechanismsOf(capabilities: readonly string[]): string[] | undefined {
  const line = capabilities.find((c) => AUTH_KEYWORD.test(c));
  return line === undefined
    ? undefined
    : (AUTH_KEYWORD.exec(line)?.[1] ?? '')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((m) => m.toUpperCase());
}

/** EHLO: what the server offers, judged against what sysemail is set up to do. */
function ehloCheck(p: PhaseResult, s: Settings): Check {
  const caps = p.info?.capabilities ?? (p.detail.includes(', ') ? p.detail.split(', ') : []);
  const before = p.info?.capabilitiesBeforeTls;
  const security = s.string('smtp.security') ?? 'starttls';
  const authRequired = s.boolean('smtp.authRequired');
  const oauth = s.string('smtp.authMethod') === 'oauth2';
  const mechanisms = mechanismsOf(caps);
  const notes: string[] = [];
  notes.push(mechanisms ? `AUTH ${mechanisms.join(' ') || '(no mechanism)'}` : 'no AUTH');
  if (before && !mechanismsOf(before) && mechanisms) notes.push('AUTH offered only after STARTTLS');
  const size = caps.map((c) => SIZE_KEYWORD.exec(c)).find((m) => m !== null);
  const sizeBytes = size?.[1] ? Number(size[1]) : 0;
  if (size) notes.push(sizeBytes > 0 ? `SIZE ${(sizeBytes / 1_048_576).toFixed(1)} MB` : 'SIZE (no limit given)');
  const others = caps.filter((c) => !AUTH_KEYWORD.test(c) && !SIZE_KEYWORD.test(c));
  if (others.length) notes.push(others.join(', '));
  const detail = notes.join('; ');

  if (authRequired && !mechanisms) {
    if (security === 'none' && caps.some((c) => /^STARTTLS$/i.test(c))) {
      return fail(
        'ehlo',
        `${detail}: the server offers AUTH only after STARTTLS, and smtp.security is none`,
        'Use `sysemail params set smtp.security starttls`',
        'AUTH_NOT_SUPPORTED',
      );
    }
    return fail(
      'ehlo',
      `${detail}: smtp.username is set but the server offers no sign-in`,
      'If this server takes mail without a sign-in (a relay), stop signing in: `sysemail params set smtp.authRequired false` and `sysemail params unset smtp.username`; otherwise use its submission port (587)',
      'AUTH_NOT_SUPPORTED',
    );
  }
  if (authRequired && mechanisms && oauth && !mechanisms.includes('XOAUTH2')) {
    return fail(
      'ehlo',
      `${detail}: smtp.authMethod is oauth2 but the server does not offer XOAUTH2`,
      'Use `sysemail params set smtp.authMethod password`, or a server that takes OAuth2 sign-in',
      'AUTH_NOT_SUPPORTED',
    );
  }
  if (authRequired && mechanisms && !oauth && mechanisms.length > 0 && mechanisms.every((m) => m === 'XOAUTH2' || m === 'OAUTHBEARER')) {
    return warn(
      'ehlo',
      `${detail}: the server offers only OAuth2 sign-in, and smtp.authMethod is password`,
      'Use `sysemail params set smtp.authMethod oauth2` with smtp.oauth.tenantId and smtp.oauth.clientId',
      'BASIC_AUTH_DISABLED',
    );
  }
  const limitMb = s.number('limits.maxMessageMb');
  if (sizeBytes > 0 && sizeBytes < limitMb * 1_048_576) {
    const serverMb = Math.floor((sizeBytes / 1_048_576) * 10) / 10;
    return warn(
      'ehlo',
      `${detail}: the server takes messages up to ${serverMb} MB, less than limits.maxMessageMb ${limitMb}`,
      `Lower the limit so big messages are refused before sending: \`sysemail params set limits.maxMessageMb ${serverMb}\``,
      'MESSAGE_TOO_LARGE',
    );
  }
  return pass('ehlo', detail);
}

/** The check each provider phase stands for, in session order. */
const PHASE_CHECKS: readonly { phase: string; id: string }[] = [
  { phase: 'connect', id: 'greeting' },
  { phase: 'tls', id: 'tls' },
  { phase: 'ehlo', id: 'ehlo' },
  { phase: 'token', id: 'token' },
  { phase: 'auth', id: 'auth' },
  { phase: 'mail', id: 'sender' },
  { phase: 'rcpt', id: 'recipient' },
];

function phaseCheck(p: PhaseResult, o: SmtpCheckOptions, now: number): Check {
  switch (p.phase) {
    case 'connect':
      return pass('greeting', p.detail);
    case 'tls':
      return tlsCheck(p, now);
    case 'ehlo':
      return ehloCheck(p, o.settings);
    case 'mail':
      return pass('sender', `MAIL FROM:<${o.from}> accepted: ${p.detail}`);
    case 'rcpt':
      return pass('recipient', `RCPT TO:<${o.to}> accepted: ${p.detail} (then RSET: nothing was sent)`);
    default:
      return pass(PHASE_CHECKS.find((c) => c.phase === p.phase)?.id ?? p.phase, p.detail);
  }
}

/** The whole SMTP network part: dns, tcp, greeting, tls, ehlo, auth, sender, recipient. */
export async function smtpNetworkChecks(o: SmtpCheckOptions): Promise<Check[]> {
  const s = o.settings;
  const host = s.string('smtp.host')!;
  const port = s.number('smtp.port');
  // the table's values, diagnose's shorter ones by name, then the caller's
  const t = resolveTimeouts(s, DIAGNOSE_TIMEOUTS, o.timeouts);
  const authRequired = s.boolean('smtp.authRequired');
  const wanted = [
    'greeting',
    'tls',
    'ehlo',
    ...(authRequired && s.string('smtp.authMethod') === 'oauth2' ? ['token'] : []),
    'auth',
    'sender',
    'recipient',
  ];
  const notReached = (from: number, why: string) => wanted.slice(from).map((id) => skip(id, why));

  const { check: dnsResult, address } = await dnsCheck(host, t.dnsMs);
  if (!address)
    return [dnsResult, skip('tcp', 'not tried: the name does not resolve'), ...notReached(0, 'not tried: the name does not resolve')];
  const tcp = await tcpCheck(address, port, t.tcpMs);
  if (tcp.status === 'fail') return [dnsResult, tcp, ...notReached(0, 'not tried: no TCP connection')];

  const quitAfter = o.noSignIn ? 'ehlo' : !o.from ? 'auth' : o.to ? 'rcpt' : 'mail';
  const { createProvider } = await import('../../providers/index.js');
  const provider = await createProvider('smtp', {
    settings: s,
    secrets: o.secrets,
    timeouts: t,
  });
  let result: Awaited<ReturnType<typeof provider.test>>;
  try {
    result = await provider.test({ from: o.from ?? '', ...(o.to ? { to: o.to } : {}), quitAfter });
  } finally {
    await provider.close();
  }

  const now = o.now ?? Date.now();
  const checks: Check[] = [dnsResult, tcp];
  const done = new Set<string>();
  for (const p of result.phases) {
    const id = PHASE_CHECKS.find((c) => c.phase === p.phase)?.id ?? p.phase;
    done.add(id);
    if (p.ok) checks.push(phaseCheck(p, o, now));
    else checks.push(failedStep(id, result.error, result.failure, p.detail));
  }
  if (!result.ok) {
    const failed = checks[checks.length - 1].id;
    for (const id of wanted) if (!done.has(id)) checks.push(skip(id, `not reached: the ${failed} step failed`));
    return checks;
  }
  for (const id of wanted) {
    if (done.has(id)) continue;
    if (id === 'auth' && !authRequired) checks.push(skip('auth', 'no sign-in: smtp.authRequired is false'));
    else if (id === 'auth' || id === 'token') checks.push(skip(id, 'not tried: the secret cannot be read (see the secret check)'));
    else if (id === 'sender') checks.push(skip('sender', o.noSignIn ? 'not tried: no sign-in' : 'not tried: no sender configured'));
    else if (id === 'recipient')
      checks.push(skip('recipient', 'not tried: give --to ADDR to check a recipient (RCPT TO, then RSET: nothing is sent)'));
    else checks.push(skip(id, 'not reached'));
  }
  return checks;
}
