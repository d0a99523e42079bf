/**
 * The administrator's email parameters: every key, its type, default and meaning, with pure parsing and
 * validation. Values are stored as JSON in the params table; the effective value of a key comes from
 * the layers in ./precedence.ts.
 */
import { formatMailbox, isValidAddress, parseSender } from './address.js';
import { quoted } from './errors.js';
import { PROVIDER_NAMES, PROMPT_PROVIDER } from './providers.js';

export type ParamType =
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'integer'; min: number; max?: number }
  | { kind: 'number'; exclusiveMin: number; max?: number }
  | { kind: 'string' }
  | { kind: 'host' }
  | { kind: 'port' }
  | { kind: 'address' }
  /** An address with an optional display name: `Ops Team <ops@example.com>`. */
  | { kind: 'mailbox' }
  | { kind: 'path' }
  | { kind: 'url' }
  /**
   * A secret: never stored in the database. `env` is the contract's environment variable for it;
   * `command` and `file` name the parameters holding its non-interactive sources.
   */
  | { kind: 'secret'; env: string; command: string; file: string };

export type ParamValue = string | number | boolean;

export interface ParamDef {
  key: string;
  type: ParamType;
  /** Static default; `undefined` = none (or computed, see defaultNote). */
  default?: ParamValue;
  /** How the default is worked out when it depends on other values. */
  defaultNote?: string;
  description: string;
}

const enumOf = (...values: readonly string[]): ParamType => ({ kind: 'enum', values });

export const MICROSOFT_IDENTITY_TOKEN_URL = 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token';
export const GRAPH_URL = 'https://graph.microsoft.com';
export const SMTP_OAUTH_SCOPE = 'https://outlook.office365.com/.default';
export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

