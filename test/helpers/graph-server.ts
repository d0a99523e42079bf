/**
 * A local HTTP server speaking the parts of the Microsoft identity platform and Microsoft Graph that
 * sysemail uses, on 127.0.0.1 and an ephemeral port.
 *
 *   const g = await startGraphServer({ clientId: 'app', clientSecret: 's3cret' });
 *   settings: exchange.tokenUrl = g.tokenUrl, exchange.graphUrl = g.graphUrl (also smtp.oauth.tokenUrl)
 *   g.requests        every request: { method, path, headers, body (text, uploads as '<N bytes>') }
 *   g.sent            JSON bodies accepted by sendMail / drafts sent, with their uploaded attachment bytes
 *   g.script(...)     scripted replies, consumed in order, per endpoint
 *   await g.close();
 *
 * Options:
 *   clientId, clientSecret   the client-credentials pair the token endpoint accepts (else 401 invalid_client)
 *   accessToken              the token it hands out (default 'test-access-token'); Graph calls with any
 *                            other bearer get 401 InvalidAuthenticationToken
 *   mailboxes                mailboxes that exist (default ['sender@example.com']); others get 404
 *                            ErrorNonExistentMailbox, as Graph answers
 *   expiresIn                token lifetime in seconds (default 3600)
 *
 * Scripts: g.script('sendMail', { status: 429, code: 'ApplicationThrottled', message: '...', retryAfter: '7' })
 * Endpoints: 'token', 'sendMail', 'user' (GET /users/{id}), 'draft', 'send' (POST /messages/{id}/send),
 * 'upload'. Each scripted reply answers one request with Graph's error shape {"error":{"code","message"}},
 * or with `drop` closes or resets the connection once the request has been read.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedReply {
  status: number;
  code?: string;
  message?: string;
  retryAfter?: string;
  /** Raw body instead of Graph's error JSON. */
  body?: string;
  /** Read the whole request, then close ('close') or reset ('reset') the connection without an answer. */
  drop?: 'close' | 'reset';
}

export type GraphEndpoint = 'token' | 'sendMail' | 'user' | 'draft' | 'send' | 'upload';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface SentMessage {
  mailbox: string;
  message: Record<string, unknown>;
  /** Uploaded attachments (upload sessions) by name. */
  uploads: Record<string, Buffer>;
}

export interface GraphServerOptions {
  clientId?: string;
  clientSecret?: string;
  accessToken?: string;
  mailboxes?: string[];
  expiresIn?: number;
}

