/**
 * What the three providers share: turning a FailureInfo into the one error type (kind and scope from
 * core/classify), the OAuth2 client-credentials grant, and reading secrets without ever echoing them.
 */
import { classifyFailure } from '../core/classify.js';
import type { DkimSigningKey } from '../core/dkim.js';
import { SysemailError, isSysemailError, type ErrorCode } from '../core/errors.js';
import type { FailureInfo, FailurePhase, ProviderName } from '../core/failure.js';
import type { SecretName } from '../core/params.js';
import type { Settings } from '../core/precedence.js';
import { defaultTimeout, type TimeoutOverrides } from '../core/timeouts.js';
import type { Keychain } from '../secrets/index.js';
import type { SendMailOptions } from 'nodemailer';
import type { OutgoingMessage, PhaseInfo, PhaseResult, TestPhase } from './types.js';

export interface SecretAccess {
  /** The database's own random id (keychain account). */
  dbId: string;
  env: NodeJS.ProcessEnv;
  /** Tests hand in their own; defaults to the OS keychain. */
  keychain?: Keychain;
}

export interface ProviderOptions {
  settings: Settings;
  secrets: SecretAccess;
  /** Keep SMTP connections open between messages (the distributor). */
  pool?: { maxConnections: number };
  /**
   * Timeouts by name, over the table in core/timeouts.ts (tests, diagnose). `sessionMs` and
   * `requestMs` stand in for smtp.sessionTimeoutSec and exchange.requestTimeoutSec.
   */
  timeouts?: TimeoutOverrides;
  /**
   * Called with each line of the SMTP conversation (`-> ` sent, `<- ` received, `~> `/`<~ ` once TLS
   * is up), secrets and message bodies already elided: what `-v` prints.
   */
  onTranscript?: (line: string) => void;
  /**
   * The registered DKIM keys, read from their sources (src/app/dkim.ts): SMTP and eml sign every
   * message whose From domain has one. Exchange ignores them (Microsoft signs what Graph builds).
   */
  dkim?: readonly DkimSigningKey[];
}

/** The error a provider throws: kind from the classification, data = the FailureInfo plus its scope. */
export function failureError(failure: FailureInfo, code: ErrorCode, message: string, fix: string, cause?: unknown): SysemailError {
  const { kind, scope } = classifyFailure(failure);
  return new SysemailError(kind, code, message, { fix, cause, data: { ...failure, scope } });
}

/** Reads a secret; a failure keeps its own kind and fix and gains the FailureInfo of a 'secret' phase. */
export async function readSecret(name: SecretName, provider: ProviderName, settings: Settings, access: SecretAccess): Promise<string> {
  const { resolveSecret, secretSettings } = await import('../secrets/index.js');
  try {
    const { value } = await resolveSecret(name, {
      dbId: access.dbId,
      env: access.env,
      ...secretSettings(settings),
      ...(access.keychain ? { keychain: access.keychain } : {}),
    });
    return value;
  } catch (err) {
    if (!isSysemailError(err)) throw err;
    const failure: FailureInfo = { provider, phase: 'secret', code: err.code, response: err.message };
    throw new SysemailError(err.kind, err.code, err.message, {
      fix: err.fix,
      cause: err,
      data: { ...(err.data ?? {}), ...failure, scope: 'account' },
    });
  }
}

/** A missing or contradictory setting: 78 before any connection is made. */
export function configError(provider: ProviderName, code: ErrorCode, message: string, fix: string): SysemailError {
  return failureError({ provider, phase: 'config', code, response: message }, code, message, fix);
}

export interface AccessToken {
  accessToken: string;
  /** Epoch ms after which a new one is fetched. */
  expiresAt: number;
}

/** Seconds before expiry at which a cached token is replaced. */
const TOKEN_EARLY_RENEWAL_SEC = 120;
export const HTTP_TIMEOUT_MS = defaultTimeout('httpMs');

/** Node's fetch hides the socket error in `cause`; dig the code out for classification. */
export function networkCodeOf(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if ((e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError') return 'ETIMEDOUT';
    e = (e as { cause?: unknown }).cause;
  }
  return 'ECONNECTION';
}

export function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ') || String(err);
}