const TABLE = [
  {
    key: 'batch.provider',
    type: enumOf(...PROVIDER_NAMES),
    default: 'smtp',
    description: 'Provider the distributor batch (queue run) sends through',
  },
  {
    key: 'interactive.provider',
    type: enumOf(...PROVIDER_NAMES, PROMPT_PROVIDER),
    default: 'prompt',
    description: 'Provider `send` uses when the user config names none; prompt = ask each time',
  },
  {
    key: 'sender.default',
    type: { kind: 'mailbox' },
    description: 'Default From: an address, optionally with a name (Ops Team <ops@example.com>)',
  },
  {
    key: 'limits.maxMessageMb',
    type: { kind: 'number', exclusiveMin: 0, max: 1024 },
    default: 25,
    description: 'Largest whole email, attachments included, in MB',
  },
  {
    key: 'history.retentionDays',
    type: { kind: 'integer', min: 0, max: 36500 },
    default: 30,
    description: 'Days sent and failed history is kept (0 = the default, 30)',
  },
  { key: 'throttling.enabled', type: { kind: 'boolean' }, default: false, description: 'Apply the per-provider per-minute sending limit' },
  {
    key: 'smtp.perMinuteLimit',
    type: { kind: 'integer', min: 0, max: 1_000_000 },
    defaultNote: '30 for Microsoft 365 hosts, else 0',
    description: 'Messages per minute through SMTP (0 = no limit)',
  },
  {
    key: 'exchange.perMinuteLimit',
    type: { kind: 'integer', min: 0, max: 1_000_000 },
    defaultNote: '30 (Exchange Online)',
    description: 'Messages per minute through Exchange Online (0 = no limit)',
  },
  {
    key: 'queue.minBackoffSec',
    type: { kind: 'integer', min: 1, max: 86_400 },
    default: 300,
    description: 'Shortest wait before retrying a temporary failure, seconds',
  },
  {
    key: 'queue.maxBackoffSec',
    type: { kind: 'integer', min: 1, max: 604_800 },
    default: 4000,
    description: 'Longest wait between retries, seconds',
  },
  {
    key: 'queue.maxLifetimeHours',
    type: { kind: 'integer', min: 1, max: 8760 },
    default: 120,
    description: 'Hours a message may keep retrying before it fails',
  },
  {
    key: 'suppression.softExpiryDays',
    type: { kind: 'integer', min: 1, max: 3650 },
    default: 7,
    description: 'Days a recipient refused for a full mailbox (5.2.2) stays on the suppression list',
  },
  {
    key: 'queue.spoolDir',
    type: { kind: 'path' },
    defaultNote: 'spool/ beside the database file',
    description: 'Folder where queued attachments are copied until the message is sent',
  },
  { key: 'smtp.host', type: { kind: 'host' }, description: 'Outgoing mail server host name' },
  {
    key: 'smtp.port',
    type: { kind: 'port' },
    default: 587,
    description: 'Outgoing mail server port (587 submission, 465 implicit TLS, 25 relay)',
  },
  {
    key: 'smtp.security',
    type: enumOf('starttls', 'tls', 'none'),
    default: 'starttls',
    description: 'starttls = STARTTLS required; tls = implicit TLS; none = plain, local relays only',
  },
  { key: 'smtp.authRequired', type: { kind: 'boolean' }, default: true, description: 'Sign in before sending' },
  {
    key: 'smtp.authMethod',
    type: enumOf('password', 'oauth2'),
    default: 'password',
    description: 'password, or oauth2 = XOAUTH2 with a client-credentials token',
  },
  { key: 'smtp.username', type: { kind: 'string' }, description: 'Account to sign in with (user@domain)' },
  {
    key: 'smtp.password',
    type: { kind: 'secret', env: 'SYSEMAIL_SMTP_PASSWORD', command: 'smtp.passwordCommand', file: 'smtp.passwordFile' },
    description: 'Password of the SMTP account (kept in the OS keychain)',
  },
  { key: 'smtp.passwordCommand', type: { kind: 'string' }, description: 'Command whose output is the SMTP password' },
  { key: 'smtp.passwordFile', type: { kind: 'path' }, description: 'File holding the SMTP password (mode 0600)' },
  {
    key: 'smtp.sessionTimeoutSec',
    type: { kind: 'integer', min: 5, max: 86_400 },
    default: 300,
    description: 'Longest one SMTP session may take, connection to QUIT, before the message is deferred, seconds',
  },
  { key: 'smtp.caFile', type: { kind: 'path' }, description: 'Extra trusted CA certificate (PEM) for the SMTP server' },
  { key: 'smtp.oauth.tenantId', type: { kind: 'string' }, description: 'Microsoft Entra tenant id or domain for SMTP OAuth2' },
  { key: 'smtp.oauth.clientId', type: { kind: 'string' }, description: 'Application (client) id for SMTP OAuth2' },
  {
    key: 'smtp.oauth.clientSecret',
    type: {
      kind: 'secret',
      env: 'SYSEMAIL_SMTP_CLIENT_SECRET',
      command: 'smtp.oauth.clientSecretCommand',
      file: 'smtp.oauth.clientSecretFile',
    },
    description: 'Client secret for SMTP OAuth2 (kept in the OS keychain)',
  },
  { key: 'smtp.oauth.clientSecretCommand', type: { kind: 'string' }, description: 'Command whose output is the SMTP OAuth2 client secret' },
  { key: 'smtp.oauth.clientSecretFile', type: { kind: 'path' }, description: 'File holding the SMTP OAuth2 client secret (mode 0600)' },
  {
    key: 'smtp.oauth.tokenUrl',
    type: { kind: 'url' },
    defaultNote: 'Microsoft identity platform endpoint of the tenant',
    description: 'OAuth2 token endpoint for SMTP',
  },
  { key: 'smtp.oauth.scope', type: { kind: 'string' }, default: SMTP_OAUTH_SCOPE, description: 'OAuth2 scope for SMTP' },
  { key: 'exchange.tenantId', type: { kind: 'string' }, description: 'Microsoft Entra tenant id or domain for Exchange Online' },
  { key: 'exchange.clientId', type: { kind: 'string' }, description: 'Application (client) id with the Mail.Send permission' },
  {
    key: 'exchange.clientSecret',
    type: {
      kind: 'secret',
      env: 'SYSEMAIL_EXCHANGE_CLIENT_SECRET',
      command: 'exchange.clientSecretCommand',
      file: 'exchange.clientSecretFile',
    },
    description: 'Client secret of the Exchange application (kept in the OS keychain)',
  },
  { key: 'exchange.clientSecretCommand', type: { kind: 'string' }, description: 'Command whose output is the Exchange client secret' },
  { key: 'exchange.clientSecretFile', type: { kind: 'path' }, description: 'File holding the Exchange client secret (mode 0600)' },
  {
    key: 'exchange.requestTimeoutSec',
    type: { kind: 'integer', min: 5, max: 86_400 },
    default: 120,
    description: 'Longest one Microsoft Graph request may take before the message is deferred, seconds',
  },
  { key: 'exchange.mailbox', type: { kind: 'address' }, description: 'Mailbox that sends through Microsoft Graph' },
  { key: 'exchange.graphUrl', type: { kind: 'url' }, default: GRAPH_URL, description: 'Microsoft Graph base URL' },
  {
    key: 'exchange.tokenUrl',
    type: { kind: 'url' },
    defaultNote: 'Microsoft identity platform endpoint of the tenant',
    description: 'OAuth2 token endpoint for Exchange',
  },
  {
    key: 'eml.outputDir',
    type: { kind: 'path' },
    defaultNote: 'outbox/ beside the database file',
    description: 'Folder where the email-app provider writes .eml files',
  },
] as const satisfies readonly ParamDef[];

