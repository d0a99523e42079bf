/**
 * One line of the `diagnose` checklist. `fix` is what to do (empty when there is nothing to do);
 * `diagnosis` names the catalogue entry a failing check stands for, so a script can act on the id.
 */
import type { DiagnosisId } from '../../core/diagnosis/index.js';
import type { SenderFindingId } from '../../core/domain/findings.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  id: string;
  status: CheckStatus;
  detail: string;
  fix: string;
  /** A catalogue id, or for the sender-domain and bulk-sender checks a finding id (src/core/domain/findings.ts). */
  diagnosis?: DiagnosisId | SenderFindingId;
  /** Bulk-sender checks: the providers' published guideline the check stands for. */
  rule?: string;
}

export function pass(id: string, detail: string): Check {
  return { id, status: 'pass', detail, fix: '' };
}

export function warn(id: string, detail: string, fix: string, diagnosis?: DiagnosisId): Check {
  return { id, status: 'warn', detail, fix, ...(diagnosis ? { diagnosis } : {}) };
}

export function fail(id: string, detail: string, fix: string, diagnosis?: DiagnosisId): Check {
  return { id, status: 'fail', detail, fix, ...(diagnosis ? { diagnosis } : {}) };
}

export function skip(id: string, detail: string): Check {
  return { id, status: 'skip', detail, fix: '' };
}