/** Retry-After is either seconds or an HTTP date. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * OAuth2 client-credentials grant (RFC 6749 §4.4), as the Microsoft identity platform takes it. The
 * secret goes only into the request body; errors carry the endpoint's error code and description.
 */
export async function fetchClientCredentialsToken(options: {
  provider: ProviderName;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
}): Promise<AccessToken> {
  const phase: FailurePhase = 'token';
  const host = safeHost(options.tokenUrl);
  let res: Response;
  try {
    res = await fetch(options.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: options.clientId,
        client_secret: options.clientSecret,
        scope: options.scope,
      }).toString(),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
  } catch (err) {
    const failure: FailureInfo = { provider: options.provider, phase, code: networkCodeOf(err), response: describeNetworkError(err) };
    throw failureError(
      failure,
      'TOKEN_UNREACHABLE',
      `cannot reach the token endpoint ${host} (${failure.response})`,
      'Check the network and the token URL; run `sysemail diagnose`',
      err,
    );
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: keep the status and a short excerpt
  }
  if (!res.ok || typeof body.access_token !== 'string') {
    const oauthError = typeof body.error === 'string' ? body.error : undefined;
    const description = typeof body.error_description === 'string' ? body.error_description.split(/\r?\n/)[0] : text.slice(0, 200);
    const failure: FailureInfo = {
      provider: options.provider,
      phase,
      httpStatus: res.status,
      ...(oauthError ? { code: oauthError } : {}),
      response: description || `HTTP ${res.status}`,
      ...(res.status === 429 ? { retryAfterSec: retryAfterSeconds(res.headers.get('retry-after')) } : {}),
    };
    const prefix = options.provider === 'exchange' ? 'exchange' : 'smtp.oauth';
    throw failureError(
      failure,
      'TOKEN_REFUSED',
      `the token endpoint ${host} refused the client-credentials request (HTTP ${res.status}${oauthError ? ` ${oauthError}` : ''}: ${failure.response})`,
      `Check ${prefix}.tenantId, ${prefix}.clientId and the client secret (printf %s "$SECRET" | sysemail params set ${prefix}.clientSecret --stdin), and that admin consent was granted`,
    );
  }
  const expiresIn = Number(body.expires_in ?? 3600);
  return { accessToken: body.access_token, expiresAt: Date.now() + Math.max(60, expiresIn - TOKEN_EARLY_RENEWAL_SEC) * 1000 };
}

export function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Collects the phases of a connection test, timing each from the end of the one before, and reports each at once. */
export function phaseRecorder(onPhase?: (p: PhaseResult) => void): {
  phases: PhaseResult[];
  emit: (phase: TestPhase, ok: boolean, detail: string, info?: PhaseInfo) => PhaseResult;
} {
  const phases: PhaseResult[] = [];
  let mark = Date.now();
  const emit = (phase: TestPhase, ok: boolean, detail: string, info?: PhaseInfo) => {
    const now = Date.now();
    const p: PhaseResult = { phase, ok, ms: now - mark, detail, ...(info ? { info } : {}) };
    mark = now;
    phases.push(p);
    onPhase?.(p);
    return p;
  };
  return { phases, emit };
}

/** A message in nodemailer's shape (transport and MailComposer alike); attachments stream from disk. */
export function nodemailerMessage(m: OutgoingMessage): SendMailOptions {
  return {
    from: m.from,
    to: m.to,
    cc: m.cc,
    bcc: m.bcc,
    ...(m.replyTo ? { replyTo: m.replyTo } : {}),
    subject: m.subject,
    ...(m.text !== undefined ? { text: m.text } : {}),
    ...(m.html !== undefined ? { html: m.html } : {}),
    attachments: m.attachments.map((a) => ({
      filename: a.filename,
      ...(a.path ? { path: a.path } : { content: a.content }),
      ...(a.contentType ? { contentType: a.contentType } : {}),
    })),
    ...(m.messageId ? { messageId: m.messageId } : {}),
    ...(m.headers ? { headers: m.headers } : {}),
    // attachments are local files the user named; never fetch URLs
    disableUrlAccess: true,
  };
}