export interface TestGraphServer {
  url: string;
  tokenUrl: string;
  graphUrl: string;
  requests: RecordedRequest[];
  sent: SentMessage[];
  script(endpoint: GraphEndpoint, ...replies: ScriptedReply[]): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startGraphServer(options: GraphServerOptions = {}): Promise<TestGraphServer> {
  const clientId = options.clientId ?? 'test-client';
  const clientSecret = options.clientSecret ?? 'test-secret';
  const accessToken = options.accessToken ?? 'test-access-token';
  const mailboxes = new Set((options.mailboxes ?? ['sender@example.com']).map((m) => m.toLowerCase()));
  const scripts = new Map<GraphEndpoint, ScriptedReply[]>();
  const requests: RecordedRequest[] = [];
  const sent: SentMessage[] = [];
  const drafts = new Map<string, { mailbox: string; message: Record<string, unknown>; uploads: Record<string, Buffer> }>();
  const sessions = new Map<string, { draft: string; name: string; size: number; chunks: Buffer[] }>();
  let nextId = 1;
  let baseUrl = '';

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const graphError = (res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    json(res, status, { error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': 'test-request' } } }, headers);
  const scripted = (endpoint: GraphEndpoint, res: http.ServerResponse): boolean => {
    const r = scripts.get(endpoint)?.shift();
    if (!r) return false;
    if (r.drop) {
      if (r.drop === 'reset') res.socket?.resetAndDestroy();
      else res.socket?.destroy();
      return true;
    }
    const headers: Record<string, string> = r.retryAfter ? { 'retry-after': r.retryAfter } : {};
    if (r.body !== undefined) {
      res.writeHead(r.status, headers);
      res.end(r.body);
    } else if (endpoint === 'token') {
      json(
        res,
        r.status,
        { error: r.code ?? 'invalid_client', error_description: r.message ?? 'AADSTS7000215: Invalid client secret provided.' },
        headers,
      );
    } else {
      graphError(res, r.status, r.code ?? 'ErrorInternalServerError', r.message ?? 'scripted failure', headers);
    }
    return true;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://x');
      const isUpload = url.pathname.startsWith('/upload/');
      requests.push({
        method: req.method ?? '',
        path: url.pathname + url.search,
        headers: req.headers,
        body: isUpload ? `<${raw.length} bytes>` : raw.toString('utf8'),
      });
      const body = raw.toString('utf8');

      if (req.method === 'POST' && url.pathname === '/token') {
        if (scripted('token', res)) return;
        const form = new URLSearchParams(body);
        if (
          form.get('grant_type') !== 'client_credentials' ||
          form.get('client_id') !== clientId ||
          form.get('client_secret') !== clientSecret
        ) {
          return json(res, 401, {
            error: 'invalid_client',
            error_description:
              'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.',
          });
        }
        return json(res, 200, {
          token_type: 'Bearer',
          expires_in: options.expiresIn ?? 3600,
          access_token: accessToken,
          scope: form.get('scope'),
        });
      }

      if (isUpload) {
        if (scripted('upload', res)) return;
        const s = sessions.get(url.pathname.slice('/upload/'.length));
        if (!s) return graphError(res, 404, 'ErrorItemNotFound', 'upload session not found');
        if (req.headers.authorization)
          return graphError(res, 401, 'InvalidAuthenticationToken', 'upload URLs take no Authorization header');
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
        if (!range || Number(range[2]) - Number(range[1]) + 1 !== raw.length)
          return graphError(res, 400, 'InvalidRequest', 'bad Content-Range');
        s.chunks.push(raw);
        const end = Number(range[2]) + 1;
        if (end >= s.size) {
          drafts.get(s.draft)!.uploads[s.name] = Buffer.concat(s.chunks);
          return json(res, 201, { id: `att-${s.name}` });
        }
        return json(res, 200, { nextExpectedRanges: [`${end}-`] });
      }

      const auth = req.headers.authorization;
      if (auth !== `Bearer ${accessToken}`) {
        return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
      }
      const m = /^\/v1\.0\/users\/([^/]+)(\/.*)?$/.exec(url.pathname);
      if (!m) return graphError(res, 400, 'BadRequest', `Resource not found for the segment '${url.pathname}'.`);
      const mailbox = decodeURIComponent(m[1]);
      const rest = m[2] ?? '';
      const exists = mailboxes.has(mailbox.toLowerCase());
      const noMailbox = () => graphError(res, 404, 'ErrorNonExistentMailbox', 'The SMTP address has no mailbox associated with it.');

      if (req.method === 'GET' && rest === '') {
        if (scripted('user', res)) return;
        if (!exists)
          return graphError(
            res,
            404,
            'Request_ResourceNotFound',
            `Resource '${mailbox}' does not exist or one of its queried reference-property objects are not present.`,
          );
        return json(res, 200, { displayName: 'Test Sender', mail: mailbox, userPrincipalName: mailbox });
      }
      if (req.method === 'POST' && rest === '/sendMail') {
        if (scripted('sendMail', res)) return;
        if (!exists) return noMailbox();
        const parsed = JSON.parse(body) as { message: Record<string, unknown> };
        sent.push({ mailbox, message: parsed.message, uploads: {} });
        res.writeHead(202);
        return res.end();
      }
      if (req.method === 'POST' && rest === '/messages') {
        if (scripted('draft', res)) return;
        if (!exists) return noMailbox();
        const id = `draft-${nextId++}`;
        drafts.set(id, { mailbox, message: JSON.parse(body) as Record<string, unknown>, uploads: {} });
        return json(res, 201, { id });
      }
      const d = /^\/messages\/([^/]+)(\/.*)$/.exec(rest);
      const draft = d ? drafts.get(decodeURIComponent(d[1])) : undefined;
      if (d && draft) {
        const id = decodeURIComponent(d[1]);
        if (req.method === 'POST' && d[2] === '/attachments') {
          const att = JSON.parse(body) as { name: string; contentBytes: string };
          const list = (draft.message.attachments as unknown[] | undefined) ?? [];
          draft.message.attachments = [...list, att];
          return json(res, 201, { id: `att-${att.name}` });
        }
        if (req.method === 'POST' && d[2] === '/attachments/createUploadSession') {
          const item = (JSON.parse(body) as { AttachmentItem: { name: string; size: number } }).AttachmentItem;
          const sid = `s${nextId++}`;
          sessions.set(sid, { draft: id, name: item.name, size: item.size, chunks: [] });
          return json(res, 201, {
            uploadUrl: `${baseUrl}/upload/${sid}`,
            expirationDateTime: new Date(Date.now() + 3600_000).toISOString(),
            nextExpectedRanges: ['0-'],
          });
        }
        if (req.method === 'POST' && d[2] === '/send') {
          if (scripted('send', res)) return;
          sent.push({ mailbox: draft.mailbox, message: draft.message, uploads: draft.uploads });
          drafts.delete(id);
          res.writeHead(202);
          return res.end();
        }
      }
      return graphError(res, 400, 'BadRequest', `unsupported ${req.method} ${url.pathname}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: baseUrl,
    tokenUrl: `${baseUrl}/token`,
    graphUrl: baseUrl,
    requests,
    sent,
    script(endpoint, ...replies) {
      scripts.set(endpoint, [...(scripts.get(endpoint) ?? []), ...replies]);
    },
    reset() {
      requests.length = 0;
      sent.length = 0;
      scripts.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
