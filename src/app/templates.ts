/**
 * Use cases of `template`: system templates (no organisation) and organisation templates, where an
 * organisation's own template wins over the system one of the same id.
 */
import { formatMailbox, parseSender } from '../core/address.js';
import { parsePriority, type Priority } from '../core/delivery.js';
import { SysemailError } from '../core/errors.js';
import { checkParts, lookup, parseTemplate, placeholdersOf, renderParts, type PartIssue, type TemplateData } from '../core/template.js';
import type { Store } from '../store/ports.js';
import type { TemplateRow } from '../store/ports.js';
import { SYSTEM_ORG } from '../store/rules.js';
import { quoted, requireNoNul, requireOneLine } from '../core/text.js';
import { checkUnsubscribe, mailtoUri, unsubscribeHeaders, unsubscribeUrlProblem } from '../core/unsubscribe.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface TemplateView {
  id: string;
  /** null = system template. */
  org: string | null;
  scope: 'system' | 'organisation';
  subject: string;
  sender: string | null;
  description: string | null;
  /** The priority of the messages made from it unless the caller names one; null = normal. */
  priority: Priority | null;
  text: string | null;
  html: string | null;
  /** Bulk mail: `template verify` requires one-click unsubscribe. */
  bulk: boolean;
  unsubscribeUrl: string | null;
  unsubscribeMailto: string | null;
  createdAt: string;
  updatedAt: string;
}

export function templateView(t: TemplateRow): TemplateView {
  return {
    id: t.id,
    org: t.org === SYSTEM_ORG ? null : t.org,
    scope: t.org === SYSTEM_ORG ? 'system' : 'organisation',
    subject: t.subject,
    sender: t.sender,
    description: t.description,
    priority: t.priority,
    text: t.text,
    html: t.html,
    bulk: t.bulk,
    unsubscribeUrl: t.unsubscribeUrl,
    unsubscribeMailto: t.unsubscribeMailto,
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
  };
}

function scopeLabel(org: string): string {
  return org === SYSTEM_ORG ? 'system template' : `template of organisation ${org}`;
}

function orgFlag(org: string): string {
  return org === SYSTEM_ORG ? '' : ` --org ${org}`;
}

export function checkTemplateId(id: string): void {
  if (!ID.test(id)) {
    throw new SysemailError('data', 'TEMPLATE_ID_INVALID', `${quoted(id)} is not a usable template id`, {
      fix: 'Use letters, digits, dot, dash and underscore, starting with a letter or digit, e.g. approval-waiting',
    });
  }
}

/** The stored org of an --org value: undefined or '' means the system scope. */
export function orgOf(org: string | undefined): string {
  if (org === undefined || org === '') return SYSTEM_ORG;
  if (!ID.test(org)) {
    throw new SysemailError('data', 'ORG_INVALID', `${quoted(org)} is not a usable organisation id`, {
      fix: 'Use letters, digits, dot, dash and underscore, e.g. --org usmf',
    });
  }
  return org;
}

function describeIssues(issues: readonly PartIssue[]): string {
  return issues.map((i) => `${i.part}: ${i.message}`).join('; ');
}

export interface AddTemplateInput {
  id: string;
  org?: string;
  subject: string;
  text?: string;
  html?: string;
  sender?: string;
  description?: string;
  /** Bulk mail (newsletters, campaigns): needs one-click unsubscribe. */
  bulk?: boolean;
  /** https one-click unsubscribe URL; placeholders allowed (a per-recipient token). */
  unsubscribeUrl?: string;
  /** Unsubscribe mail address or mailto: URI; placeholders allowed. */
  unsubscribeMailto?: string;
  /** Default priority of its messages: high, normal or low. */
  priority?: string;
  /** Replace an existing template of the same id and scope. */
  replace?: boolean;
}

/** A template's sender as stored: one mailbox, the name quoted as the header needs it. */
function templateSender(value: string): string {
  const r = parseSender(value);
  if (!r.value) {
    throw new SysemailError('data', 'TEMPLATE_SENDER_INVALID', `--sender ${quoted(value)} ${r.error}`, {
      fix: 'Give --sender as one address, optionally with a name, e.g. --sender workflow@example.com or --sender "Workflow <workflow@example.com>"; nothing was saved',
    });
  }
  return formatMailbox(r.value);
}

