/**
 * Email templates with `%name%` placeholders, as the reference system writes them; `%%` is a literal
 * percent sign. Names may be dotted (`%approver.name%`) to reach into nested data.
 * Pure: parsing and rendering only; the store and the use cases live elsewhere.
 */
import { SysemailError } from './errors.js';
import { notJsonError } from './text.js';

export type TemplateIssueCode = 'UNBALANCED_PERCENT' | 'BAD_PLACEHOLDER' | 'MISSING_VALUE' | 'BAD_VALUE' | 'LINE_BREAK_IN_SUBJECT';

export interface TemplateIssue {
  code: TemplateIssueCode;
  message: string;
  /** The placeholder concerned, when there is one. */
  name?: string;
  /** 0-based character offset in the template text. */
  offset?: number;
}

export type TemplateSegment = { kind: 'text'; text: string } | { kind: 'placeholder'; name: string; offset: number };

export type TemplateData = Readonly<Record<string, unknown>>;

export interface RenderOptions {
  /** The text is an HTML body: values are HTML-escaped. */
  html?: boolean;
  /** The text is a subject line: a value must not bring a line break into a header. */
  subject?: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** Line and column (1-based) of an offset, for messages an admin can act on. */
function where(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${col}`;
}

export function parseTemplate(text: string): { value: TemplateSegment[]; errors: TemplateIssue[] } {
  const segments: TemplateSegment[] = [];
  const errors: TemplateIssue[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const pct = text.indexOf('%', i);
    if (pct === -1) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, pct);
    if (text[pct + 1] === '%') {
      literal += '%';
      i = pct + 2;
      continue;
    }
    const close = text.indexOf('%', pct + 1);
    if (close === -1) {
      errors.push({
        code: 'UNBALANCED_PERCENT',
        offset: pct,
        message: `a % at ${where(text, pct)} opens a placeholder that is never closed (write %% for a literal percent sign)`,
      });
      literal += text.slice(pct);
      break;
    }
    const name = text.slice(pct + 1, close);
    if (!NAME.test(name)) {
      const shown = name.length > 30 ? `${name.slice(0, 30)}…` : name;
      errors.push({
        code: 'BAD_PLACEHOLDER',
        offset: pct,
        message: `%${shown}% at ${where(text, pct)} is not a placeholder name (names are letters, digits, _ and -, dotted for nested data; write %% for a literal percent sign)`,
      });
      literal += text.slice(pct, close + 1);
      i = close + 1;
      continue;
    }
    if (literal) segments.push({ kind: 'text', text: literal });
    literal = '';
    segments.push({ kind: 'placeholder', name, offset: pct });
    i = close + 1;
  }
  if (literal) segments.push({ kind: 'text', text: literal });
  return { value: segments, errors };
}

/** The distinct placeholder names of a text, in order of first use. */
export function placeholdersOf(text: string): string[] {
  const names = new Set<string>();
  for (const s of parseTemplate(text).value) if (s.kind === 'placeholder') names.add(s.name);
  return [...names];
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A name's value: the exact key first (keys may contain dots), else the dotted path into nested objects. */
export function lookup(data: TemplateData, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(data, name)) return data[name];
  let current: unknown = data;
  for (const part of name.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

export function render(template: string, data: TemplateData, options: RenderOptions = {}): { value: string; errors: TemplateIssue[] } {
  const parsed = parseTemplate(template);
  const errors = [...parsed.errors];
  let out = '';
  for (const seg of parsed.value) {
    if (seg.kind === 'text') {
      out += seg.text;
      continue;
    }
    const v = lookup(data, seg.name);
    if (v === undefined || v === null) {
      if (!errors.some((e) => e.code === 'MISSING_VALUE' && e.name === seg.name)) {
        errors.push({ code: 'MISSING_VALUE', name: seg.name, offset: seg.offset, message: `no value for %${seg.name}%` });
      }
      continue;
    }
    if (typeof v === 'object') {
      errors.push({
        code: 'BAD_VALUE',
        name: seg.name,
        offset: seg.offset,
        message: `the value of %${seg.name}% is ${Array.isArray(v) ? 'a list' : 'an object'}, not text`,
      });
      continue;
    }
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and lists were turned away above
    const text = String(v);
    if (options.subject && /[\r\n]/.test(text)) {
      errors.push({
        code: 'LINE_BREAK_IN_SUBJECT',
        name: seg.name,
        offset: seg.offset,
        message: `the value of %${seg.name}% contains a line break, which a subject cannot hold`,
      });
      continue;
    }
    out += options.html ? escapeHtml(text) : text;
  }
  return { value: out, errors };
}

export interface TemplateParts {
  subject: string;
  text?: string | null;
  html?: string | null;
}

export interface RenderedParts {
  subject: string;
  text?: string;
  html?: string;
}

export interface PartIssue extends TemplateIssue {
  part: 'subject' | 'text' | 'html';
}

/** Renders subject and bodies together so one error can name every missing placeholder at once. */
export function renderParts(template: TemplateParts, data: TemplateData): { value: RenderedParts; errors: PartIssue[]; missing: string[] } {
  const errors: PartIssue[] = [];
  const subject = render(template.subject, data, { subject: true });
  errors.push(...subject.errors.map((e) => ({ ...e, part: 'subject' as const })));
  const value: RenderedParts = { subject: subject.value };
  if (template.text != null) {
    const r = render(template.text, data);
    errors.push(...r.errors.map((e) => ({ ...e, part: 'text' as const })));
    value.text = r.value;
  }
  if (template.html != null) {
    const r = render(template.html, data, { html: true });
    errors.push(...r.errors.map((e) => ({ ...e, part: 'html' as const })));
    value.html = r.value;
  }
  const missing = [...new Set(errors.filter((e) => e.code === 'MISSING_VALUE').map((e) => e.name!))];
  return { value, errors, missing };
}

/** Syntax problems of every part (no data involved): what `template add` refuses and `template verify` reports. */
export function checkParts(template: TemplateParts): PartIssue[] {
  const out: PartIssue[] = [];
  const check = (part: PartIssue['part'], text: string | null | undefined) => {
    if (text == null) return;
    for (const e of parseTemplate(text).errors) out.push({ ...e, part });
  };
  check('subject', template.subject);
  check('text', template.text);
  check('html', template.html);
  if (/[\r\n]/.test(template.subject))
    out.push({ code: 'LINE_BREAK_IN_SUBJECT', part: 'subject', message: 'the subject contains a line break' });
  return out;
}

/** Parses the JSON text of a data file: an object whose keys are placeholder names. */
export function parseTemplateData(text: string, source: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw notJsonError(source, text, 'Give a JSON object of placeholder values, e.g. {"name":"Ada","amount":"42.00"}', 'DATA_NOT_JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SysemailError('data', 'DATA_NOT_OBJECT', `${source} must hold a JSON object of placeholder values`, {
      fix: 'Give a JSON object, e.g. {"name":"Ada","amount":"42.00"}',
    });
  }
  return doc as Record<string, unknown>;
}
