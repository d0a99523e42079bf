/**
 * `queue import`: many messages for the distributor from JSON Lines, one message per line. Every line
 * is checked and every bad line reported by its number; all lines are stored, in one transaction, or
 * none. The lines are checked as the transaction reads them (one pass, no list of a hundred thousand
 * messages waiting): once a line is bad nothing more is stored, the rest is still checked, and the
 * transaction is rolled back.
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
import { IMPORT_NAMES, checkIdempotencyKey, idempotencyConflict, parsePriority, parseSchedule } from '../core/delivery.js';
import { deliveryFields, keysSince, type Delivery } from './delivery.js';

/** The due time, expiry, priority and key of one line; throws with the field named. */
function lineDelivery(f: { idempotencyKey?: string; sendAt?: string; expiresAt?: string; priority?: string }, now: number): Delivery {
  const schedule = parseSchedule(
    { ...(f.sendAt != null ? { at: f.sendAt } : {}), ...(f.expiresAt != null ? { expires: f.expiresAt } : {}) },
    now,
    IMPORT_NAMES,
  );
  return {
    ...schedule,
    ...(f.priority != null ? { priority: parsePriority(f.priority, 'priority', 'data') } : {}),
    ...(f.idempotencyKey != null ? { idempotencyKey: checkIdempotencyKey(f.idempotencyKey, 'idempotencyKey', 'data') } : {}),
  };
}

const FIELDS = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'replyTo',
  'subject',
  'text',
  'html',
  'attachments',
  'user',
  'headers',
  'idempotencyKey',
  'sendAt',
  'expiresAt',
  'priority',
]);

export interface ImportProblem {
  line: number;
  message: string;
  kind: 'data' | 'noinput';
}

export interface ImportResult {
  /** Messages stored (duplicates not counted). */
  imported: number;
  /** Ids of the messages stored, in line order. */
  ids: number[];
  /** Lines whose idempotency key was already used by the same message: nothing stored for them. */
  duplicates: { line: number; id: number }[];
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
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  return null;
}

function optionalString(v: unknown): string | undefined | null {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : null;
}

/** What is wrong with the types of a line's fields, in field order; empty when nothing is. */
function wrongTypes(d: Record<string, unknown>, lists: Record<'to' | 'cc' | 'bcc', string[] | undefined | null>): string[] {
  const out = (['to', 'cc', 'bcc'] as const).filter((k) => lists[k] === null).map((k) => `${k} must be an address or a list of addresses`);
  for (const k of STRING_FIELDS) if (optionalString(d[k]) === null) out.push(`${k} must be a string`);
  if (
    d.headers !== undefined &&
    (typeof d.headers !== 'object' ||
      d.headers === null ||
      Array.isArray(d.headers) ||
      Object.values(d.headers).some((v) => typeof v !== 'string'))
  ) {
    out.push('headers must be an object of strings');
  }
  return out;
}

const STRING_FIELDS = ['from', 'replyTo', 'subject', 'text', 'html', 'user', 'idempotencyKey', 'sendAt', 'expiresAt', 'priority'] as const;

/** True when every string field is a string or absent, and headers (if any) an object of strings: the cheap check of each line. */
function typesOk(d: Record<string, unknown>): boolean {
  for (const k of STRING_FIELDS) {
    const v = d[k];
    if (v !== undefined && v !== null && typeof v !== 'string') return false;
  }
  const h = d.headers;
  if (h === undefined) return true;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return false;
  for (const k in h) if (typeof (h as Record<string, unknown>)[k] !== 'string') return false;
  return true;
}

/** The fields of a line sysemail does not know, or undefined (the common case) without building a list. */
function unknownFields(d: Record<string, unknown>): string[] | undefined {
  for (const k in d) if (!FIELDS.has(k)) return Object.keys(d).filter((key) => !FIELDS.has(key));
  return undefined;
}