/** Checks a whole template before it is stored: nothing is saved when any part is wrong. */
function checkFields(
  id: string,
  fields: {
    subject: string;
    text?: string | null;
    html?: string | null;
    sender?: string | null;
    description?: string | null;
    unsubscribeUrl?: string | null;
    unsubscribeMailto?: string | null;
  },
): void {
  checkUnsubscribe(
    { url: fields.unsubscribeUrl, mailto: fields.unsubscribeMailto },
    { url: '--unsubscribe-url', mailto: '--unsubscribe-mailto' },
  );
  // a subject with a line break is reported with the other template problems below
  if (fields.subject.includes('\0')) requireOneLine(fields.subject, 'the subject');
  if (fields.description != null) requireOneLine(fields.description, '--description');
  if (fields.sender != null) requireOneLine(fields.sender, '--sender');
  if (fields.text != null) requireNoNul(fields.text, 'the text body');
  if (fields.html != null) requireNoNul(fields.html, 'the HTML body');
  if (fields.text == null && fields.html == null) {
    throw new SysemailError('usage', 'TEMPLATE_NO_BODY', `template ${id} needs a body`, {
      fix: 'Give --body-file F (plain text) or --html-file F, optionally with --text-file F',
    });
  }
  if (fields.subject.trim() === '') {
    throw new SysemailError('data', 'TEMPLATE_SUBJECT_EMPTY', `template ${id} has an empty subject`, { fix: 'Give --subject "..."' });
  }
  const issues = checkParts(fields);
  if (issues.length > 0) {
    throw new SysemailError('data', 'TEMPLATE_SYNTAX', `template ${id} does not parse: ${describeIssues(issues)}`, {
      fix: 'Write placeholders as %name% and a literal percent sign as %%; nothing was saved',
      data: { problems: issues },
    });
  }
}

export async function addTemplate(
  store: Store,
  input: AddTemplateInput,
  now: number,
): Promise<{ template: TemplateView; replaced: boolean }> {
  checkTemplateId(input.id);
  const org = orgOf(input.org);
  const fields = {
    subject: input.subject,
    text: input.text ?? null,
    html: input.html ?? null,
    sender: input.sender == null ? null : templateSender(input.sender),
    description: input.description ?? null,
    bulk: !!input.bulk,
    unsubscribeUrl: input.unsubscribeUrl?.trim() || null,
    unsubscribeMailto: input.unsubscribeMailto?.trim() || null,
    priority: input.priority === undefined ? null : parsePriority(input.priority, '--priority'),
  };
  checkFields(input.id, fields);
  const existing = await store.templates.get(input.id, org);
  if (existing && !input.replace) {
    throw new SysemailError('data', 'TEMPLATE_EXISTS', `${scopeLabel(org)} ${input.id} already exists`, {
      fix: `Change it with \`sysemail template set ${input.id}${orgFlag(org)} ...\` or add --replace to overwrite it`,
    });
  }
  const row = await store.templates.put(input.id, org, fields, now);
  return { template: templateView(row), replaced: !!existing };
}

/** Changes to one template; undefined = keep, '' = clear (sender, description, text, html). */
export interface TemplateChanges {
  subject?: string;
  text?: string;
  html?: string;
  sender?: string;
  description?: string;
  bulk?: boolean;
  unsubscribeUrl?: string;
  unsubscribeMailto?: string;
  /** '' clears it (normal). */
  priority?: string;
}

/** Changes the given fields of an existing template of one scope; the result is checked whole before it is saved. */
export async function setTemplate(
  store: Store,
  id: string,
  org: string | undefined,
  changes: TemplateChanges,
  now: number,
): Promise<TemplateView> {
  const o = orgOf(org);
  const existing = await store.templates.get(id, o);
  if (!existing) {
    throw new SysemailError('data', 'TEMPLATE_NOT_FOUND', `there is no ${scopeLabel(o)} with the id ${id}`, {
      fix: `Add it with \`sysemail template add ${id}${orgFlag(o)} ...\`, or see the templates with \`sysemail template list\``,
    });
  }
  const pick = (v: string | undefined, keep: string | null) => (v === undefined ? keep : v === '' ? null : v);
  const fields = {
    subject: changes.subject ?? existing.subject,
    text: pick(changes.text, existing.text),
    html: pick(changes.html, existing.html),
    sender: changes.sender === undefined ? existing.sender : changes.sender.trim() === '' ? null : templateSender(changes.sender),
    description: pick(changes.description, existing.description),
    bulk: changes.bulk ?? existing.bulk,
    unsubscribeUrl: pick(changes.unsubscribeUrl?.trim(), existing.unsubscribeUrl),
    unsubscribeMailto: pick(changes.unsubscribeMailto?.trim(), existing.unsubscribeMailto),
    priority:
      changes.priority === undefined ? existing.priority : changes.priority === '' ? null : parsePriority(changes.priority, '--priority'),
  };
  checkFields(id, fields);
  return templateView(await store.templates.put(id, o, fields, now));
}

