/**
 * The `send` use case: work out the sender, check everything (addresses, header values, attachments,
 * size, provider settings and secrets) before anything is stored or sent, then either send now (one
 * message row, one attempt row) or queue it for the distributor with its attachments spooled.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { DkimSigningKey } from '../core/dkim.js';
import { SysemailError, isSysemailError } from '../core/errors.js';
import type { ProviderName } from '../core/failure.js';
import { messageIdDomain } from '../core/address.js';
import { composeMessage, recipientsOf, type RawAttachment } from '../core/message.js';
import { SYSEMAIL_ID_HEADER, sysemailIdValue } from '../core/outgoing.js';
import { OUTCOME_UNKNOWN_REASON } from '../core/status.js';
import { suppressionsAfter } from '../core/suppression.js';
import type { Settings } from '../core/precedence.js';
import type { TemplateData } from '../core/template.js';
import type { ProviderOptions, SecretAccess } from '../providers/common.js';
import type { Provider, SendResult } from '../providers/types.js';
import { priorityOfRank, type Priority } from '../core/delivery.js';
import type { MessageRow, NewMessage, Store } from '../store/ports.js';
import { deliveryFields, parseDelivery, storeQueued, type DeliveryRequest } from './delivery.js';
import { senderOf } from '../store/rules.js';
import { spoolAttachments, spoolDirOf } from './spool.js';
import { assertNotSuppressed } from './suppress.js';

/** How long a message sent right away stays claimed; the distributor leaves it alone meanwhile. */
export const DIRECT_SEND_LEASE_MS = 15 * 60_000;
/** A message sent right away is stored in sending with its first attempt counted: its writes carry that count. */
const DIRECT_SEND_ATTEMPT = 1;

export interface SendRequest {
  to: readonly string[];
  cc?: readonly string[];
  bcc?: readonly string[];
  from?: string;
  replyTo?: string;
  /** Extra header fields already checked (a notification's List-Unsubscribe). */
  headers?: Record<string, string>;
  /** One-click unsubscribe (RFC 8058): an https URL taking a POST, and/or a mail address; over the template's. */
  unsubscribeUrl?: string;
  unsubscribeMailto?: string;
  subject?: string;
  text?: string;
  html?: string;
  /** Files to attach, as the user named them. */
  attachments?: readonly string[];
  /** Send as this user (their sender address). */
  userId?: string;
  /** Render this template (with `templateData`) for the subject and bodies the flags did not give. */
  templateId?: string;
  templateData?: TemplateData;
  org?: string;
  /** Recorded with the message only (e.g. a notification rendered elsewhere); nothing is rendered. */
  meta?: { templateId?: string; org?: string };
  /** Provider to send through; null = the batch provider at send time (queued messages only). */
  provider: ProviderName | null;
  /** Store for the distributor instead of sending now. */
  queue?: boolean;
  /** Due time, expiry, priority and idempotency key of a queued message. */
  delivery?: DeliveryRequest;
}

export interface SendDeps {
  store: Store;
  settings: Settings;
  secrets: SecretAccess;
  clock?: Clock;
  createProvider?: (name: ProviderName, options: ProviderOptions) => Promise<Provider>;
}

export interface SendOutcome {
  id: number;
  status: 'sent' | 'queued';
  provider: ProviderName | null;
  messageId?: string;
  file?: string;
  response?: string;
  /** Not errors: e.g. a single-label recipient domain, a recipient the server refused among others. */
  warnings: string[];
  /** The idempotency key was already used by this same message: `id` is that first message's. */
  duplicate: boolean;
  /** A queued message's due time, expiry and priority as stored. */
  dueAt?: number;
  expiresAt?: number;
  priority?: Priority;
}

/**
 * From: --from > the user's sender (sender_email, else email) > the template's sender > user config
 * `from` > params sender.default (the last two arrive merged in settings 'sender.default').
 */
