/**
 * Maps a failure to catalogue entries, best first. Pure: no I/O, no clock.
 *
 * Scoring follows the contract's "codes first, text second", with one twist that real servers force on
 * us: a code shared by several causes (535 5.7.139, 530 5.7.0, 550 5.7.1) cannot decide between them, so
 * wording that names a cause outranks any code-only match, and once some entry is named by wording, the
 * entries that only matched on codes are dropped.
 */
import type { FailureInfo, FailurePhase } from '../failure.js';
import { catalogue, type CatalogueEntry, type DiagnosisId, type DiagnosisRules } from './catalogue.js';

export interface Match {
  readonly id: DiagnosisId;
  readonly title: string;
  readonly explanation: string;
  readonly fix: string;
  readonly retryable: boolean;
  /** Relative strength of the match; only the order it produces is meaningful. */
  readonly score: number;
}

/** One distinct error found in a pasted log and what it matched. */
export interface LogFinding {
  readonly excerpt: string;
  readonly matches: Match[];
}

const WEIGHT = {
  text: 100,
  /** per additional wording rule of the same entry, at most twice: more evidence, same cause */
  extraText: 5,
  hint: 30,
  /** wording suppressed by a notWhen rule: enough to order, not enough to survive named rivals */
  demoted: 10,
  enhancedUnique: 40,
  enhancedShared: 24,
  enhancedPrefix: 12,
  graphUnique: 40,
  graphShared: 24,
  errorUnique: 25,
  errorShared: 12,
  replyUnique: 20,
  replyShared: 10,
  httpUnique: 20,
  httpShared: 10,
  phase: 25,
} as const;

/** Below this an entry is noise: one shared reply or error code alone says nothing. */
const MIN_SCORE = 20;

// ---------------------------------------------------------------------------------------------------
// What the catalogue knows, counted once: a code used by one entry decides, a shared one only narrows.