export async function listTemplates(store: Store, org?: string): Promise<TemplateView[]> {
  if (org === undefined) return (await store.templates.list()).map(templateView);
  const o = orgOf(org);
  if (o === SYSTEM_ORG) return (await store.templates.list(SYSTEM_ORG)).map(templateView);
  // what the organisation uses: its own templates and the system ones it does not override
  const own = await store.templates.list(o);
  const ids = new Set(own.map((t) => t.id));
  const inherited = (await store.templates.list(SYSTEM_ORG)).filter((t) => !ids.has(t.id));
  return [...own, ...inherited].sort((a, b) => a.id.localeCompare(b.id)).map(templateView);
}

function notFound(id: string, org: string): SysemailError {
  const where = org === SYSTEM_ORG ? 'no system template' : `no template for organisation ${org} and no system template`;
  return new SysemailError('data', 'TEMPLATE_NOT_FOUND', `${where} has the id ${id}`, {
    fix: `See the templates with \`sysemail template list${orgFlag(org)}\``,
  });
}

/** The template an organisation uses (its own, else the system one); 65 when neither exists. */
export async function resolveTemplate(store: Store, id: string, org?: string): Promise<TemplateRow> {
  const o = orgOf(org);
  const t = await store.templates.resolve(id, o);
  if (!t) throw notFound(id, o);
  return t;
}

export async function showTemplate(store: Store, id: string, org?: string): Promise<TemplateView & { placeholders: string[] }> {
  const t = await resolveTemplate(store, id, org);
  const names = new Set([...placeholdersOf(t.subject), ...placeholdersOf(t.text ?? ''), ...placeholdersOf(t.html ?? '')]);
  return { ...templateView(t), placeholders: [...names] };
}

export async function removeTemplate(store: Store, id: string, org?: string): Promise<{ id: string; org: string | null }> {
  const o = orgOf(org);
  if (!(await store.templates.remove(id, o))) {
    throw new SysemailError('data', 'TEMPLATE_NOT_FOUND', `there is no ${scopeLabel(o)} with the id ${id}`, {
      fix: `See the templates with \`sysemail template list${orgFlag(o)}\``,
    });
  }
  return { id, org: o === SYSTEM_ORG ? null : o };
}

export interface TemplateProblem {
  code:
    'SENDER_MISSING' | 'SENDER_INVALID' | 'NO_BODY' | 'SUBJECT_EMPTY' | 'UNSUBSCRIBE_MISSING' | 'UNSUBSCRIBE_INVALID' | PartIssue['code'];
  part?: 'sender' | 'subject' | 'text' | 'html' | 'unsubscribe';
  message: string;
  /** The command that mends it. */
  fix: string;
}

export interface TemplateCheck {
  id: string;
  org: string | null;
  ok: boolean;
  problems: TemplateProblem[];
}

/** What can stop a template from producing a deliverable email, without any data. */
export function checkTemplate(t: TemplateRow): TemplateCheck {
  const problems: TemplateProblem[] = [];
  const set = `sysemail template set ${t.id}${orgFlag(t.org)}`;
  if (t.sender === null || t.sender.trim() === '') {
    problems.push({ code: 'SENDER_MISSING', part: 'sender', message: 'the sender is not set', fix: `${set} --sender ADDR` });
  } else if (!parseSender(t.sender).value) {
    problems.push({
      code: 'SENDER_INVALID',
      part: 'sender',
      message: `the sender ${quoted(t.sender)} ${parseSender(t.sender).error}`,
      fix: `${set} --sender ADDR`,
    });
  }
  if (t.subject.trim() === '')
    problems.push({ code: 'SUBJECT_EMPTY', part: 'subject', message: 'the subject is empty', fix: `${set} --subject TEXT` });
  if (t.text === null && t.html === null) problems.push({ code: 'NO_BODY', message: 'there is no body', fix: `${set} --body-file F` });
  if (t.bulk && !t.unsubscribeUrl) {
    problems.push({
      code: 'UNSUBSCRIBE_MISSING',
      part: 'unsubscribe',
      message:
        'the template is marked bulk but has no one-click unsubscribe (List-Unsubscribe with https and List-Unsubscribe-Post), which Gmail, Yahoo and Outlook.com require of bulk senders',
      fix: `${set} --unsubscribe-url https://.../unsubscribe?u=%token% [--unsubscribe-mailto unsubscribe@...]`,
    });
  }
  const urlProblem = t.unsubscribeUrl ? unsubscribeUrlProblem(t.unsubscribeUrl) : undefined;
  if (urlProblem)
    problems.push({ code: 'UNSUBSCRIBE_INVALID', part: 'unsubscribe', message: urlProblem, fix: `${set} --unsubscribe-url https://...` });
  if (t.unsubscribeMailto && !mailtoUri(t.unsubscribeMailto)) {
    problems.push({
      code: 'UNSUBSCRIBE_INVALID',
      part: 'unsubscribe',
      message: `the unsubscribe address ${quoted(t.unsubscribeMailto)} is not an address or a mailto: URI`,
      fix: `${set} --unsubscribe-mailto unsubscribe@example.com`,
    });
  }
  for (const i of checkParts(t)) {
    const flag = i.part === 'subject' ? '--subject TEXT' : i.part === 'html' ? '--html-file F' : '--body-file F';
    problems.push({ code: i.code, part: i.part, message: i.message, fix: `${set} ${flag} (write a literal percent sign as %%)` });
  }
  return { id: t.id, org: t.org === SYSTEM_ORG ? null : t.org, ok: problems.length === 0, problems };
}

