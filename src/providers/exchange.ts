/**
 * Exchange Online through Microsoft Graph with an application token (client credentials):
 * `POST {graphUrl}/v1.0/users/{mailbox}/sendMail`. Attachments over 3 MB never ride in one JSON body:
 * the message becomes a draft, each large file goes up through an upload session in slices, then the
 * draft is sent. Graph's JSON error body ({"error":{"code","message"}}) becomes the FailureInfo.
 */
import fs from 'node:fs';
import { DEADLINE_GRAPH } from '../core/classify.js';
import { SysemailError, isSysemailError } from '../core/errors.js';
import type { FailureInfo, FailurePhase } from '../core/failure.js';
import { parseMailbox } from '../core/message.js';
import { GRAPH_SCOPE } from '../core/params.js';
import { defaultTimeout, resolveTimeouts } from '../core/timeouts.js';
import type { ConnectionTestOptions, OutgoingAttachment, OutgoingMessage, PhaseResult, Provider, SendResult, TestPhase } from './types.js';
import {
  HTTP_TIMEOUT_MS,
  configError,
  describeNetworkError,
  failureError,
  fetchClientCredentialsToken,
  networkCodeOf,
  phaseRecorder,
  readSecret,
  retryAfterSeconds,
  safeHost,
  type AccessToken,
  type ProviderOptions,
} from './common.js';

/** Graph takes attachments up to this size inline; larger ones need an upload session. */
export const GRAPH_INLINE_ATTACHMENT_MAX = 3 * 1024 * 1024;
/** Upload slices must be multiples of 320 KiB; 10 of them stay under Graph's 4 MiB per request. */
export const GRAPH_UPLOAD_SLICE = 320 * 1024 * 10;
/** Uploading a large attachment may take a while; each request still gets a bound. */
const UPLOAD_TIMEOUT_MS = defaultTimeout('uploadMs');

interface ExchangeConfig {
  graphUrl: string;
  tokenUrl: string;
  clientId: string;
  mailbox: string;
}

/**
 * The application permissions a Microsoft identity platform token carries (its `roles` claim), read
 * without verifying the signature: only to tell the admin whether Mail.Send was granted. Undefined
 * when the token is not a JWT.
 */
export function tokenRoles(accessToken: string): string[] | undefined {
  const payload = accessToken.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { roles?: unknown };
    return Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return undefined;
  }
}

function recipients(list: readonly string[]) {
  return list.map((s) => {
    const m = parseMailbox(s) ?? { address: s };
    return { emailAddress: { address: m.address, ...(m.name ? { name: m.name } : {}) } };
  });
}

/** The bytes of a request that sysemail itself puts on the wire: a lower bound of what was sent. */
function requestSize(method: string, url: string, headers: Record<string, string>, payload: string | Buffer | undefined): number {
  const u = new URL(url);
  let n = `${method} ${u.pathname}${u.search} HTTP/1.1\r\n\r\n`.length;
  for (const [k, v] of Object.entries(headers)) n += k.length + v.length + 4;
  return n + (payload === undefined ? 0 : Buffer.byteLength(payload));
}

/**
 * Was the whole request written before the connection was lost? undici's SocketError ("other side
 * closed") carries the socket's byte counts. A reset met while reading (the request written, its
 * answer awaited) carries none: it is taken as written, since sending twice is the worse mistake.
 */
