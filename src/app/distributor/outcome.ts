/**
 * What happens to a claimed message after its send: the one write for the lane, and whether the run
 * stops. Pure (no I/O, no clock of its own), so every failure class is a line in a table of tests.
 */
import { retryDecision, type BackoffPolicy } from '../../core/backoff.js';
import { DEADLINE_GRAPH, DEADLINE_SMTP } from '../../core/classify.js';
import { SysemailError, isSysemailError } from '../../core/errors.js';
import type { FailureInfo } from '../../core/failure.js';
import { OUTCOME_UNKNOWN_REASON } from '../../core/status.js';
import { DEFAULT_SOFT_EXPIRY_DAYS, suppressionsAfter, type RecipientRefusal } from '../../core/suppression.js';
import type { ClaimedMessage, Outcome, QueueWrite } from '../../store/queue.js';
import type { FailureClass } from './failure.js';

export type DecidedMessage = Pick<ClaimedMessage, 'id' | 'attempts' | 'firstAttemptAt' | 'createdAt' | 'forcedSend' | 'via'> &
  Partial<Pick<ClaimedMessage, 'to' | 'cc' | 'bcc'>>;

export type SendResult =
  | { sent: { messageId?: string; response?: string; refused?: RecipientRefusal[] } }
  | {
      failure: FailureInfo;
      classification: FailureClass;
      diagnosis: string | null;
      error: unknown;
      /** The reply asked to slow down and paused the message's governor key this long (seconds). */
      pauseSec?: number;
    };

export interface OutcomePolicy {
  backoff: BackoffPolicy;
  random: () => number;
  /** Sends that ran past their deadline in a row so far, over the whole run. */
  deadlineStreak: number;
  /** That many in a row: every connection stalls, and the run stops. */
  concurrency: number;
  /** queue.outcomeUnknown: a message that may have been delivered is held (default) or retried. */
  outcomeUnknown?: 'hold' | 'retry';
  /** How long a soft refusal (a full mailbox) keeps a recipient on the suppression list. */
  softSuppressionMs?: number;
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
    const { refused, ...sent } = i.result.sent;
    const suppress = refusedRecipients(i, { refused });
    return {
      write: {
        op: 'sent',
        id: m.id,
        owner,
        attempt: m.attempts,
        forced: m.forcedSend,
        outcome: { now, startedAt, provider: m.via, ...sent },
        ...(suppress.length > 0 ? { suppress } : {}),
      },
      deadlineStreak: 0,
    };
  }
  const { failure, classification: cls, diagnosis, error } = i.result;
  const outcome: Outcome = { now, startedAt, provider: m.via, failure, diagnosis };
  // "slow down" concerns one mailbox, now paused for every run: this message goes again when the
  // pause ends, and the run goes on with the other mailboxes
  if (i.result.pauseSec !== undefined && cls.kind === 'tempfail') {
    const reason = `paused: the server asked to slow down for ${i.result.pauseSec} s (attempt ${m.attempts})`;
    return {
      write: {
        op: 'deferred',
        id: m.id,
        owner,
        attempt: m.attempts,
        outcome: { ...outcome, dueAt: now + i.result.pauseSec * 1000, reason },
      },
      deadlineStreak: 0,
    };
  }
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
  // The whole message reached the server and its reply never came: it may have been delivered, so
  // it is not sent again without the operator (queue release sends it, queue delete drops it).
  if (failure.outcomeUnknown && (policy.outcomeUnknown ?? 'hold') === 'hold') {
    return decided({ op: 'held', id: m.id, owner, attempt: m.attempts, outcome: { ...outcome, reason: OUTCOME_UNKNOWN_REASON } });
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
  const suppress = refusedRecipients(i, { failure });
  return decided({ op: 'failed', id: m.id, owner, attempt: m.attempts, outcome, ...(suppress.length > 0 ? { suppress } : {}) });
}

/** The recipients this attempt's server refused for good, for the suppression list. */
function refusedRecipients(i: OutcomeInput, attempt: { failure?: FailureInfo; refused?: RecipientRefusal[] }) {
  const m = i.message;
  return suppressionsAfter(
    { ...attempt, recipients: [...(m.to ?? []), ...(m.cc ?? []), ...(m.bcc ?? [])] },
    { messageId: m.id, now: i.now, softExpiryMs: i.policy.softSuppressionMs ?? DEFAULT_SOFT_EXPIRY_DAYS * 86_400_000 },
  );
}