/** Every parameter key: a misspelt key given to Settings does not compile. */
export type ParamKey = (typeof TABLE)[number]['key'];
/** The keys of the secret parameters. */
export type SecretName = Extract<(typeof TABLE)[number], { type: { kind: 'secret' } }>['key'];

export const PARAMS: readonly (ParamDef & { key: ParamKey })[] = TABLE;

type SecretType = Extract<ParamType, { kind: 'secret' }>;

const BY_KEY = new Map<string, ParamDef>(PARAMS.map((p) => [p.key, p]));

export function isParamKey(key: string): key is ParamKey {
  return BY_KEY.has(key);
}

export const SECRET_KEYS: readonly SecretName[] = PARAMS.filter((p) => p.type.kind === 'secret').map((p) => p.key as SecretName);

export function paramDef(key: string): ParamDef | undefined {
  return BY_KEY.get(key);
}

export function isSecretKey(key: string): key is SecretName {
  return BY_KEY.get(key)?.type.kind === 'secret';
}

/** Where a secret may come from besides the keychain: its environment variable, command and file parameters. */
export function secretSources(name: SecretName): { env: string; command: ParamKey; file: ParamKey } {
  const t = BY_KEY.get(name)!.type as SecretType;
  return { env: t.env, command: t.command as ParamKey, file: t.file as ParamKey };
}

/** `smtp.perMinuteLimit` → `SYSEMAIL_SMTP_PER_MINUTE_LIMIT`; a secret's is the contract's name in the table. */
export function envNameOf(key: string): string {
  const t = BY_KEY.get(key)?.type;
  if (t?.kind === 'secret') return t.env;
  return (
    'SYSEMAIL_' +
    key
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/\./g, '_')
      .toUpperCase()
  );
}

export interface ParseResult {
  value?: ParamValue;
  error?: string;
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function isHost(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  if (/^\[?[0-9a-fA-F:]+\]?$/.test(s) && s.includes(':')) return true; // IPv6 literal
  return s
    .replace(/\.$/, '')
    .split('.')
    .every((label) => HOST_LABEL.test(label) || /^xn--/.test(label));
}

/** Parses the text form of a value (command line, environment, import) into its typed form. */
export function parseParamValue(def: ParamDef, raw: unknown): ParseResult {
  const t = def.type;
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (t.kind) {
    case 'enum': {
      const s = String(text).toLowerCase();
      return t.values.includes(s) ? { value: s } : { error: `must be one of ${t.values.join(', ')}` };
    }
    case 'boolean': {
      if (typeof text === 'boolean') return { value: text };
      const s = String(text).toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(s)) return { value: true };
      if (['false', 'no', 'off', '0'].includes(s)) return { value: false };
      return { error: 'must be true or false' };
    }
    case 'integer':
    case 'port': {
      const min = t.kind === 'port' ? 1 : t.min;
      const max = t.kind === 'port' ? 65535 : t.max;
      const n = typeof text === 'number' ? text : /^[+-]?\d+$/.test(String(text)) ? Number(text) : NaN;
      if (!Number.isInteger(n)) return { error: `must be a whole number${max !== undefined ? ` from ${min} to ${max}` : ` ≥ ${min}`}` };
      if (n < min || (max !== undefined && n > max)) {
        return { error: max !== undefined ? `must be from ${min} to ${max}` : `must be ≥ ${min}` };
      }
      return { value: n };
    }
    case 'number': {
      const n = typeof text === 'number' ? text : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(String(text)) ? Number(text) : NaN;
      if (!Number.isFinite(n)) return { error: 'must be a number' };
      if (n <= t.exclusiveMin || (t.max !== undefined && n > t.max)) {
        return { error: `must be greater than ${t.exclusiveMin}${t.max !== undefined ? ` and at most ${t.max}` : ''}` };
      }
      return { value: n };
    }
    case 'host': {
      const s = String(text);
      return isHost(s) ? { value: s.toLowerCase() } : { error: 'must be a host name such as smtp.example.com or an IP address' };
    }
    case 'address': {
      const s = String(text);
      return isValidAddress(s) ? { value: s } : { error: 'must be a bare email address such as noreply@example.com' };
    }
    case 'mailbox': {
      const r = parseSender(String(text));
      return r.value
        ? { value: formatMailbox(r.value) }
        : { error: `must be one email address, optionally with a name, such as "Ops Team <ops@example.com>": the value ${r.error}` };
    }
    case 'url': {
      const s = String(text);
      // the URL parser drops tabs and line breaks silently; the stored text would keep them
      if (/[\0-\x1f\x7f]/.test(s)) return { error: 'must be one line, without control characters' };
      try {
        const u = new URL(s);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') return { error: 'must be an http(s) URL' };
        return { value: s.replace(/\/+$/, '') };
      } catch {
        return { error: 'must be a URL such as https://graph.microsoft.com' };
      }
    }
    case 'string':
    case 'path': {
      if (typeof text !== 'string' && typeof text !== 'number') return { error: 'must be text' };
      const s = String(text);
      if (s.length === 0) return { error: 'must not be empty (use `params unset` to clear it)' };
      if (/[\r\n\0]/.test(s)) return { error: 'must be one line' };
      return { value: s };
    }
    case 'secret':
      return { error: 'is a secret: set it with --stdin or at the masked prompt' };
  }
}

