/**
 * `diagnose --error` and `diagnose --history`: from an error someone saw (or a stored failed attempt)
 * to the known causes, best first.
 */
import { diagnose, diagnoseLog, diagnoseText, type Match } from '../../core/diagnosis/index.js';
import type { FailureInfo } from '../../core/failure.js';
import type { Store } from '../../store/ports.js';
import { requireMessage } from '../history.js';

/** One known cause as the contract shows it; `excerpt` names the part of a pasted log it explains. */
export interface CauseView {
  id: string;
  title: string;
  explanation: string;
  fix: string;
  retryable: boolean;
  excerpt?: string;
}

export interface ErrorDiagnosis {
  matches: CauseView[];
  /** Distinct errors found in the text (one for a single error). */
  findings: { excerpt: string; ids: string[] }[];
}

/** What to run when nothing known matches: the whole conversation, ending before anything is sent. */
export const COLLECT_NEXT = 'sysemail test-email --to ADDR --quit-after auth -v';

function view(m: Match, excerpt?: string): CauseView {
  return {
    id: m.id,
    title: m.title,
    explanation: m.explanation,
    fix: m.fix,
    retryable: m.retryable,
    ...(excerpt !== undefined ? { excerpt } : {}),
  };
}

/** A single error, or a pasted log with several (each reported once, in the order they appear). */
export function diagnoseErrorText(text: string): ErrorDiagnosis {
  const trimmed = text.trim();
  if (trimmed === '') return { matches: [], findings: [] };
  const findings = trimmed.includes('\n') ? diagnoseLog(trimmed) : [];
  if (findings.length > 1) {
    return {
      matches: findings.flatMap((f) => f.matches.map((m) => view(m, f.excerpt))),
      findings: findings.map((f) => ({ excerpt: f.excerpt, ids: f.matches.map((m) => m.id) })),
    };
  }
  // one error, possibly spread over lines (a multi-line reply, a stack trace): judged as a whole
  const whole = diagnoseText(trimmed);
  const matches = whole.length > 0 ? whole : (findings[0]?.matches ?? []);
  const excerpt = findings[0]?.excerpt ?? trimmed;
  return { matches: matches.map((m) => view(m)), findings: matches.length > 0 ? [{ excerpt, ids: matches.map((m) => m.id) }] : [] };
}

export interface AttemptDiagnosis {
  at: string;
  outcome: string | null;
  provider: string | null;
  response: string | null;
  /** The id stored when the attempt failed. */
  storedDiagnosis: string | null;
  ids: string[];
}

export interface HistoryDiagnosis {
  id: number;
  status: string;
  /** Causes of the last failure first, then those only earlier attempts showed. */
  matches: CauseView[];
  attempts: AttemptDiagnosis[];
}

/** Every failed attempt of one message, and the message's last failure, mapped to known causes. */
export async function diagnoseHistory(store: Store, id: number): Promise<HistoryDiagnosis> {
  const message = requireMessage(await store.messages.get(id), id);
  const attempts = (await store.messages.attempts(id)).filter((a) => a.failure !== null || a.outcome === 'failed');
  const failures: FailureInfo[] = [];
  const views: AttemptDiagnosis[] = attempts.map((a) => {
    const failure: FailureInfo = a.failure ?? { response: a.response ?? undefined, code: a.errorCode ?? undefined };
    failures.push(failure);
    return {
      at: new Date(a.startedAt).toISOString(),
      outcome: a.outcome,
      provider: a.provider,
      response: failure.response ?? a.response,
      storedDiagnosis: a.diagnosis,
      ids: diagnose(failure).map((m) => m.id),
    };
  });
  // newest first, so the last failure leads
  const ordered = [...(message.lastError ? [message.lastError] : []), ...failures.reverse()];
  const seen = new Set<string>();
  const matches: CauseView[] = [];
  for (const f of ordered) {
    for (const m of diagnose(f)) {
      if (seen.has(m.id)) continue;
      seen.add(m.id);
      matches.push(view(m));
    }
  }
  return { id: message.id, status: message.status, matches, attempts: views };
}
