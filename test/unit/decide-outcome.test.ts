import { describe, expect, it } from 'vitest';
import { decideOutcome, type OutcomeInput, type SendResult } from '../../src/app/distributor/outcome.js';
import type { FailureClass } from '../../src/app/distributor/failure.js';
import { DEADLINE_GRAPH, DEADLINE_SMTP } from '../../src/core/classify.js';
import { SysemailError } from '../../src/core/errors.js';
import type { FailureInfo } from '../../src/core/failure.js';
import { tallyOf } from '../../src/store/queue.js';

const HOUR = 3_600_000;
const NOW = 1_700_000_000_000;
const backoff = { minBackoffSec: 300, maxBackoffSec: 4000, maxLifetimeHours: 120 };

const message = { id: 7, attempts: 1, firstAttemptAt: NOW - 1000, createdAt: NOW - 2000, forcedSend: false, via: 'smtp' as const };

function failure(f: FailureInfo, classification: FailureClass, error: unknown = new Error(f.response ?? 'failed')): SendResult {
  return { failure: { provider: 'smtp', ...f }, classification, diagnosis: 'SOME_DIAGNOSIS', error };
}

function input(
  result: SendResult,
  over: { message?: Partial<typeof message>; streak?: number; stopping?: SysemailError; outcomeUnknown?: 'hold' | 'retry' } = {},
): OutcomeInput {
  return {
    message: { ...message, ...over.message },
    owner: 'host:1:abc',
    startedAt: NOW - 50,
    now: NOW,
    result,
    // random 0.5: no jitter, the wait before attempt 2 is exactly minBackoffSec
    policy: { backoff, random: () => 0.5, deadlineStreak: over.streak ?? 0, concurrency: 4, outcomeUnknown: over.outcomeUnknown },
    stopping: over.stopping,
  };
}

const sent: SendResult = { sent: { messageId: '<m@example.com>', response: '250 2.0.0 Ok: queued as ABC' } };
const tempRcpt = failure(
  { code: 'EENVELOPE', responseCode: 451, response: '451 4.3.0 Temporary local problem' },
  { kind: 'tempfail', scope: 'message' },
);
const deadline = (code = DEADLINE_SMTP) =>
  failure({ code, response: 'the session ran past its deadline' }, { kind: 'tempfail', scope: 'message' });
const lostAfterDot = failure(
  { code: 'ECONNECTION', phase: 'data', outcomeUnknown: true, response: 'Connection closed unexpectedly' },
  { kind: 'tempfail', scope: 'message' },
);
const authRefused = new SysemailError('noperm', 'AUTH_REFUSED', '535 5.7.8 Authentication credentials invalid', {
  data: { scope: 'account' },
});

interface Case {
  name: string;
  input: OutcomeInput;
  /** The write's op, and for a deferral its due time. */
  op: 'sent' | 'deferred' | 'failed' | 'giveBack' | 'held';
  dueAt?: number;
  /** What the write counts once the database accepts it. */
  counts: { sent: number; deferred: number; failed: number; forced: number };
  /** The error the run stops with (its code), or null when it goes on. */
  stop: string | null;
  streak: number;
}