/** Edit distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

export function closestKey(key: string): string {
  const lower = key.toLowerCase();
  let best: string = PARAMS[0].key;
  let bestScore = Infinity;
  for (const p of PARAMS) {
    const k = p.key.toLowerCase();
    const segments = k.split('.');
    let score = Math.min(editDistance(lower, k), ...segments.map((s) => editDistance(lower, s) + 1));
    if (segments.includes(lower)) score = 0.5;
    else if (lower.length >= 3 && segments.some((s) => s.startsWith(lower) || k.startsWith(lower))) score -= 1.5;
    if (score < bestScore) {
      bestScore = score;
      best = p.key;
    }
  }
  return best;
}

export interface Assignment {
  key: string;
  raw: unknown;
}

export interface ValidatedAssignment {
  key: string;
  value: ParamValue;
}

export interface ValidationError {
  key: string;
  message: string;
  /** e.g. the closest real key */
  hint?: string;
}

/**
 * Checks a whole set of assignments before anything is changed: unknown keys, bad values, secrets given
 * as plain values, and rules across keys (min backoff ≤ max backoff) against the values they would meet.
 */
export function validateAssignments(
  assignments: readonly Assignment[],
  current: ReadonlyMap<string, ParamValue>,
): { value: ValidatedAssignment[]; errors: ValidationError[] } {
  const value: ValidatedAssignment[] = [];
  const errors: ValidationError[] = [];
  for (const a of assignments) {
    const def = paramDef(a.key);
    if (!def) {
      const near = closestKey(a.key);
      errors.push({
        key: a.key,
        message: `unknown parameter ${quoted(a.key)}`,
        hint: `Did you mean ${quoted(near)}? (sysemail params list shows every key)`,
      });
      continue;
    }
    if (def.type.kind === 'secret') {
      errors.push({
        key: a.key,
        message: `${a.key} is a secret and is never given on the command line or in a file`,
        hint: `use: printf %s "$SECRET" | sysemail params set ${a.key} --stdin`,
      });
      continue;
    }
    const parsed = parseParamValue(def, a.raw);
    if (parsed.error !== undefined || parsed.value === undefined) {
      errors.push({ key: a.key, message: `${a.key} ${parsed.error ?? 'is invalid'} (got ${quoted(String(a.raw))})` });
      continue;
    }
    value.push({ key: a.key, value: parsed.value });
  }
  if (errors.length === 0) {
    const next = new Map(current);
    for (const v of value) next.set(v.key, v.value);
    errors.push(...crossCheck(next));
  }
  return { value, errors };
}

function crossCheck(values: ReadonlyMap<string, ParamValue>): ValidationError[] {
  const num = (k: string) => (values.get(k) ?? paramDef(k)?.default) as number;
  const out: ValidationError[] = [];
  if (num('queue.minBackoffSec') > num('queue.maxBackoffSec')) {
    out.push({
      key: 'queue.minBackoffSec',
      message: `queue.minBackoffSec (${num('queue.minBackoffSec')}) must not exceed queue.maxBackoffSec (${num('queue.maxBackoffSec')})`,
    });
  }
  return out;
}

/** Microsoft 365 SMTP submission hosts, where Exchange Online's sending limits apply. */
export function isMicrosoft365Host(host: string | undefined): boolean {
  if (!host) return false;
  const h = host.toLowerCase();
  return (
    h === 'smtp.office365.com' ||
    h === 'smtp-mail.outlook.com' ||
    h.endsWith('.mail.protection.outlook.com') ||
    h === 'outlook.office365.com'
  );
}

/** Renders a typed value for display (tables, `params get`). */
export function formatParamValue(v: ParamValue | undefined): string {
  if (v === undefined) return '';
  return String(v);
}