/** Shared by every message without cc, bcc or attachments (most of an import): never changed. */
const NONE: never[] = [];

/** The number of lines of the input, as split('\n') would count them less a blank last one. */
function lineCount(text: string): number {
  let n = 1;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) n++;
  const lastStart = text.lastIndexOf('\n') + 1;
  return text.slice(lastStart).trim() === '' ? n - 1 : n;
}

export async function importMessages(o: ImportOptions): Promise<ImportResult> {
  const input = o.text;
  // one line at a time, without a list of them all
  const total = lineCount(input);
  const problems: ImportProblem[] = [];
  let good = 0;
  const maxMessageMb = o.settings.number('limits.maxMessageMb');
  const limits = { maxMessageMb };
  const defaultFrom = o.settings.string('sender.default');
  // the pass runs inside the store's transaction and cannot wait for it: the users' senders are read
  // first, when a line can name a user at all (a "user" key, or a key written with \u escapes)
  const users = new Map<string, string>();
  if (input.includes('"user"') || input.includes('\\u')) for (const u of await o.store.users.list()) users.set(u.id, senderOf(u));
  const spooled: string[] = [];
  const progressEvery = Math.max(1000, Math.floor(total / 100));
  const bad = (line: number, message: string, kind: ImportProblem['kind'] = 'data') => problems.push({ line, message, kind });

  function* checked(): Generator<NewMessage> {
    for (let i = 0, start = 0; i < total; i++) {
      const lineNo = i + 1;
      const end = input.indexOf('\n', start);
      const line = end === -1 ? input.slice(start) : input.slice(start, end);
      start = end + 1;
      const text = line.trim();
      if (i % progressEvery === 0) o.onProgress?.({ done: i, total });
      if (text === '') continue;
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        // the parser's message quotes the line, which may be anything (a secret file given by mistake)
        const at = jsonSyntaxError(line);
        bad(lineNo, `not JSON${at ? ` (column ${at.column})` : ''}`);
        continue;
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
        bad(lineNo, 'must be a JSON object such as {"to":"a@example.com","subject":"Hi","text":"..."}');
        continue;
      }
      const d = doc as Record<string, unknown>;
      const unknown = unknownFields(d);
      if (unknown) {
        bad(
          lineNo,
          `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => quoted(k)).join(', ')} (known: ${[...FIELDS].join(', ')})`,
        );
        continue;
      }
      const to = addressList(d.to);
      const cc = addressList(d.cc);
      const bcc = addressList(d.bcc);
      if (to === null || cc === null || bcc === null || !typesOk(d)) {
        bad(lineNo, wrongTypes(d, { to, cc, bcc }).join('; '));
        continue;
      }
      // every string field is now a string or absent
      const strings = d as {
        from?: string;
        replyTo?: string;
        subject?: string;
        text?: string;
        html?: string;
        user?: string;
        idempotencyKey?: string;
        sendAt?: string;
        expiresAt?: string;
        priority?: string;
      };
      let delivery: Delivery | undefined;
      if (strings.idempotencyKey != null || strings.sendAt != null || strings.expiresAt != null || strings.priority != null) {
        try {
          delivery = lineDelivery(strings, o.now);
        } catch (err) {
          bad(lineNo, err instanceof Error ? err.message : String(err));
          continue;
        }
      }

      let from = strings.from ?? undefined;
      const userId = strings.user ?? undefined;
      if (userId !== undefined) {
        const sender = users.get(userId);
        if (sender === undefined) {
          bad(lineNo, `unknown user ${quoted(userId)} (see \`sysemail users list\`)`);
          continue;
        }
        from ??= sender;
      }
      from ??= defaultFrom;

      const attachments: RawAttachment[] = [];
      let attachmentsOk = true;
      const rawAttachments = d.attachments ?? NONE;
      if (!Array.isArray(rawAttachments)) {
        bad(lineNo, 'attachments must be a list of file paths or {"path": "...", "filename": "..."} objects');
        continue;
      }
      for (const a of rawAttachments) {
        const spec: unknown = typeof a === 'string' ? { path: a } : a;
        if (typeof spec !== 'object' || spec === null || typeof (spec as { path?: unknown }).path !== 'string') {
          bad(lineNo, 'attachments must be a list of file paths or {"path": "...", "filename": "..."} objects');
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
          bad(lineNo, `attachment ${s.path} cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')})`, 'noinput');
          attachmentsOk = false;
          break;
        }
      }
      if (!attachmentsOk) continue;

      const { value, errors } = composeMessage(
        {
          from,
          to,
          cc,
          bcc,
          replyTo: strings.replyTo ?? undefined,
          subject: strings.subject ?? undefined,
          text: strings.text ?? undefined,
          html: strings.html ?? undefined,
          attachments,
          headers: d.headers as Record<string, string> | undefined,
        },
        limits,
      );
      if (!value) {
        // the composer speaks in flags (--to); an import line has fields
        bad(
          lineNo,
          errors.map((e) => e.message.replace(/^--(\w+)/, '$1').replace(/\bgive --from ADDR or\b/i, 'give "from" or')).join('; '),
        );
        continue;
      }
      // a bad line above: the rest is only checked
      if (problems.length > 0) continue;
      const m = value.message;
      let stored: NewMessage['attachments'] = NONE;
      if (m.attachments.length > 0) {
        stored = m.attachments.map((a) => ({ filename: a.filename, path: a.path, contentType: a.contentType, size: a.size }));
        if (o.spoolDir) {
          // every imported attachment was read from a path; the copies go again if the import fails
          const spool = spoolAttachments(
            o.spoolDir,
            stored.map((a) => ({ ...a, path: a.path! })),
          );
          spooled.push(spool.dir);
          stored = spool.stored;
        }
      }
      good++;
      const queued: NewMessage = {
        status: 'pending',
        provider: null,
        from: m.from,
        to: m.to,
        cc: m.cc.length > 0 ? m.cc : NONE,
        bcc: m.bcc.length > 0 ? m.bcc : NONE,
        replyTo: m.replyTo,
        subject: m.subject,
        text: m.text,
        html: m.html,
        attachments: stored,
        headers: m.headers,
        userId,
        sizeBytes: value.sizeBytes,
      };
      if (delivery) Object.assign(queued, deliveryFields(delivery, queued));
      lineOf.push(lineNo);
      yield queued;
    }
    o.onProgress?.({ done: total, total });
    // thrown inside the transaction: nothing is stored
    if (problems.length > 0) throw importError(problems, o.source);
    if (good === 0) {
      throw new SysemailError('data', 'IMPORT_EMPTY', `${o.source} holds no message`, {
        fix: 'Give one JSON object per line, e.g. {"to":"a@example.com","subject":"Hi","text":"Hello"}',
      });
    }
  }

  // the line of each message stored or answered, by its place in the list: for the answer and for a refusal
  const lineOf: number[] = [];
  try {
    const results = await o.store.messages.insertManyOnce(checked(), o.now, keysSince(o.settings, o.now), (m, firstId, at) => {
      const line = lineOf[at];
      const e = idempotencyConflict(m.idempotencyKey!, firstId, 'idempotencyKey');
      return new SysemailError('data', 'IDEMPOTENCY_CONFLICT', `${o.source}: line ${line ?? '?'}: ${e.message}`, {
        fix: `Nothing was imported; give that line a new key, or see the first message with \`sysemail history show ${firstId}\``,
        data: { firstId, line: line ?? null },
      });
    });
    const ids: number[] = [];
    const duplicates: ImportResult['duplicates'] = [];
    results.forEach((r, i) => {
      if (r.duplicate) duplicates.push({ line: lineOf[i] ?? 0, id: r.id });
      else ids.push(r.id);
    });
    return { imported: ids.length, ids, duplicates };
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