/** Checks one id (in every scope that has it) or every template. */
export async function verifyTemplates(store: Store, id?: string): Promise<{ ok: boolean; templates: TemplateCheck[] }> {
  let rows = await store.templates.list();
  if (id !== undefined) {
    rows = rows.filter((t) => t.id === id);
    if (rows.length === 0) throw notFound(id, SYSTEM_ORG);
  }
  const templates = rows.map(checkTemplate);
  return { ok: templates.every((t) => t.ok), templates };
}

export interface RenderForSendInput {
  store: Store;
  templateId: string;
  /** The organisation whose template wins over the system one; undefined = system. */
  org?: string;
  data: TemplateData;
}

export interface RenderedTemplate {
  /** The template's sender; undefined when it has none (the caller falls back to sender.default). */
  from?: string;
  subject: string;
  text?: string;
  html?: string;
  /** List-Unsubscribe and List-Unsubscribe-Post, rendered with the data; absent when the template has none. */
  headers?: Record<string, string>;
  /** Which template was used: org null = the system one. */
  template: { id: string; org: string | null };
  /** The priority the template gives its messages unless the caller names one. */
  priority?: Priority;
}

/**
 * Picks the template (the organisation's, else the system one) and renders it with the data.
 * 65 when the template is unknown, does not parse, or a placeholder has no value (naming every one).
 */
export async function renderTemplateForSend({ store, templateId, org, data }: RenderForSendInput): Promise<RenderedTemplate> {
  const t = await resolveTemplate(store, templateId, org);
  const orgFlagText = orgFlag(t.org);
  const syntax = checkParts(t);
  if (syntax.length > 0) {
    throw new SysemailError('data', 'TEMPLATE_SYNTAX', `template ${t.id} does not parse: ${describeIssues(syntax)}`, {
      fix: `Correct it with \`sysemail template set ${t.id}${orgFlagText} --subject ... | --body-file F | --html-file F\`; write a literal percent sign as %%`,
      data: { problems: syntax },
    });
  }
  const rendered = renderParts(t, data);
  const { value, errors } = rendered;
  let missing = rendered.missing;
  // the unsubscribe addresses take the data too (a per-recipient token), each value URL-encoded
  const unsub: { url?: string; mailto?: string } = {};
  for (const [key, source] of [
    ['url', t.unsubscribeUrl],
    ['mailto', t.unsubscribeMailto],
  ] as const) {
    if (!source) continue;
    let out = '';
    for (const seg of parseTemplate(source).value) {
      if (seg.kind === 'text') {
        out += seg.text;
        continue;
      }
      const v = lookup(data, seg.name);
      if (v === undefined || v === null || typeof v === 'object') {
        if (!missing.includes(seg.name)) missing = [...missing, seg.name];
        continue;
      }
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and lists were turned away above
      out += encodeURIComponent(String(v));
    }
    unsub[key] = out;
  }
  if (missing.length > 0) {
    throw new SysemailError('data', 'PLACEHOLDER_MISSING', `no value for ${missing.map((n) => `%${n}%`).join(', ')} in template ${t.id}`, {
      fix: `Add ${missing.map((n) => `"${n}"`).join(', ')} to the data file`,
      data: { missing },
    });
  }
  if (errors.length > 0) {
    throw new SysemailError('data', 'PLACEHOLDER_VALUE_INVALID', `template ${t.id}: ${describeIssues(errors)}`, {
      fix: 'Give each placeholder a single-line text or number value in the data file',
      data: { problems: errors },
    });
  }
  const from = t.sender?.trim() ? t.sender : undefined;
  const headers = unsubscribeHeaders(unsub);
  return {
    ...(from ? { from } : {}),
    ...value,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    template: { id: t.id, org: t.org === SYSTEM_ORG ? null : t.org },
    ...(t.priority ? { priority: t.priority } : {}),
  };
}