export async function resolveSender(
  store: Store,
  settings: Settings,
  input: { from?: string; userId?: string; templateSender?: string },
): Promise<string> {
  if (input.from !== undefined) return input.from;
  if (input.userId !== undefined) {
    const { requireUser } = await import('./users.js');
    return senderOf(await requireUser(store, input.userId));
  }
  if (input.templateSender) return input.templateSender;
  const fallback = settings.string('sender.default');
  if (fallback) return fallback;
  throw new SysemailError('config', 'SENDER_MISSING', 'no sender address: --from was not given and no default sender is set', {
    fix: 'Give --from ADDR, put "from" in your .emailrc.json, or set one for everybody: `sysemail params set sender.default noreply@example.com`',
  });
}

/** The provider a user sends through (`users set ID --provider P`); null when they have none. 65 for an unknown user. */
export async function providerOfUser(store: Store, userId: string): Promise<ProviderName | null> {
  const { requireUser } = await import('./users.js');
  return (await requireUser(store, userId)).provider;
}

/** Each named attachment must be a readable file: 66 otherwise, before anything else happens. */
export function measureAttachments(paths: readonly string[]): RawAttachment[] {
  return paths.map((p) => {
    const bad = (why: string, cause?: unknown) =>
      new SysemailError('noinput', 'ATTACHMENT_UNREADABLE', `attachment ${p} cannot be read (${why})`, {
        fix: 'Check the path and its permissions',
        cause,
      });
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
      fs.accessSync(p, fs.constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw bad(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(err)), err);
    }
    if (!st.isFile()) throw bad('not a regular file');
    return { path: path.resolve(p), filename: path.basename(p), size: st.size };
  });
}

function newMessageId(from: string): string {
  return `<${randomUUID()}@${messageIdDomain(from)}>`;
}

function describeProblems(errors: ReturnType<typeof composeMessage>['errors']): SysemailError {
  const [first, ...rest] = errors;
  const more = rest.length > 0 ? `; also ${rest.map((e) => e.message).join('; ')}` : '';
  return new SysemailError('data', first.code, first.message + more, { fix: first.fix, data: { problems: errors } });
}