function usage<T>(pick: (rules: DiagnosisRules) => readonly T[] | undefined): ReadonlyMap<T, number> {
  const counts = new Map<T, number>();
  for (const entry of catalogue) {
    for (const value of new Set(pick(entry.rules) ?? [])) counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

const enhancedUse = usage((r) => r.enhancedCodes);
const replyUse = usage((r) => r.responseCodes);
const errorUse = usage((r) => r.errorCodes);
const graphUse = usage((r) => r.graphCodes);
const httpUse = usage((r) => r.httpStatuses);

// Reply codes that exist in SMTP; anything else ("404", "587") found in text is not a reply.
const SMTP_ERROR_REPLIES: ReadonlySet<number> = new Set([
  421, 432, 450, 451, 452, 453, 454, 455, 458, 459, 500, 501, 502, 503, 504, 521, 523, 530, 534, 535, 538, 550, 551, 552, 553, 554, 555,
  556,
]);

// ---------------------------------------------------------------------------------------------------
// Evidence: the failure's own fields plus every code its text mentions.

interface Evidence {
  readonly text: string;
  readonly replyCodes: ReadonlySet<number>;
  readonly enhancedCodes: ReadonlySet<string>;
  readonly errorCodes: ReadonlySet<string>;
  readonly graphCodes: ReadonlySet<string>;
  readonly httpStatuses: ReadonlySet<number>;
  readonly phase?: FailurePhase;
}

interface Found<T> {
  readonly value: T;
  readonly at: number;
}

interface Scan {
  readonly replyCodes: readonly number[];
  readonly enhancedCodes: readonly string[];
  readonly errorCodes: readonly string[];
  readonly graphCodes: readonly string[];
  readonly httpStatuses: readonly number[];
}

// Each pattern's group 1 is a reply code. Clients quote replies in many shapes, and a bare number
// ("port 587", "line 535") must not count, hence the context each pattern insists on.
const REPLY_PATTERNS: readonly RegExp[] = [
  /(?<![\w.:/])([45]\d\d)(?:[ -]|:\s*)[245]\.\d{1,3}\.\d{1,3}\b/g, // 535 5.7.3 · 550-5.1.1 · 535: 5.7.139
  /^[ \t]*([45]\d\d)[ -]/gm, // a reply line of its own
  /(?:code|said|reply|response|error|failed|\bS)\W{1,4}([45]\d\d)\b/gi, // SMTP code: 550 · got code "530"
  /\(([45]\d\d),\s*b?['"]/g, // Python: (535, b'5.7.8 ...')
  /:\s+([45]\d\d)(?=[ -][A-Za-z<])/g, // ...RCPT TO:<x>: 550 relay not permitted
];

const ENHANCED_PATTERN = /(?<![\w.])([45]\.\d{1,3}\.\d{1,3})(?!\d|\.\d)/g;

const HTTP_PATTERNS: readonly RegExp[] = [
  /\((\d{3})\)\s*(?:Unauthorized|Forbidden|Not Found|Too Many Requests|Request Entity Too Large|Payload Too Large|Bad Request)/gi,
  /\bHTTP(?:\/\d(?:\.\d)?)?(?:\s+(?:status|error))?[\s:]+(\d{3})\b/gi,
  /\bstatus(?:\s*code)?\s*[:=]?\s*(\d{3})\b/gi,
  /\b(4\d\d)\s+(?:Unauthorized|Forbidden|Not Found|Too Many Requests|Request Entity Too Large|Payload Too Large)\b/gi,
];

function collect<T>(text: string, patterns: readonly RegExp[], convert: (raw: string) => T | undefined): Found<T>[] {
  const found: Found<T>[] = [];
  for (const pattern of patterns) {
    for (const m of text.matchAll(pattern)) {
      const raw = m[1];
      if (raw === undefined) continue;
      const value = convert(raw);
      if (value !== undefined) found.push({ value, at: m.index + m[0].indexOf(raw) });
    }
  }
  return found;
}

function ordered<T>(found: Found<T>[]): T[] {
  const seen = new Set<T>();
  const out: T[] = [];
  for (const f of found.sort((a, b) => a.at - b.at)) {
    if (!seen.has(f.value)) {
      seen.add(f.value);
      out.push(f.value);
    }
  }
  return out;
}

// Only names the catalogue knows are worth extracting: matching ignores everything else anyway.
function tokens(text: string, pattern: RegExp, known: ReadonlyMap<string, number>): Found<string>[] {
  return collect(text, [pattern], (raw) => (known.has(raw) ? raw : undefined));
}

function scan(text: string): Scan {
  const reply = (raw: string): number | undefined => {
    const n = Number(raw);
    return SMTP_ERROR_REPLIES.has(n) ? n : undefined;
  };
  const http = (raw: string): number | undefined => {
    const n = Number(raw);
    return n >= 400 && n <= 599 ? n : undefined;
  };
  return {
    replyCodes: ordered(collect(text, REPLY_PATTERNS, reply)),
    enhancedCodes: ordered(collect(text, [ENHANCED_PATTERN], (raw) => raw)),
    errorCodes: ordered(tokens(text, /\b([A-Z][A-Z0-9_]{2,})\b/g, errorUse)),
    graphCodes: ordered(tokens(text, /\b([A-Za-z][A-Za-z_]{3,})\b/g, graphUse)),
    httpStatuses: ordered(collect(text, HTTP_PATTERNS, http)),
  };
}

function evidenceOf(failure: FailureInfo): Evidence {
  const text = failure.response ?? '';
  const found = scan(text);
  const withField = <T>(field: T | undefined, fromText: readonly T[]): ReadonlySet<T> =>
    new Set(field === undefined ? fromText : [field, ...fromText]);
  return {
    text,
    replyCodes: withField(failure.responseCode, found.replyCodes),
    enhancedCodes: withField(failure.enhancedCode, found.enhancedCodes),
    errorCodes: withField(failure.code, found.errorCodes),
    graphCodes: withField(failure.graphCode, found.graphCodes),
    httpStatuses: withField(failure.httpStatus, found.httpStatuses),
    phase: failure.phase,
  };
}

// ---------------------------------------------------------------------------------------------------
// Scoring one entry.

interface Scored {
  readonly entry: CatalogueEntry;
  readonly order: number;
  readonly score: number;
  /** Wording names this entry. */
  readonly named: boolean;
  /** Wording names or suggests this entry. */
  readonly worded: boolean;
}

function codeScore<T>(
  listed: readonly T[] | undefined,
  present: ReadonlySet<T>,
  use: ReadonlyMap<T, number>,
  unique: number,
  shared: number,
): number {
  let best = 0;
  (listed ?? []).forEach((value, index) => {
    if (!present.has(value)) return;
    // Entries list their most characteristic code first; among ties that is the better guess.
    const weight = (use.get(value) ?? 0) > 1 ? shared - Math.min(index, 4) : unique;
    best = Math.max(best, weight);
  });
  return best;
}

function enhancedScore(listed: readonly string[] | undefined, present: ReadonlySet<string>): number {
  let best = codeScore(listed, present, enhancedUse, WEIGHT.enhancedUnique, WEIGHT.enhancedShared);
  for (const pattern of listed ?? []) {
    if (!pattern.endsWith('.*')) continue;
    const prefix = pattern.slice(0, -1);
    if ([...present].some((code) => code.startsWith(prefix))) best = Math.max(best, WEIGHT.enhancedPrefix);
  }
  return best;
}

function textScore(rules: DiagnosisRules, text: string): { score: number; named: boolean; worded: boolean } {
  if (text === '') return { score: 0, named: false, worded: false };
  const strong = (rules.text ?? []).filter((re) => re.test(text)).length;
  const hinted = (rules.hints ?? []).some((re) => re.test(text));
  if (strong === 0 && !hinted) return { score: 0, named: false, worded: false };
  if ((rules.notWhen ?? []).some((re) => re.test(text))) return { score: WEIGHT.demoted, named: false, worded: false };
  if (strong > 0) {
    return { score: WEIGHT.text + WEIGHT.extraText * Math.min(strong - 1, 2), named: true, worded: true };
  }
  return { score: WEIGHT.hint, named: false, worded: true };
}

function scoreEntry(entry: CatalogueEntry, order: number, ev: Evidence): Scored {
  const r = entry.rules;
  const words = textScore(r, ev.text);
  const score =
    words.score +
    enhancedScore(r.enhancedCodes, ev.enhancedCodes) +
    codeScore(r.graphCodes, ev.graphCodes, graphUse, WEIGHT.graphUnique, WEIGHT.graphShared) +
    codeScore(r.errorCodes, ev.errorCodes, errorUse, WEIGHT.errorUnique, WEIGHT.errorShared) +
    codeScore(r.responseCodes, ev.replyCodes, replyUse, WEIGHT.replyUnique, WEIGHT.replyShared) +
    codeScore(r.httpStatuses, ev.httpStatuses, httpUse, WEIGHT.httpUnique, WEIGHT.httpShared) +
    (ev.phase !== undefined && (r.phases ?? []).includes(ev.phase) ? WEIGHT.phase : 0);
  return { entry, order, score, named: words.named, worded: words.worded };
}

function toMatch(s: Scored): Match {
  const { id, title, explanation, fix, retryable } = s.entry;
  return { id, title, explanation, fix, retryable, score: s.score };
}

// ---------------------------------------------------------------------------------------------------
// Public API.

/** Known causes of one failure, best first; each id at most once; empty when nothing known matches. */
export function diagnose(failure: FailureInfo): Match[] {
  const ev = evidenceOf(failure);
  const candidates = catalogue.map((entry, order) => scoreEntry(entry, order, ev)).filter((s) => s.score >= MIN_SCORE);
  const someNamed = candidates.some((s) => s.named);
  return candidates
    .filter((s) => !someNamed || s.worded)
    .sort((a, b) => b.score - a.score || a.order - b.order)
    .map(toMatch);
}

/** The structured view of a free-text error: the first reply, enhanced, error, Graph and HTTP code it names. */
export function failureFromText(text: string): FailureInfo {
  const found = scan(text);
  const failure: FailureInfo = { response: text };
  if (found.replyCodes[0] !== undefined) failure.responseCode = found.replyCodes[0];
  if (found.enhancedCodes[0] !== undefined) failure.enhancedCode = found.enhancedCodes[0];
  if (found.errorCodes[0] !== undefined) failure.code = found.errorCodes[0];
  if (found.graphCodes[0] !== undefined) failure.graphCode = found.graphCodes[0];
  if (found.httpStatuses[0] !== undefined) failure.httpStatus = found.httpStatuses[0];
  return failure;
}

/** Known causes of an error given as text (a server reply, an exception message, a Graph JSON body). */
export function diagnoseText(text: string): Match[] {
  return diagnose(failureFromText(text));
}

// ---------------------------------------------------------------------------------------------------
// Logs: one pasted excerpt, several errors, each reported once.

const STACK_FRAME = /^\s+(?:at\s|File\s")/;
const MAX_EXCERPT = 600;

/** Groups lines that belong together: indented continuations and multi-line SMTP replies (550-... 550 ...). */
function blocksOf(text: string): string[][] {
  const blocks: string[][] = [];
  let current: string[] | undefined;
  let openReply: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.trim() === '') {
      current = undefined;
      openReply = undefined;
      continue;
    }
    const continues =
      current !== undefined && (/^\s/.test(line) || (openReply !== undefined && new RegExp(`(?:^|\\s)${openReply}[ -]`).test(line)));
    if (continues && current !== undefined) {
      current.push(line);
    } else {
      current = [line];
      blocks.push(current);
    }
    openReply = /(?:^|\s)([45]\d\d)-(?=\w)/.exec(line)?.[1];
  }
  return blocks;
}

function excerptOf(block: readonly string[]): string {
  const text = block
    .filter((line) => !STACK_FRAME.test(line))
    .join('\n')
    .trim();
  return text.length > MAX_EXCERPT ? `${text.slice(0, MAX_EXCERPT - 1)}…` : text;
}

// The same error is often logged several times with different prefixes (the server line, then the
// client's exception): compare from the reply code on, or without timestamp and level prefixes.
function sameErrorKey(excerpt: string): string {
  const code = /(?<![\w.:/])[45]\d\d(?:[ -]|:\s*)|(?<![\w.])[45]\.\d{1,3}\.\d{1,3}/.exec(excerpt);
  const core =
    code !== null
      ? excerpt.slice(code.index)
      : excerpt.replace(/^(?:\[[^\]]*\]\s*|\d{4}-\d\d-\d\d[T ][\d:.,]+Z?\s*|(?:DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL)\b:?\s*)+/, '');
  return core.replace(/\s+/g, ' ').trim().toLowerCase();
}

/** Splits a log excerpt into the distinct errors that match something, in the order they appear. */
export function diagnoseLog(text: string): LogFinding[] {
  const findings: LogFinding[] = [];
  const seen = new Set<string>();
  for (const block of blocksOf(text)) {
    const excerpt = excerptOf(block);
    if (excerpt === '') continue;
    const matches = diagnoseText(excerpt);
    if (matches.length === 0) continue;
    const key = sameErrorKey(excerpt);
    if (seen.has(key)) continue;
    seen.add(key);
    findings.push({ excerpt, matches });
  }
  return findings;
}
