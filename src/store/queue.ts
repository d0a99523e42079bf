/**
 * The queue's names where the distributor and its lanes import them: the synchronous SQLite queue
 * (./sqlite/queue.ts and the files of each concern it composes), the port types and the run counts.
 */
export { QueueRepo } from './sqlite/queue.js';
export { DB_NOW_MS } from './sqlite/rows.js';
export { MESSAGE_STATUSES } from '../core/status.js';
export { OPERATOR_RULES, addCounts, tallyOf, zeroCounts } from './rules.js';
export type {
  BulkResult,
  ClaimRequest,
  ClaimResult,
  ClaimedMessage,
  GiveBackOptions,
  HeldLeases,
  MessageFilter,
  NewRun,
  OperatorAction,
  OperatorChange,
  OperatorSelection,
  Outcome,
  QueueWrite,
  RunCounts,
  RunRow,
  StatusCounts,
} from './ports.js';
