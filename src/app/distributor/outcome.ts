/**
 * What happens to a claimed message after its send: the one write for the lane, and whether the run
 * stops. Pure (no I/O, no clock of its own), so every failure class is a line in a table of tests.
 */
import { retryDecision, type BackoffPolicy } from '../../core/backoff.js';
import { DEADLINE_GRAPH, DEADLINE_SMTP } from '../../core/classify.js';
import { SysemailError, isSysemailError } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import type { ClaimedMessage, Outcome, QueueWrite } from '../../store/queue.js';
import type { FailureClass } from './failure.js';

export type DecidedMessage = Pick<ClaimedMessage, 'id' | 'attempts' | 'firstAttemptAt' | 'createdAt' | 'forcedSend' | 'via'>;

export type SendResult =
  | { sent: { messageId?: string; response?: string } }
  | { failure: FailureInfo; classification: FailureClass; diagnosis: string | null; error: unknown };

export interface OutcomePolicy {
  backoff: BackoffPolicy;
  random: () => number;
  /** Sends that ran past their deadline in a row so far, over the whole run. */
  deadlineStreak: number;
  /** That many in a row: every connection stalls, and the run stops. */
  concurrency: number;
}

export interface OutcomeInput {
  message: DecidedMessage;
  owner: string;
  startedAt: number;
  now: number;
  result: SendResult;
  policy: OutcomePolicy;
  /** The error that is already stopping the run, if one is. */
  stopping?: SysemailError;
}

export interface OutcomeDecision {
  write: QueueWrite;
  /** The streak after this send. */
  deadlineStreak: number;
  /** The run stops with this error (only when none was stopping it already). */
  stop?: SysemailError;
}

const isDeadline = (f: FailureInfo) => f.code === DEADLINE_SMTP || f.code === DEADLINE_GRAPH;

/**
 * One send past its deadline is that message's; every connection in a row is a server that stalls
 * every session (it trickles, or never ends a reply), which would hold the run for a whole deadline per
 * message: the run stops as for any "try later" of the whole account.
 */
function stallingError(streak: number, failure: FailureInfo, cause: unknown): SysemailError {
  return new SysemailError(
    'tempfail',
    'SERVER_STALLING',
    `${streak} sends in a row ran past their deadline: ${failure.response ?? 'no reply in time'}`,
    {
      fix: 'The server accepts connections but does not finish its replies: look at it with `sysemail test-email --to ADDR -v`; if it is only slow, raise the deadline',
      cause,
    },
  );
}

function accountError(cls: FailureClass, failure: FailureInfo, err: unknown): SysemailError {
  return isSysemailError(err)
    ? err
    : new SysemailError(cls.kind, 'ACCOUNT_REFUSED', failure.response ?? 'the provider refused the account', { cause: err });
}

export function decideOutcome(i: OutcomeInput): OutcomeDecision {
  const { message: m, owner, now, startedAt, policy } = i;
  if ('sent' in i.result) {
    return {
      write: {
        op: 'sent',
        id: m.id,
        owner,
        attempt: m.attempts,
        forced: m.forcedSend,
        outcome: { now, startedAt, provider: m.via, ...i.result.sent },
      },
      deadlineStreak: 0,
    };
  }
  const { failure, classification: cls, diagnosis, error } = i.result;
  const outcome: Outcome = { now, startedAt, provider: m.via, failure, diagnosis };
  const pastDeadline = isDeadline(failure);
  const deadlineStreak = pastDeadline ? policy.deadlineStreak + 1 : 0;
  const stalling = pastDeadline && deadlineStreak >= policy.concurrency;
  const accountWide = cls.scope === 'account' || stalling;
  let stop: SysemailError | undefined;
  if (!i.stopping && accountWide) stop = stalling ? stallingError(deadlineStreak, failure, error) : accountError(cls, failure, error);
  const stopping = i.stopping ?? stop;
  const decided = (write: QueueWrite): OutcomeDecision => ({ write, deadlineStreak, ...(stop ? { stop } : {}) });

  if (accountWide && cls.kind !== 'tempfail') {
    // not this message's fault: it goes back as it was, and the run stops
    return decided({
      op: 'giveBack',
      owner,
      ids: [m.id],
      attempts: [m.attempts],
      opts: { now, uncount: true, reason: `run stopped: ${stopping?.message}`, attempt: { id: m.id, ...outcome } },
    });
  }
  // A temporary refusal is retried later; when it concerns the whole account (421, network down, rate
  // limit) the run also stops, so the rest of the queue is not thrown at a server saying "later".
  if (cls.kind === 'tempfail' || cls.kind === 'internal' || cls.kind === 'ioerr') {
    const d = retryDecision(
      { attempts: m.attempts, firstAttemptAt: m.firstAttemptAt, createdAt: m.createdAt, now, retryAfterSec: failure.retryAfterSec },
      policy.backoff,
      policy.random,
    );
    if (d.action === 'retry') {
      return decided({
        op: 'deferred',
        id: m.id,
        owner,
        attempt: m.attempts,
        outcome: { ...outcome, dueAt: d.dueAt, reason: `temporary failure, retry in ${d.delaySec} s (attempt ${m.attempts})` },
      });
    }
    // past queue.maxLifetimeHours: the server's last words stay as they were
  }
  return decided({ op: 'failed', id: m.id, owner, attempt: m.attempts, outcome });
}
