/**
 * `queue import`: many messages for the distributor from JSON Lines, one message per line. Every line
 * is checked first and every bad line reported by its number; only then are all lines stored, in one
 * transaction, or none.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SysemailError } from '../core/errors.js';
import { composeMessage, type RawAttachment } from '../core/message.js';
import type { Settings } from '../core/precedence.js';
import type { Store } from '../store/ports.js';
import type { NewMessage } from '../store/ports.js';
import { senderOf } from '../store/rules.js';
import { spoolAttachments } from './spool.js';
import { jsonSyntaxError, quoted } from '../core/text.js';

const FIELDS = new Set(['to', 'cc', 'bcc', 'from', 'replyTo', 'subject', 'text', 'html', 'attachments', 'user', 'headers']);

export interface ImportProblem {
  line: number;
  message: string;
  kind: 'data' | 'noinput';
}

export interface ImportResult {
  imported: number;
  ids: number[];
}

export interface ImportOptions {
  store: Store;
  settings: Settings;
  /** The whole input (a file or standard input). */
  text: string;
  /** Shown in errors: the file name or "standard input". */
  source: string;
  now: number;
  /** Relative attachment paths are taken from here. */
  cwd: string;
  /**
   * Attachments are copied here (one folder per message), so that the distributor finds them however
   * long the messages wait. Without it the stored paths are the originals.
   */
  spoolDir?: string;
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Errors named in the message before "(and N more)". */
const SHOWN_PROBLEMS = 3;