function requestWritten(err: unknown, size: number): boolean {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const x = e as { code?: unknown; syscall?: unknown; socket?: { bytesWritten?: unknown } };
    if (x.code === 'UND_ERR_SOCKET' && typeof x.socket?.bytesWritten === 'number') return x.socket.bytesWritten >= size;
    if (x.code === 'ECONNRESET') return x.syscall === 'read';
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The request reached Graph and the connection broke before its answer: the message may have been sent. */
function graphOutcomeUnknown(failure: FailureInfo, host: string, cause: unknown): SysemailError {
  const response = `the connection to Microsoft Graph at ${host} was lost after the whole request was sent and before its answer (${failure.response}): the message may have been sent`;
  return new SysemailError('tempfail', 'OUTCOME_UNKNOWN', response, {
    fix: "Look for the message in the mailbox's Sent Items, then `sysemail queue release ID` to send it again or `sysemail queue delete ID`",
    data: { ...failure, outcomeUnknown: true, response, scope: 'message' },
    cause,
  });
}

export class ExchangeProvider implements Provider {
  readonly name = 'exchange' as const;
  /** exchange.requestTimeoutSec: the whole of one send, draft and uploads included. */
  readonly deadlineMs: number;
  private token?: AccessToken;

  constructor(private readonly options: ProviderOptions) {
    this.deadlineMs = resolveTimeouts(options.settings, options.timeouts).requestMs;
  }

  /** The send outlived exchange.requestTimeoutSec: its request was aborted, and this message waits for its next attempt. */
  private deadlineError(cause?: unknown): SysemailError {
    const seconds = Math.round(this.deadlineMs / 1000);
    const response = `Microsoft Graph did not answer within exchange.requestTimeoutSec (${seconds} s), so the request was abandoned`;
    return failureError(
      { provider: 'exchange', phase: 'send', code: DEADLINE_GRAPH, response },
      DEADLINE_GRAPH,
      response,
      `Graph is slow or stalling; the message is retried later. For large attachments on a slow link allow more: \`sysemail params set exchange.requestTimeoutSec ${Math.max(300, seconds * 2)}\``,
      cause,
    );
  }

  private config(): ExchangeConfig {
    const s = this.options.settings;
    const graphUrl = s.string('exchange.graphUrl');
    const tokenUrl = s.string('exchange.tokenUrl');
    const clientId = s.string('exchange.clientId');
    const mailbox = s.string('exchange.mailbox');
    const missing = [
      !tokenUrl && 'exchange.tenantId',
      !clientId && 'exchange.clientId',
      !mailbox && 'exchange.mailbox',
      !graphUrl && 'exchange.graphUrl',
    ].filter(Boolean);
    if (missing.length > 0) {
      throw configError(
        'exchange',
        'EXCHANGE_INCOMPLETE',
        `the exchange provider needs ${missing.join(', ')}`,
        'Set them with `sysemail params set exchange.tenantId TENANT exchange.clientId APP_ID exchange.mailbox sender@example.com` and store the secret with `printf %s "$SECRET" | sysemail params set exchange.clientSecret --stdin`',
      );
    }
    return { graphUrl: graphUrl!.replace(/\/+$/, ''), tokenUrl: tokenUrl!, clientId: clientId!, mailbox: mailbox! };
  }

  async prepare(): Promise<void> {
    this.config();
    await readSecret('exchange.clientSecret', 'exchange', this.options.settings, this.options.secrets);
  }

  private async accessToken(cfg: ExchangeConfig): Promise<AccessToken> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token;
    const clientSecret = await readSecret('exchange.clientSecret', 'exchange', this.options.settings, this.options.secrets);
    this.token = await fetchClientCredentialsToken({
      provider: 'exchange',
      tokenUrl: cfg.tokenUrl,
      clientId: cfg.clientId,
      clientSecret,
      scope: GRAPH_SCOPE,
    });
    return this.token;
  }

  private userUrl(cfg: ExchangeConfig, suffix = ''): string {
    return `${cfg.graphUrl}/v1.0/users/${encodeURIComponent(cfg.mailbox)}${suffix}`;
  }

  /** One Graph call; any non-2xx reply becomes a classified SysemailError. */
  private async call(
    cfg: ExchangeConfig,
    phase: FailurePhase,
    method: string,
    url: string,
    body?: unknown,
    options: { auth?: boolean; headers?: Record<string, string>; raw?: Buffer; deadline?: AbortSignal; final?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.auth !== false) headers.authorization = `Bearer ${(await this.accessToken(cfg)).accessToken}`;
    let payload: string | Buffer | undefined;
    if (options.raw) payload = options.raw;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    const timeout = AbortSignal.timeout(options.raw ? UPLOAD_TIMEOUT_MS : HTTP_TIMEOUT_MS);
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
        signal: options.deadline ? AbortSignal.any([timeout, options.deadline]) : timeout,
      });
    } catch (err) {
      if (options.deadline?.aborted) throw this.deadlineError(err);
      const failure: FailureInfo = { provider: 'exchange', phase, code: networkCodeOf(err), response: describeNetworkError(err) };
      if (options.final && requestWritten(err, requestSize(method, url, headers, payload))) {
        throw graphOutcomeUnknown(failure, safeHost(url), err);
      }
      throw failureError(
        failure,
        'GRAPH_UNREACHABLE',
        `cannot reach Microsoft Graph at ${safeHost(url)} (${failure.response})`,
        'Check the network (and exchange.graphUrl); try again later',
        err,
      );
    }
    if (res.ok) return res;
    throw await this.graphError(res, cfg, phase);
  }

  private async graphError(res: Response, cfg: ExchangeConfig, phase: FailurePhase): Promise<SysemailError> {
    const text = await res.text().catch(() => '');
    let graphCode: string | undefined;
    let message: string | undefined;
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code === 'string') graphCode = body.error.code;
      if (typeof body.error?.message === 'string') message = body.error.message;
    } catch {
      // not Graph's JSON: keep a short excerpt
    }
    const retryAfterSec = retryAfterSeconds(res.headers.get('retry-after'));
    const failure: FailureInfo = {
      provider: 'exchange',
      phase,
      httpStatus: res.status,
      ...(graphCode ? { graphCode } : {}),
      response: message ?? (text.slice(0, 300) || `HTTP ${res.status} ${res.statusText}`),
      ...(retryAfterSec !== undefined ? { retryAfterSec } : {}),
    };
    const words = `HTTP ${res.status}${graphCode ? ` ${graphCode}` : ''}: ${failure.response}`;
    const mb = cfg.mailbox;
    if (res.status === 401 || res.status === 403) {
      const sendAs = /SendAs/i.test(graphCode ?? '') || /send as|on behalf/i.test(failure.response ?? '');
      return failureError(
        failure,
        sendAs ? 'SEND_AS_DENIED' : 'EXCHANGE_UNAUTHORIZED',
        sendAs
          ? `Exchange Online refused to send as this From through ${mb} (${words})`
          : `Exchange Online refused the application for ${mb} (${words})`,
        sendAs
          ? `Send from ${mb} itself, or grant it Send As on the From address`
          : 'Grant the application the Mail.Send application permission with admin consent, and check that an application access policy does not exclude this mailbox',
      );
    }
    if (res.status === 404) {
      return failureError(
        failure,
        'MAILBOX_NOT_FOUND',
        `exchange.mailbox ${mb} has no Exchange Online mailbox (${words})`,
        'Check exchange.mailbox: it must be a licensed user or shared mailbox in this tenant',
      );
    }
    if (res.status === 429) {
      const wait = retryAfterSec !== undefined ? `in ${retryAfterSec} s` : 'later';
      return failureError(
        failure,
        'RATE_LIMITED',
        `Exchange Online is throttling ${mb} (${words})`,
        `Try again ${wait}; lower exchange.perMinuteLimit and turn throttling on (sysemail params set throttling.enabled true)`,
      );
    }
    if (res.status >= 500) {
      return failureError(
        failure,
        'GRAPH_UNAVAILABLE',
        `Microsoft Graph failed (${words})`,
        `Try again ${retryAfterSec !== undefined ? `in ${retryAfterSec} s` : 'later'}`,
      );
    }
    return failureError(
      failure,
      'GRAPH_REFUSED',
      `Microsoft Graph refused the message (${words})`,
      "See Graph's reply; `sysemail diagnose --error` explains known ones",
    );
  }

  private async graphMessage(m: OutgoingMessage, inline: readonly OutgoingAttachment[]): Promise<Record<string, unknown>> {
    const attachments = [];
    for (const a of inline) {
      const bytes = a.path ? await fs.promises.readFile(a.path) : Buffer.from(a.content ?? '');
      attachments.push({
        '@odata.type': '#microsoft.graph.fileAttachment',
        name: a.filename,
        contentType: a.contentType ?? 'application/octet-stream',
        contentBytes: bytes.toString('base64'),
      });
    }
    const html = m.html !== undefined;
    const headers = Object.entries(m.headers ?? {})
      .filter(([name]) => /^x-/i.test(name))
      .map(([name, value]) => ({ name, value }));
    return {
      subject: m.subject,
      body: { contentType: html ? 'HTML' : 'Text', content: html ? m.html : (m.text ?? '') },
      from: recipients([m.from])[0],
      toRecipients: recipients(m.to),
      ccRecipients: recipients(m.cc),
      bccRecipients: recipients(m.bcc),
      ...(m.replyTo ? { replyTo: recipients([m.replyTo]) } : {}),
      ...(headers.length > 0 ? { internetMessageHeaders: headers } : {}),
      ...(attachments.length > 0 ? { attachments } : {}),
    };
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const cfg = this.config();
    const large = message.attachments.filter((a) => a.size > GRAPH_INLINE_ATTACHMENT_MAX);
    const inlineTotal = message.attachments.filter((a) => a.size <= GRAPH_INLINE_ATTACHMENT_MAX).reduce((n, a) => n + a.size, 0);
    // each request has its own bound; this one holds for the whole send, however many requests it takes
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.deadlineMs);
    let response: string;
    try {
      if (large.length === 0 && inlineTotal <= GRAPH_INLINE_ATTACHMENT_MAX) {
        const res = await this.call(
          cfg,
          'send',
          'POST',
          this.userUrl(cfg, '/sendMail'),
          { message: await this.graphMessage(message, message.attachments), saveToSentItems: true },
          { deadline: deadline.signal, final: true },
        );
        response = `${res.status} ${res.statusText || 'Accepted'}`;
      } else {
        response = await this.sendThroughDraft(cfg, message, deadline.signal);
      }
    } catch (err) {
      if (isSysemailError(err)) throw err;
      if (deadline.signal.aborted) throw this.deadlineError(err);
      const code = (err as NodeJS.ErrnoException).code;
      const failure: FailureInfo = { provider: 'exchange', phase: 'data', code: code ?? 'EIO', response: (err as Error).message };
      // a file that went away has an errno code; anything else broke while Graph's answer was read
      if (code && /^E[A-Z]+$/.test(code) && code !== 'ECONNRESET' && code !== 'EPIPE' && code !== 'ETIMEDOUT') {
        throw failureError(
          failure,
          'ATTACHMENT_UNREADABLE',
          `an attachment could not be read (${failure.response})`,
          'Check that the attachment files still exist',
          err,
        );
      }
      throw failureError(
        { ...failure, code: code ?? 'ECONNECTION' },
        'GRAPH_UNREACHABLE',
        `the answer of Microsoft Graph was cut off (${failure.response})`,
        'Check the network path to Microsoft Graph; the message will be tried again',
        err,
      );
    } finally {
      clearTimeout(timer);
    }
    return {
      provider: 'exchange',
      ...(message.messageId ? { messageId: message.messageId } : {}),
      response,
      accepted: [...message.to, ...message.cc, ...message.bcc].map((s) => parseMailbox(s)?.address ?? s),
      rejected: [],
    };
  }

  /** Draft, small attachments inline, large ones through upload sessions, then send. */
  private async sendThroughDraft(cfg: ExchangeConfig, message: OutgoingMessage, deadline: AbortSignal): Promise<string> {
    const small = message.attachments.filter((a) => a.size <= GRAPH_INLINE_ATTACHMENT_MAX);
    const large = message.attachments.filter((a) => a.size > GRAPH_INLINE_ATTACHMENT_MAX);
    const draftRes = await this.call(cfg, 'send', 'POST', this.userUrl(cfg, '/messages'), await this.graphMessage(message, []), {
      deadline,
    });
    const draft = (await draftRes.json()) as { id?: string };
    if (!draft.id)
      throw failureError(
        { provider: 'exchange', phase: 'send', httpStatus: draftRes.status, response: 'Graph created a draft without an id' },
        'GRAPH_REFUSED',
        'Microsoft Graph returned a draft without an id',
        'Try again later',
      );
    const draftUrl = this.userUrl(cfg, `/messages/${encodeURIComponent(draft.id)}`);
    for (const a of small) {
      const [inline] = (await this.graphMessage({ ...message, attachments: [a] }, [a])).attachments as unknown[];
      await this.call(cfg, 'send', 'POST', `${draftUrl}/attachments`, inline, { deadline });
    }
    for (const a of large) await this.upload(cfg, draftUrl, a, deadline);
    const sent = await this.call(cfg, 'send', 'POST', `${draftUrl}/send`, undefined, { deadline, final: true });
    return `${sent.status} ${sent.statusText || 'Accepted'}`;
  }

  private async upload(cfg: ExchangeConfig, draftUrl: string, a: OutgoingAttachment, deadline: AbortSignal): Promise<void> {
    const session = await this.call(
      cfg,
      'send',
      'POST',
      `${draftUrl}/attachments/createUploadSession`,
      {
        AttachmentItem: {
          attachmentType: 'file',
          name: a.filename,
          size: a.size,
          contentType: a.contentType ?? 'application/octet-stream',
        },
      },
      { deadline },
    );
    const { uploadUrl } = (await session.json()) as { uploadUrl?: string };
    if (!uploadUrl)
      throw failureError(
        { provider: 'exchange', phase: 'send', httpStatus: session.status, response: 'no uploadUrl in the upload session' },
        'GRAPH_REFUSED',
        'Microsoft Graph opened an upload session without an upload URL',
        'Try again later',
      );
    const source = a.path ? await fs.promises.open(a.path, 'r') : undefined;
    const content = a.path ? undefined : Buffer.from(a.content ?? '');
    try {
      for (let start = 0; start < a.size; start += GRAPH_UPLOAD_SLICE) {
        const length = Math.min(GRAPH_UPLOAD_SLICE, a.size - start);
        let slice: Buffer;
        if (source) {
          slice = Buffer.alloc(length);
          const { bytesRead } = await source.read(slice, 0, length, start);
          if (bytesRead !== length) throw Object.assign(new Error(`${a.path} changed size while it was uploaded`), { code: 'ESTREAM' });
        } else slice = content!.subarray(start, start + length);
        // the upload URL carries its own authorisation; a bearer token there is refused
        await this.call(cfg, 'send', 'PUT', uploadUrl, undefined, {
          auth: false,
          raw: slice,
          deadline,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `bytes ${start}-${start + length - 1}/${a.size}` },
        });
      }
    } finally {
      await source?.close();
    }
  }

  /** token → mailbox → send, each reported as it ends. */
  async test(opts: ConnectionTestOptions): Promise<{ ok: boolean; phases: PhaseResult[]; failure?: FailureInfo; error?: SysemailError }> {
    const { phases, emit } = phaseRecorder(opts.onPhase);
    const failed = (phase: TestPhase, err: unknown) => {
      if (!isSysemailError(err)) throw err;
      emit(phase, false, err.message);
      return { ok: false, phases, failure: err.data as FailureInfo | undefined, error: err };
    };
    let cfg: ExchangeConfig;
    try {
      cfg = this.config();
      const token = await this.accessToken(cfg);
      const roles = tokenRoles(token.accessToken);
      emit(
        'token',
        true,
        `application token from ${safeHost(cfg.tokenUrl)} for client ${cfg.clientId}, valid ${Math.round((token.expiresAt - Date.now()) / 60_000)} min`,
        roles ? { roles } : undefined,
      );
    } catch (err) {
      return failed('token', err);
    }
    const q = opts.quitAfter;
    if (q === 'connect' || q === 'tls' || q === 'ehlo') return { ok: true, phases };
    try {
      const deadline = AbortSignal.timeout(this.deadlineMs);
      const res = await this.call(cfg, 'mailbox', 'GET', this.userUrl(cfg, '?$select=displayName,mail,userPrincipalName'), undefined, {
        deadline,
      });
      const user = (await res.json().catch((err: unknown) => {
        if (deadline.aborted) throw this.deadlineError(err);
        const failure: FailureInfo = {
          provider: 'exchange',
          phase: 'mailbox',
          code: networkCodeOf(err),
          response: describeNetworkError(err),
        };
        throw failureError(
          failure,
          'GRAPH_UNREACHABLE',
          `Microsoft Graph broke off its reply about ${cfg.mailbox} (${failure.response})`,
          'Try again later',
          err,
        );
      })) as { displayName?: string; mail?: string; userPrincipalName?: string };
      emit('mailbox', true, `${user.displayName ?? ''} <${user.mail ?? user.userPrincipalName ?? cfg.mailbox}>`.trim());
    } catch (err) {
      // Mail.Send alone may not read user profiles: 403 here says nothing about sending
      if (isSysemailError(err) && (err.data as FailureInfo | undefined)?.httpStatus === 403) {
        const f = err.data as FailureInfo;
        emit('mailbox', true, `not checked: the application may not read user profiles (User.Read.All); sending will tell`, {
          httpStatus: 403,
          ...(f.graphCode ? { graphCode: f.graphCode } : {}),
        });
      } else return failed('mailbox', err);
    }
    if (q) return { ok: true, phases };
    try {
      const to = opts.to ?? cfg.mailbox;
      const when = new Date().toISOString();
      const result = await this.send({
        from: opts.from,
        to: [to],
        cc: [],
        bcc: [],
        subject: `sysemail test message ${when}`,
        text: `This message was sent by \`sysemail test-email\` at ${when} through Microsoft Graph.\n`,
        attachments: [],
      });
      emit('send', true, result.response ?? 'accepted');
    } catch (err) {
      return failed('send', err);
    }
    return { ok: true, phases };
  }

  async close(): Promise<void> {}
}
