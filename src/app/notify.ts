/**
 * Workflow notifications: a template rendered for one user and handed to the distributor batch
 * (or sent at once). The user's own choice wins: someone who opted out of notification email gets
 * nothing, and the caller is told so.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { parseSender } from '../core/address.js';
import { composeMessage, formatMailbox } from '../core/message.js';
import { SysemailError } from '../core/errors.js';
import type { ProviderName } from '../core/failure.js';
import type { Settings } from '../core/precedence.js';
import type { TemplateData } from '../core/template.js';
import type { Store } from '../store/ports.js';
import { renderTemplateForSend } from './templates.js';
import { suppressedAmong, suppressedLine, viewOf, type SuppressionView } from './suppress.js';
import { requireUser } from './users.js';
import { quoted } from '../core/text.js';

export interface NotificationMessage {
  from: string;
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  userId: string;
  templateId: string;
  /** The organisation whose template was asked for (null = system). */
  org: string | null;
  /** Provider asked for; null = batch.provider. */
  provider: ProviderName | null;
}

export interface DeliveredNotification {
  id: number;
  provider: ProviderName;
  messageId?: string;
  file?: string;
}

export interface NotifyDeps {
  store: Store;
  settings: Settings;
  clock?: Clock;
  /** Sends one message at once (the sending use case); needed only for `now`. */
  deliver?: (message: NotificationMessage) => Promise<DeliveredNotification>;
}

export interface NotifyRequest {
  templateId: string;
  userId: string;
  org?: string;
  data: TemplateData;
  /** Send at once instead of queueing for the distributor. */
  now?: boolean;
  provider?: ProviderName;
}

export type NotifyResult =
  | { skipped: true; reason: string; user: string; template: string; suppression?: SuppressionView }
  | {
      skipped: false;
      id: number;
      status: 'queued' | 'sent';
      provider: ProviderName | null;
      user: string;
      to: string;
      from: string;
      subject: string;
      template: { id: string; org: string | null };
      messageId?: string;
      file?: string;
    };

/**
 * Everything about the input (user, template, data) is checked first, so a script with a typo fails
 * even for a user who opted out; then an opted-out user is skipped before any sender is needed.
 */
export async function notify(deps: NotifyDeps, req: NotifyRequest): Promise<NotifyResult> {
  const clock = deps.clock ?? systemClock;
  const user = await requireUser(deps.store, req.userId);
  const rendered = await renderTemplateForSend({ store: deps.store, templateId: req.templateId, org: req.org, data: req.data });
  if (!user.notifyEmail) {
    return {
      skipped: true,
      reason: `user ${user.id} does not receive notification email (notify email: no)`,
      user: user.id,
      template: rendered.template.id,
    };
  }
  const suppressed = await suppressedAmong(deps.store, [user.email], clock.now());
  if (suppressed) {
    const suppression = viewOf(suppressed);
    return { skipped: true, reason: suppressedLine(suppression), user: user.id, template: rendered.template.id, suppression };
  }
  const from = rendered.from ?? deps.settings.string('sender.default');
  if (!from) {
    const where = rendered.template.org === null ? '' : ` --org ${rendered.template.org}`;
    throw new SysemailError('config', 'SENDER_MISSING', `template ${rendered.template.id} has no sender and sender.default is not set`, {
      fix: `Set one with \`sysemail params set sender.default ADDR\` or \`sysemail template add ${rendered.template.id}${where} --replace --sender ADDR ...\``,
    });
  }
  const sender = parseSender(from);
  if (!sender.value) {
    throw new SysemailError('config', 'SENDER_INVALID', `the sender ${quoted(from)} of template ${rendered.template.id} ${sender.error}`, {
      fix: `Correct it with \`sysemail template set ${rendered.template.id}${rendered.template.org === null ? '' : ` --org ${rendered.template.org}`} --sender ADDR\``,
    });
  }
  const composed = composeMessage(
    {
      from,
      to: [formatMailbox({ name: user.name ?? undefined, address: user.email })],
      subject: rendered.subject,
      text: rendered.text,
      html: rendered.html,
    },
    { maxMessageMb: deps.settings.number('limits.maxMessageMb') },
  );
  if (!composed.value) {
    const first = composed.errors[0];
    throw new SysemailError('data', first.code, composed.errors.map((e) => e.message).join('; '), {
      fix: first.fix,
      data: { problems: composed.errors },
    });
  }
  const out = composed.value.message;
  const message: NotificationMessage = {
    from: out.from,
    to: out.to,
    subject: out.subject,
    ...(out.text !== undefined ? { text: out.text } : {}),
    ...(out.html !== undefined ? { html: out.html } : {}),
    userId: user.id,
    templateId: rendered.template.id,
    org: req.org ? req.org : null,
    provider: req.provider ?? null,
  };
  const common = { skipped: false as const, user: user.id, to: user.email, from, subject: message.subject, template: rendered.template };
  if (req.now) {
    if (!deps.deliver)
      throw new SysemailError('internal', 'NOTIFY_NO_SENDER', 'sending at once is not available here', {
        fix: 'Queue the notification instead (leave out --now)',
      });
    const sent = await deps.deliver(message);
    return {
      ...common,
      id: sent.id,
      status: 'sent',
      provider: sent.provider,
      ...(sent.messageId ? { messageId: sent.messageId } : {}),
      ...(sent.file ? { file: sent.file } : {}),
    };
  }
  const id = await deps.store.messages.insert(
    {
      status: 'pending',
      provider: message.provider,
      from: message.from,
      to: message.to,
      cc: [],
      bcc: [],
      subject: message.subject,
      text: message.text,
      html: message.html,
      attachments: [],
      userId: message.userId,
      templateId: message.templateId,
      org: message.org ?? undefined,
      sizeBytes: composed.value.sizeBytes,
    },
    clock.now(),
  );
  return { ...common, id, status: 'queued', provider: message.provider };
}