function addressList(v: unknown): string[] | undefined | null {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

function optionalString(v: unknown): string | undefined | null {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : null;
}

export async function importMessages(o: ImportOptions): Promise<ImportResult> {
  const lines = o.text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const total = lines.length;
  const problems: ImportProblem[] = [];
  const messages: NewMessage[] = [];
  const maxMessageMb = o.settings.number('limits.maxMessageMb');
  const defaultFrom = o.settings.string('sender.default');
  const users = new Map<string, string | null>();
  const progressEvery = Math.max(1000, Math.floor(total / 100));

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const text = lines[i].trim();
    if (i % progressEvery === 0) o.onProgress?.({ done: i, total });
    if (text === '') continue;
    const bad = (message: string, kind: ImportProblem['kind'] = 'data') => problems.push({ line: lineNo, message, kind });
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // the parser's message quotes the line, which may be anything (a secret file given by mistake)
      const at = jsonSyntaxError(lines[i]);
      bad(`not JSON${at ? ` (column ${at.column})` : ''}`);
      continue;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      bad('must be a JSON object such as {"to":"a@example.com","subject":"Hi","text":"..."}');
      continue;
    }
    const d = doc as Record<string, unknown>;
    const unknown = Object.keys(d).filter((k) => !FIELDS.has(k));
    if (unknown.length > 0) {
      bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => quoted(k)).join(', ')} (known: ${[...FIELDS].join(', ')})`);
      continue;
    }
    const to = addressList(d.to);
    const cc = addressList(d.cc);
    const bcc = addressList(d.bcc);
    const strings = { from: optionalString(d.from), replyTo: optionalString(d.replyTo), subject: optionalString(d.subject), text: optionalString(d.text), html: optionalString(d.html), user: optionalString(d.user) };
    const wrongType = [
      ...(['to', 'cc', 'bcc'] as const).filter((k) => ({ to, cc, bcc })[k] === null).map((k) => `${k} must be an address or a list of addresses`),
      ...Object.entries(strings).filter(([, v]) => v === null).map(([k]) => `${k} must be a string`),
    ];
    if (d.headers !== undefined && (typeof d.headers !== 'object' || d.headers === null || Array.isArray(d.headers) || Object.values(d.headers).some((v) => typeof v !== 'string'))) {
      wrongType.push('headers must be an object of strings');
    }
    if (wrongType.length > 0) {
      bad(wrongType.join('; '));
      continue;
    }

    let from = strings.from ?? undefined;
    const userId = strings.user ?? undefined;
    if (userId !== undefined) {
      if (!users.has(userId)) {
        const u = await o.store.users.get(userId);
        users.set(userId, u ? senderOf(u) : null);
      }
      const sender = users.get(userId);
      if (sender === null) {
        bad(`unknown user ${quoted(userId)} (see \`sysemail users list\`)`);
        continue;
      }
      from ??= sender;
    }
    from ??= defaultFrom;

    const attachments: RawAttachment[] = [];
    let attachmentsOk = true;
    const rawAttachments = d.attachments ?? [];
    if (!Array.isArray(rawAttachments)) {
      bad('attachments must be a list of file paths or {"path": "...", "filename": "..."} objects');
      continue;
    }
    for (const a of rawAttachments) {
      const spec = typeof a === 'string' ? { path: a } : a;
      if (typeof spec !== 'object' || spec === null || typeof (spec as { path?: unknown }).path !== 'string') {
        bad('attachments must be a list of file paths or {"path": "...", "filename": "..."} objects');
        attachmentsOk = false;
        break;
      }
      const s = spec as { path: string; filename?: unknown; contentType?: unknown };
      const file = path.resolve(o.cwd, s.path);
      try {
        const st = fs.statSync(file);
        if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        fs.accessSync(file, fs.constants.R_OK);
        attachments.push({
          path: file,
          size: st.size,
          ...(typeof s.filename === 'string' ? { filename: s.filename } : {}),
          ...(typeof s.contentType === 'string' ? { contentType: s.contentType } : {}),
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        bad(`attachment ${s.path} cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')})`, 'noinput');
        attachmentsOk = false;
        break;
      }
    }
    if (!attachmentsOk) continue;

    const { value, errors } = composeMessage(
      {
        from,
        to: to ?? undefined,
        cc: cc ?? undefined,
        bcc: bcc ?? undefined,
        replyTo: strings.replyTo ?? undefined,
        subject: strings.subject ?? undefined,
        text: strings.text ?? undefined,
        html: strings.html ?? undefined,
        attachments,
        headers: d.headers as Record<string, string> | undefined,
      },
      { maxMessageMb },
    );
    if (!value) {
      // the composer speaks in flags (--to); an import line has fields
      bad(errors.map((e) => e.message.replace(/^--(\w+)/, '$1').replace(/\bgive --from ADDR or\b/i, 'give "from" or')).join('; '));
      continue;
    }
    const m = value.message;
    messages.push({
      status: 'pending',
      provider: null,
      from: m.from,
      to: m.to,
      cc: m.cc,
      bcc: m.bcc,
      replyTo: m.replyTo,
      subject: m.subject,
      text: m.text,
      html: m.html,
      attachments: m.attachments.map((a) => ({ filename: a.filename, path: a.path, contentType: a.contentType, size: a.size })),
      headers: m.headers,
      userId,
      sizeBytes: value.sizeBytes,
    });
  }
  o.onProgress?.({ done: total, total });

  if (problems.length > 0) throw importError(problems, o.source);
  if (messages.length === 0) {
    throw new SysemailError('data', 'IMPORT_EMPTY', `${o.source} holds no message`, {
      fix: 'Give one JSON object per line, e.g. {"to":"a@example.com","subject":"Hi","text":"Hello"}',
    });
  }
  // copies last, once every line is known good; all of them go again if the insert fails
  const spooled: string[] = [];
  try {
    if (o.spoolDir) {
      for (const m of messages) {
        if (m.attachments.length === 0) continue;
        const { dir, stored } = spoolAttachments(
          o.spoolDir,
          m.attachments.map((a) => ({ ...a, path: a.path! })), // every imported attachment was read from a path
        );
        spooled.push(dir);
        m.attachments = stored;
      }
    }
    const ids = await o.store.messages.insertMany(messages, o.now);
    return { imported: ids.length, ids };
  } catch (err) {
    for (const dir of spooled) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function importError(problems: readonly ImportProblem[], source: string): SysemailError {
  const shown = problems.slice(0, SHOWN_PROBLEMS).map((p) => `line ${p.line}: ${p.message}`);
  const more = problems.length > SHOWN_PROBLEMS ? ` (and ${problems.length - SHOWN_PROBLEMS} more bad line(s))` : '';
  const kind = problems.every((p) => p.kind === 'noinput') ? 'noinput' : 'data';
  return new SysemailError(kind, 'IMPORT_INVALID', `${source}: ${shown.join('; ')}${more}`, {
    fix: 'Nothing was imported; correct the line(s) named and run the import again',
    data: { lines: problems.map((p) => ({ line: p.line, message: p.message })) },
  });
}
