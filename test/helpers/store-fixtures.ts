/**
 * History written straight into an SQLite store, for tests that need past attempts and failures
 * without running a send: the product writes these only through a status transition.
 */
import type { FailureInfo } from '../../src/core/failure.js';
import type { SqliteStore } from '../../src/store/index.js';
import type { NewAttempt, NewMessage } from '../../src/store/ports.js';
import { INSERT_ATTEMPT_SQL, attemptParams } from '../../src/store/sqlite/rows.js';

export function recordAttempt(store: SqliteStore, a: NewAttempt): number {
  return Number(store.sqlite.prepare(INSERT_ATTEMPT_SQL).run(attemptParams(a)).lastInsertRowid);
}

/** Marks a message failed with its last error and diagnosis, as a final failure leaves it. */
export function markFailed(store: SqliteStore, id: number, at: number, failure: FailureInfo | null, diagnosis: string | null): void {
  store.sqlite
    .prepare(
      `UPDATE messages SET status = 'failed', updated_at = @at, last_error = @failure, diagnosis = @diagnosis,
         lease_owner = NULL, lease_expires_at = NULL WHERE id = @id`,
    )
    .run({ id, at, failure: failure ? JSON.stringify(failure) : null, diagnosis });
}

/** A plain pending message number `i` (to u{i}@example.com, subject m{i}), with `extra` fields over it. */
export function queuedMessage(i: number, extra: Partial<NewMessage> = {}): NewMessage {
  return {
    status: 'pending',
    provider: null,
    from: 'app@example.com',
    to: [`u${i}@example.com`],
    cc: [],
    bcc: [],
    subject: `m${i}`,
    text: 'hi',
    attachments: [],
    ...extra,
  };
}