const cases: Case[] = [
  {
    name: 'sent',
    input: input(sent, { streak: 2 }),
    op: 'sent',
    counts: { sent: 1, deferred: 0, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'sent over the throttle limit (forced)',
    input: input(sent, { message: { forcedSend: true } }),
    op: 'sent',
    counts: { sent: 1, deferred: 0, failed: 0, forced: 1 },
    stop: null,
    streak: 0,
  },
  {
    name: "the message's temporary refusal (451): deferred by the backoff",
    input: input(tempRcpt),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'a temporary refusal past queue.maxLifetimeHours: failed',
    input: input(tempRcpt, { message: { attempts: 9, firstAttemptAt: NOW - 121 * HOUR } }),
    op: 'failed',
    counts: { sent: 0, deferred: 0, failed: 1, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: "the server's Retry-After is honoured when longer than the backoff",
    input: input(
      failure(
        { responseCode: 450, response: '450 4.7.0 try again in an hour', retryAfterSec: 3600 },
        { kind: 'tempfail', scope: 'message' },
      ),
    ),
    op: 'deferred',
    dueAt: NOW + 3_600_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'a permanent refusal (550 unknown recipient, unavailable): failed',
    input: input(
      failure({ code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 User unknown' }, { kind: 'unavailable', scope: 'message' }),
    ),
    op: 'failed',
    counts: { sent: 0, deferred: 0, failed: 1, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'a message the provider refuses as bad data: failed',
    input: input(failure({ code: 'EMESSAGE', response: 'header with CR/LF' }, { kind: 'data', scope: 'message' })),
    op: 'failed',
    counts: { sent: 0, deferred: 0, failed: 1, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'a message the provider refuses as a usage error: failed',
    input: input(failure({ response: 'no recipient' }, { kind: 'usage', scope: 'message' })),
    op: 'failed',
    counts: { sent: 0, deferred: 0, failed: 1, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: "the account's configuration is missing (config): given back uncounted, the run stops",
    input: input(failure({ phase: 'config', response: 'smtp.host is not set' }, { kind: 'config', scope: 'account' })),
    op: 'giveBack',
    counts: { sent: 0, deferred: 0, failed: 0, forced: 0 },
    stop: 'ACCOUNT_REFUSED',
    streak: 0,
  },
  {
    name: "sign-in refused (noperm, the provider's own error): given back uncounted, the run stops with it",
    input: input(
      failure({ code: 'EAUTH', responseCode: 535, response: authRefused.message }, { kind: 'noperm', scope: 'account' }, authRefused),
    ),
    op: 'giveBack',
    counts: { sent: 0, deferred: 0, failed: 0, forced: 0 },
    stop: 'AUTH_REFUSED',
    streak: 0,
  },
  {
    name: 'the whole account told to try later (421): deferred, and the run stops',
    input: input(
      failure({ responseCode: 421, response: '421 4.7.0 Too many concurrent connections' }, { kind: 'tempfail', scope: 'account' }),
    ),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: 'ACCOUNT_REFUSED',
    streak: 0,
  },
  {
    name: 'an internal error: deferred (retried later)',
    input: input(failure({ response: 'unexpected' }, { kind: 'internal', scope: 'message' })),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'an I/O error (ioerr): deferred',
    input: input(failure({ code: 'EIO', response: 'cannot read the attachment' }, { kind: 'ioerr', scope: 'message' })),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'a send past its deadline below the streak: deferred, the streak grows',
    input: input(deadline(), { streak: 2 }),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 3,
  },
  {
    name: 'the streak reaching --concurrency: deferred, the run stops with SERVER_STALLING',
    input: input(deadline(), { streak: 3 }),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: 'SERVER_STALLING',
    streak: 4,
  },
  {
    name: 'a Graph request past its deadline counts in the same streak',
    input: input(deadline(DEADLINE_GRAPH), { streak: 3 }),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: 'SERVER_STALLING',
    streak: 4,
  },
  {
    name: 'outcome unknown (lost after the final dot): held for the operator, not counted',
    input: input(lostAfterDot),
    op: 'held',
    counts: { sent: 0, deferred: 0, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'outcome unknown with queue.outcomeUnknown retry: deferred by the backoff',
    input: input(lostAfterDot, { outcomeUnknown: 'retry' }),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
  {
    name: 'another failure ends the streak',
    input: input(tempRcpt, { streak: 3 }),
    op: 'deferred',
    dueAt: NOW + 300_000,
    counts: { sent: 0, deferred: 1, failed: 0, forced: 0 },
    stop: null,
    streak: 0,
  },
];

describe('decideOutcome: every failure class', () => {
  it.each(cases)('$name', (c) => {
    const d = decideOutcome(c.input);
    expect(d.write.op).toBe(c.op);
    expect(d.write.owner).toBe('host:1:abc');
    // every write carries the claim's attempt count, its fencing token
    if (d.write.op === 'giveBack') expect(d.write.attempts).toEqual([c.input.message.attempts]);
    else expect(d.write.attempt).toBe(c.input.message.attempts);
    if (c.dueAt !== undefined) expect(d.write.op === 'deferred' && d.write.outcome.dueAt).toBe(c.dueAt);
    expect(tallyOf([d.write], [true])).toEqual(c.counts);
    expect(d.stop?.code ?? null).toBe(c.stop);
    expect(d.deadlineStreak).toBe(c.streak);
  });

  it('a held write says outcome unknown and keeps the failure', () => {
    const d = decideOutcome(input(lostAfterDot));
    expect(d.write).toMatchObject({ op: 'held', id: 7, outcome: { reason: 'outcome unknown', failure: { code: 'ECONNECTION' } } });
  });

  it("a sent write carries the server's words and Message-ID, and the time it took", () => {
    const d = decideOutcome(input(sent));
    expect(d.write).toEqual({
      op: 'sent',
      id: 7,
      owner: 'host:1:abc',
      attempt: 1,
      forced: false,
      outcome: { now: NOW, startedAt: NOW - 50, provider: 'smtp', messageId: '<m@example.com>', response: '250 2.0.0 Ok: queued as ABC' },
    });
  });

  it('a deferral keeps the failure and the diagnosis, and says when and which attempt', () => {
    const d = decideOutcome(input(tempRcpt));
    expect(d.write).toMatchObject({
      op: 'deferred',
      id: 7,
      outcome: { failure: { responseCode: 451 }, diagnosis: 'SOME_DIAGNOSIS', reason: 'temporary failure, retry in 300 s (attempt 1)' },
    });
  });

  it('a give-back takes back the attempt, records what the one message met, and names the error that stops the run', () => {
    const d = decideOutcome(
      input(
        failure({ code: 'EAUTH', responseCode: 535, response: authRefused.message }, { kind: 'noperm', scope: 'account' }, authRefused),
      ),
    );
    expect(d.stop).toBe(authRefused);
    expect(d.write).toMatchObject({
      op: 'giveBack',
      ids: [7],
      opts: {
        uncount: true,
        reason: `run stopped: ${authRefused.message}`,
        attempt: { id: 7, failure: { responseCode: 535 }, diagnosis: 'SOME_DIAGNOSIS' },
      },
    });
  });

  it('an account failure while the run is already stopping gives back under the first error and raises no second one', () => {
    const first = new SysemailError('tempfail', 'ACCOUNT_REFUSED', '421 4.7.0 closing');
    const d = decideOutcome(
      input(failure({ phase: 'config', response: 'no host' }, { kind: 'config', scope: 'account' }), { stopping: first }),
    );
    expect(d.stop).toBeUndefined();
    expect(d.write).toMatchObject({ op: 'giveBack', opts: { reason: 'run stopped: 421 4.7.0 closing' } });
  });

  it("the stop error keeps the cause and the server's words", () => {
    const cause = new Error('socket hang up');
    const d = decideOutcome(
      input(failure({ responseCode: 421, response: '421 4.7.0 Try again later' }, { kind: 'tempfail', scope: 'account' }, cause)),
    );
    expect(d.stop).toMatchObject({ kind: 'tempfail', code: 'ACCOUNT_REFUSED', message: '421 4.7.0 Try again later' });
    expect(d.stop?.cause).toBe(cause);
  });

  it('is pure: the same input gives the same decision', () => {
    const i = input(tempRcpt);
    expect(decideOutcome(i)).toEqual(decideOutcome(i));
  });
});
