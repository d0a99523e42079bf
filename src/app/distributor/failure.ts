/** A failed send as the distributor reads it: what is known about it, and how far it reaches. */
import { classifyFailure } from '../../core/classify.js';
import { isSysemailError, type ErrorKind } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import type { ProviderName } from '../../core/providers.js';

/** How a failure affects the queue: retry this message, fail it, or stop the whole run. */
export interface FailureClass {
  kind: ErrorKind;
  scope: 'message' | 'account';
}

/**
 * The provider already classified its own errors (kind, and scope in data); anything else goes through
 * the shared classifier.
 */
export function classifyAttempt(failure: FailureInfo, err: unknown): FailureClass {
  if (isSysemailError(err)) {
    const scope = (err.data as { scope?: unknown } | undefined)?.scope;
    if (scope === 'account' || scope === 'message') return { kind: err.kind, scope };
  }
  const c = classifyFailure(failure);
  return { kind: c.kind, scope: c.scope };
}

export function failureOf(err: unknown, provider: ProviderName): FailureInfo {
  if (isSysemailError(err) && err.data && typeof err.data === 'object') {
    const { scope: _scope, ...info } = err.data as FailureInfo & { scope?: unknown };
    return { provider, ...info, response: info.response ?? err.message };
  }
  const e = err as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown };
  return {
    provider,
    code: typeof e?.code === 'string' ? e.code : undefined,
    responseCode: typeof e?.responseCode === 'number' ? e.responseCode : undefined,
    response: typeof e?.response === 'string' ? e.response : typeof e?.message === 'string' ? e.message : String(err),
  };
}