export async function sendMessage(req: SendRequest, deps: SendDeps): Promise<SendOutcome> {
  const clock = deps.clock ?? systemClock;
  const { store, settings } = deps;
  if (!req.queue && req.delivery?.idempotencyKey !== undefined) {
    throw new SysemailError(
      'usage',
      'IDEMPOTENCY_NEEDS_QUEUE',
      '--idempotency-key applies to a queued message, and this one is sent at once',
      {
        fix: 'Add --queue (the distributor sends it, once per key)',
      },
    );
  }
  // due time and expiry are checked before anything else, against the moment the command runs
  const requested = parseDelivery(req.delivery ?? {}, clock.now());

  let subject = req.subject;
  let text = req.text;
  let html = req.html;
  let templateSender: string | undefined;
  let listHeaders: Record<string, string> | undefined = req.headers;
  let templatePriority: Priority | undefined;
  if (req.templateId !== undefined) {
    const { renderTemplateForSend } = await import('./templates.js');
    const t = await renderTemplateForSend({ store, templateId: req.templateId, org: req.org, data: req.templateData ?? {} });
    subject ??= t.subject;
    if (text === undefined && html === undefined) {
      text = t.text;
      html = t.html;
    }
    templateSender = t.from;
    listHeaders = t.headers;
    templatePriority = t.priority;
  }
  if (req.unsubscribeUrl !== undefined || req.unsubscribeMailto !== undefined) {
    const { checkUnsubscribe, unsubscribeHeaders } = await import('../core/unsubscribe.js');
    const given = { url: req.unsubscribeUrl, mailto: req.unsubscribeMailto };
    checkUnsubscribe(given, { url: '--unsubscribe-url', mailto: '--unsubscribe-mailto' });
    listHeaders = unsubscribeHeaders(given);
  }

  const attachments = measureAttachments(req.attachments ?? []);
  const from = await resolveSender(store, settings, { from: req.from, userId: req.userId, templateSender });
  const composed = composeMessage(
    { from, to: req.to, cc: req.cc, bcc: req.bcc, replyTo: req.replyTo, subject, text, html, attachments },
    { maxMessageMb: settings.number('limits.maxMessageMb') },
  );
  if (!composed.value) throw describeProblems(composed.errors);
  const { message, sizeBytes } = composed.value;
  const warnings = composed.value.warnings.map((w) => w.message);
  await assertNotSuppressed(store, recipientsOf(message), clock.now());
  message.messageId = newMessageId(message.from);
  if (listHeaders && Object.keys(listHeaders).length > 0) message.headers = { ...(message.headers ?? {}), ...listHeaders };
  const { attachments: _outgoing, ...fields } = message;
  const base = {
    ...fields,
    sizeBytes,
    ...(req.userId !== undefined ? { userId: req.userId } : {}),
    ...((req.templateId ?? req.meta?.templateId) !== undefined ? { templateId: req.templateId ?? req.meta?.templateId } : {}),
    ...((req.org ?? req.meta?.org) !== undefined ? { org: req.org ?? req.meta?.org } : {}),
  };

  if (req.queue) {
    const d = { ...requested, priority: requested.priority ?? templatePriority };
    const { dir, stored } = spoolAttachments(spoolDirOf(deps.settings), attachments);
    try {
      const content = { ...base, status: 'pending' as const, provider: req.provider, attachments: stored };
      const m: NewMessage = { ...content, ...deliveryFields(d, content) };
      const queuedAt = clock.now();
      const { id, duplicate } = await storeQueued(store, settings, m, queuedAt);
      if (duplicate) {
        // the first message keeps its own copies, and is what the caller is told about
        fs.rmSync(dir, { recursive: true, force: true });
        const first = await store.messages.get(id);
        if (first) return duplicateOutcome(first, req.provider, warnings);
      }
      return {
        id,
        status: 'queued',
        provider: req.provider,
        messageId: message.messageId,
        warnings,
        duplicate,
        dueAt: d.dueAt ?? queuedAt,
        ...(d.expiresAt !== undefined ? { expiresAt: d.expiresAt } : {}),
        priority: d.priority ?? 'normal',
      };
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  if (!req.provider) throw new SysemailError('internal', 'NO_PROVIDER', 'internal: a message sent now needs a provider');
  const providerName = req.provider;
  const create = deps.createProvider ?? (await import('../providers/index.js')).createProvider;
  // the signing keys are read before anything is recorded: a key that cannot be read is 78, never an unsigned message
  const dkim = await signingKeysFor(providerName, store, deps.secrets);
  const provider = await create(providerName, { settings, secrets: deps.secrets, ...(dkim.length > 0 ? { dkim } : {}) });
  try {
    // settings and secrets first: a message is recorded only once it is really about to go out
    await provider.prepare?.();
    const lease = `send:${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    const startedAt = clock.now();
    // the lease is on the database's clock, as distributors compare it
    const id = await store.messages.insert(
      {
        ...base,
        status: 'sending',
        provider: providerName,
        attachments: attachments.map((a) => ({ filename: a.filename ?? path.basename(a.path), path: a.path, size: a.size })),
        leaseOwner: lease,
        leaseExpiresAt: (await store.messages.dbNow()) + DIRECT_SEND_LEASE_MS,
      },
      startedAt,
    );
    message.headers = { ...message.headers, [SYSEMAIL_ID_HEADER]: sysemailIdValue(id, store.id) };
    const softExpiryMs = settings.number('suppression.softExpiryDays') * 86_400_000;
    const recipients = recipientsOf(message);
    let result: SendResult;
    try {
      result = await provider.send(message);
    } catch (err) {
      const holdUnknown = settings.string('queue.outcomeUnknown') !== 'retry';
      const attempt = { id, lease, provider: providerName, startedAt, endedAt: clock.now(), recipients, softExpiryMs, holdUnknown };
      await recordFailure(store, attempt, err);
      throw withMessageId(err, id);
    }
    const endedAt = clock.now();
    const suppress = suppressionsAfter({ refused: result.refused, recipients }, { messageId: id, now: endedAt, softExpiryMs });
    // the distributor's own transition: accepted while this send still holds the lease
    await store.messages.applyWrites([
      {
        op: 'sent',
        id,
        owner: lease,
        attempt: DIRECT_SEND_ATTEMPT,
        outcome: {
          now: endedAt,
          startedAt,
          provider: providerName,
          messageId: result.messageId ?? message.messageId,
          response: result.response ?? result.file,
        },
        ...(suppress.length > 0 ? { suppress } : {}),
      },
    ]);
    if (result.rejected.length > 0) warnings.push(`the server refused ${result.rejected.join(', ')}; the others were accepted`);
    return {
      id,
      status: 'sent',
      provider: providerName,
      messageId: result.messageId ?? message.messageId,
      ...(result.file ? { file: result.file } : {}),
      ...(result.response ? { response: result.response } : {}),
      warnings,
      duplicate: false,
    };
  } finally {
    await provider.close();
  }
}

/**
 * The DKIM keys a provider signs with: every registered key for SMTP and eml; none for Exchange, where
 * Microsoft builds the message and signs it with the keys configured for the domain in Microsoft 365.
 */
export async function signingKeysFor(provider: ProviderName, store: Store, secrets: SecretAccess): Promise<DkimSigningKey[]> {
  if (provider === 'exchange') return [];
  const { loadSigningKeys } = await import('./dkim.js');
  return loadSigningKeys(store, { dbId: secrets.dbId, env: secrets.env, ...(secrets.keychain ? { keychain: secrets.keychain } : {}) });
}

function duplicateOutcome(first: MessageRow, provider: ProviderName | null, warnings: string[]): SendOutcome {
  return {
    id: first.id,
    status: 'queued',
    provider: first.provider ?? provider,
    ...(first.messageId ? { messageId: first.messageId } : {}),
    warnings,
    duplicate: true,
    dueAt: first.dueAt,
    ...(first.expiresAt !== null ? { expiresAt: first.expiresAt } : {}),
    priority: priorityOfRank(first.priority),
  };
}

interface DirectAttempt {
  id: number;
  lease: string;
  provider: ProviderName;
  startedAt: number;
  endedAt: number;
  recipients: string[];
  softExpiryMs: number;
  /** queue.outcomeUnknown is hold: a message that may have been delivered is held for the operator. */
  holdUnknown: boolean;
}

/** The failed attempt, and the recipients the server refused for good on the suppression list with it. */
async function recordFailure(store: Store, a: DirectAttempt, err: unknown): Promise<void> {
  const { failureOf } = await import('./distributor/index.js');
  const { diagnose } = await import('../core/diagnosis/index.js');
  const failure = failureOf(err, a.provider);
  const diagnosis = diagnose(failure)[0]?.id ?? null;
  const outcome = { now: a.endedAt, startedAt: a.startedAt, provider: a.provider, failure, diagnosis };
  // it may have been delivered: held, so that `queue release` (the error's fix) sends it again
  if (failure.outcomeUnknown && a.holdUnknown) {
    await store.messages.applyWrites([
      { op: 'held', id: a.id, owner: a.lease, attempt: DIRECT_SEND_ATTEMPT, outcome: { ...outcome, reason: OUTCOME_UNKNOWN_REASON } },
    ]);
    return;
  }
  const { classifyAttempt } = await import('./distributor/index.js');
  // a refusal that is only temporary (a deferral) says nothing final about an address
  const final = classifyAttempt(failure, err).kind !== 'tempfail';
  const suppress = final
    ? suppressionsAfter({ failure, recipients: a.recipients }, { messageId: a.id, now: a.endedAt, softExpiryMs: a.softExpiryMs })
    : [];
  await store.messages.applyWrites([
    {
      op: 'failed',
      id: a.id,
      owner: a.lease,
      attempt: DIRECT_SEND_ATTEMPT,
      outcome,
      ...(suppress.length > 0 ? { suppress } : {}),
    },
  ]);
}

/** The same error, now naming the history entry that recorded it. */
function withMessageId(err: unknown, id: number): unknown {
  if (!isSysemailError(err)) return err;
  return new SysemailError(err.kind, err.code, err.message, {
    fix: err.fix ? `${err.fix} (recorded as message ${id}: \`sysemail history show ${id}\`)` : `See \`sysemail history show ${id}\``,
    cause: err.cause ?? err,
    data: { ...(err.data ?? {}), id },
  });
}
