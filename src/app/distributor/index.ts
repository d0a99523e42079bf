/** The distributor batch (`queue run`): its public face. */
export { systemClock, type Clock } from '../../core/clock.js';
export { runQueue } from './run.js';
export { Cycle, type CycleContext, type RunState } from './cycle.js';
export { decideOutcome, type OutcomeDecision, type OutcomeInput, type OutcomePolicy, type SendResult } from './outcome.js';
export { classifyAttempt, failureOf, type FailureClass } from './failure.js';
export { queuedMessageId, toOutgoing } from './outgoing.js';
export { deadLocalOwners, elapsedClock, newOwner } from './owners.js';
export { InlineLane, ThreadLane, openLane, wantsThread, type ClaimSpec, type LaneKind, type QueueLane } from './lanes/index.js';
export * from './types.js';
