/**
 * The store's ports: one interface per repository, every method async, so a server database can
 * stand behind them as well as the SQLite file. Use cases depend on these types only; the SQLite
 * implementation lives in ./sqlite/. Nothing here names a driver.
 */
import type { FailureInfo, ProviderName } from '../core/failure.js';
import type { ParamValue } from '../core/params.js';
import type { MessageStatus } from '../core/status.js';

export type { MessageStatus } from '../core/status.js';

// ---- messages and attempts ----------------------------------------------------------------------

export interface StoredAttachment {
  filename: string;
  path?: string;
  contentType?: string;
  size: number;
}

/** An attachment's bytes, for a store that keeps them in the database (PostgreSQL: any host can send the message). */
export interface AttachmentContent {
  /** Index in the message's attachments list. */
  position: number;
  filename: string;
  contentType: string | null;
  content: Buffer;
}

export interface NewMessage {
  status: MessageStatus;
  /** Provider asked for; null = the batch provider at send time. */
  provider: ProviderName | null;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  attachments: StoredAttachment[];
  headers?: Record<string, string>;
  messageId?: string;
  userId?: string;
  templateId?: string;
  org?: string;
  sizeBytes?: number;
  /** When it may be sent; defaults to now. */
  dueAt?: number;
  /** For a message sent right away: the lease owner holding it while it is sent. */
  leaseOwner?: string;
  leaseExpiresAt?: number;
}

export interface MessageRow {
  id: number;
  status: MessageStatus;
  provider: ProviderName | null;
  sentProvider: ProviderName | null;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string | null;
  subject: string;
  text: string | null;
  html: string | null;
  attachments: StoredAttachment[];
  headers: Record<string, string> | null;
  messageId: string | null;
  userId: string | null;
  templateId: string | null;
  org: string | null;
  sizeBytes: number | null;
  createdAt: number;
  dueAt: number;
  sentAt: number | null;
  updatedAt: number;
  firstAttemptAt: number | null;
  attempts: number;
  deferrals: number;
  forced: boolean;
  deferralReason: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: FailureInfo | null;
  diagnosis: string | null;
}

export interface NewAttempt {
  messageId: number;
  startedAt: number;
  endedAt?: number;
  provider: ProviderName | null;
  outcome: 'sent' | 'deferred' | 'failed' | 'throttled' | 'released';
  response?: string;
  failure?: FailureInfo;
  diagnosis?: string | null;
  leaseOwner?: string;
}

export interface AttemptRow {
  id: number;
  messageId: number;
  startedAt: number;
  endedAt: number | null;
  provider: ProviderName | null;
  outcome: string | null;
  response: string | null;
  errorCode: string | null;
  responseCode: number | null;
  enhancedCode: string | null;
  failure: FailureInfo | null;
  diagnosis: string | null;
  leaseOwner: string | null;
}

// ---- claims, leases and status transitions -----------------------------------------------------

export interface ClaimRequest {
  owner: string;
  /** The caller's clock, for due times; the lease runs on the database's. */
  now: number;
  leaseMs: number;
  /** How many messages to claim at most. */
  max: number;
  /** Lease owners known to be dead (a distributor on this host whose process is gone): their leases are taken now. */
  deadOwners?: readonly string[];
  /** The provider a message goes through. */
  providerOf(message: MessageRow): ProviderName;
  /** Per-minute limit of a provider; 0 = none. */
  limitOf(provider: ProviderName): number;
}

export interface ClaimedMessage extends MessageRow {
  via: ProviderName;
  /** Sent over the throttle limit after ten deferrals. */
  forcedSend: boolean;
}

export interface ClaimResult {
  claimed: ClaimedMessage[];
  throttled: { id: number; until: number; deferrals: number }[];
  /** Ids whose expired (or dead) lease was taken back before claiming. */
  reclaimed: number[];
  /** For each write applied before the claim: did the database accept it (the lease was the writer's)? */
  beforeAccepted: boolean[];
}

export interface Outcome {
  now: number;
  startedAt: number;
  provider: ProviderName;
  failure?: FailureInfo | null;
  diagnosis?: string | null;
}

export interface GiveBackOptions {
  now: number;
  /** Take back the attempt the claim counted. */
  uncount: boolean;
  reason: string;
  /** What happened to the one message that met the failure. */
  attempt?: { id: number } & Outcome;
}

/**
 * A status transition out of `sending`, as plain data: the distributor's writes (which may be applied
 * by another thread) and a direct send's completion alike. Only the lease owner's write is accepted,
 * and only for the claim it was made under: `attempt` is the message's attempt count that claim set
 * (the fencing token). A lease that ran out, was taken back and claimed again by the same owner has a
 * higher count, so a late write of the earlier claim changes nothing.
 */
export type QueueWrite =
  | {
      op: 'sent';
      id: number;
      owner: string;
      attempt: number;
      forced?: boolean;
      outcome: Outcome & { messageId?: string; response?: string };
    }
  | { op: 'deferred'; id: number; owner: string; attempt: number; outcome: Outcome & { dueAt: number; reason: string } }
  | { op: 'failed'; id: number; owner: string; attempt: number; outcome: Outcome }
  /** `attempts[i]` is the claim's attempt count of `ids[i]`. */
  | { op: 'giveBack'; owner: string; ids: number[]; attempts: number[]; opts: GiveBackOptions };

/** What one owner's leases still hold: messages in sending, and when the last of those leases runs out. */
export interface HeldLeases {
  count: number;
  /** Database clock, epoch ms; null when none. */
  firstExpiresAt: number | null;
  lastExpiresAt: number | null;
}

export type StatusCounts = Record<MessageStatus, number>;

// ---- distributor runs -------------------------------------------------------------------------

export interface RunRow {
  id: number;
  owner: string;
  host: string;
  pid: number;
  startedAt: number;
  endedAt: number | null;
  sent: number;
  deferred: number;
  failed: number;
  forced: number;
  errorCode: string | null;
  errorMessage: string | null;
  /** Last claim, renewal or write, on the database's clock (null for runs recorded before it was kept). */
  heartbeatAt: number | null;
  leaseMs: number | null;
  /** --watch interval; null for one pass. */
  intervalMs: number | null;
}

export interface RunCounts {
  sent: number;
  deferred: number;
  failed: number;
  forced: number;
}

export interface NewRun {
  owner: string;
  host: string;
  pid: number;
  now: number;
  leaseMs?: number;
  intervalMs?: number | null;
}

// ---- operator actions ---------------------------------------------------------------------------

export type OperatorAction = 'hold' | 'release' | 'retry' | 'delete';

/** Conditions that must all hold. */
export interface MessageFilter {
  status?: MessageStatus;
  /** Epoch ms: only messages created before. */
  createdBefore?: number;
  /** A bare address among To, Cc or Bcc, compared case-insensitively. */
  recipient?: string;
}

export type OperatorSelection = { ids: readonly number[] } | { filter: MessageFilter };

/** Result of an operator action on listed ids: what changed, and the ids refused with the reason. */
export interface BulkResult {
  changed: number[];
  missing: number[];
  refused: { id: number; status: MessageStatus }[];
}

export interface OperatorChange extends BulkResult {
  /** Attachments of deleted messages. */
  attachmentPaths: string[];
}

// ---- history ------------------------------------------------------------------------------------

export interface HistoryQuery {
  failed?: boolean;
  status?: MessageStatus;
  /** Epoch ms: only messages created at or after. */
  since?: number;
  /** A recipient (To, Cc or Bcc), compared case-insensitively. */
  to?: string;
  limit: number;
}

export interface HistoryRow {
  id: number;
  status: MessageStatus;
  provider: string | null;
  from: string;
  to: string[];
  subject: string;
  attempts: number;
  createdAt: number;
  sentAt: number | null;
  dueAt: number;
  lastError: FailureInfo | null;
  diagnosis: string | null;
  deferralReason: string | null;
}

// ---- templates and users ------------------------------------------------------------------------

export interface TemplateRow {
  id: string;
  /** '' = system template. */
  org: string;
  subject: string;
  html: string | null;
  text: string | null;
  sender: string | null;
  description: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface TemplateFields {
  subject: string;
  html?: string | null;
  text?: string | null;
  sender?: string | null;
  description?: string | null;
}

/** The application's users: where their notifications go and whom they send as. */
export interface UserRow {
  id: string;
  email: string;
  /** Replaces `email` as the From when this user sends. */
  senderEmail: string | null;
  provider: ProviderName | null;
  /** false = the user opted out of workflow notifications. */
  notifyEmail: boolean;
  name: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface UserFields {
  email: string;
  senderEmail?: string | null;
  provider?: ProviderName | null;
  notifyEmail?: boolean;
  name?: string | null;
}

// ---- diagnosis ----------------------------------------------------------------------------------

export interface ExpiredLeases {
  count: number;
  /** When the oldest of them expired (epoch ms), null when none did. */
  oldestExpiredAt: number | null;
  owners: string[];
}

export interface FailureGroup {
  /** Catalogue id, null for failures nothing known matched. */
  diagnosis: string | null;
  count: number;
  /** Distinct messages concerned. */
  messages: number;
  lastAt: number;
  /** The server's words of the most recent one. */
  lastFailure: FailureInfo | null;
}

// ---- the repositories ---------------------------------------------------------------------------

/** The administrator layer: stored parameter values. */
export interface ParamsRepo {
  all(): Promise<Map<string, ParamValue>>;
  /** Sets and unsets several keys in one write transaction: all or nothing. */
  apply(set: readonly { key: string; value: ParamValue }[], unset?: readonly string[]): Promise<void>;
}

/**
 * Messages and the queue: storing, reading and counting messages, the distributor's claims and
 * leases, and the one path for every status transition out of `sending` (`applyWrites`).
 */
export interface MessagesRepo {
  insert(m: NewMessage, now: number): Promise<number>;
  /** Stores many messages in one transaction: all or none. */
  insertMany(messages: Iterable<NewMessage>, now: number): Promise<number[]>;
  get(id: number): Promise<MessageRow | undefined>;
  attempts(messageId: number): Promise<AttemptRow[]>;
  /**
   * The stored bytes of a message's attachments, in the order of its list: only on a store that keeps
   * them (PostgreSQL); on SQLite they are spooled files, named by each attachment's path.
   */
  attachmentContents?(messageId: number): Promise<AttachmentContent[]>;
  /** The queue (every unfinished status), or the messages of one status, by due time. */
  list(opts: { status?: MessageStatus; limit: number }): Promise<MessageRow[]>;

  /**
   * Takes back expired (and dead owners') leases, claims up to `max` due messages and reserves their
   * throttle slots, in one write transaction; `before` is applied first in the same transaction.
   */
  claim(req: ClaimRequest, before?: readonly QueueWrite[]): Promise<ClaimResult>;
  /** Extends the leases `owner` still holds on `ids`; returns the ids it renewed. */
  renew(
    owner: string,
    ids: readonly number[],
    leaseMs: number,
    before?: readonly QueueWrite[],
  ): Promise<{ renewed: number[]; beforeAccepted: boolean[] }>;
  /**
   * Every status transition out of `sending`, for the distributor and a direct send alike: applied in
   * order in one transaction, each accepted only from the lease owner. Returns what was accepted.
   */
  applyWrites(writes: readonly QueueWrite[]): Promise<boolean[]>;
  /** Everything an owner still holds goes back, uncounted. Returns how many. */
  giveBackAll(owner: string, now: number, reason: string): Promise<number>;
  /** Owners holding leases right now. */
  leaseOwners(): Promise<string[]>;
  /** What `owner`'s leases still hold. */
  heldBy(owner: string): Promise<HeldLeases>;
  /** The database's clock now, which leases and heartbeats are on. */
  dbNow(): Promise<number>;

  counts(): Promise<StatusCounts>;
  /** Messages still to go: due or waiting or in flight (held ones wait for the operator). */
  remaining(): Promise<number>;
  /** Due now (what a one-pass run would still find). */
  dueCount(now: number): Promise<number>;
  /** Seconds the longest-waiting due message has been due; null when nothing is due. */
  oldestDueAgeSec(now: number): Promise<number | null>;
  /** When the next waiting message becomes due. */
  nextDueAt(): Promise<number | null>;
}

/** Distributor runs: recorded at start, their counts grow with the writes the database accepts. */
export interface RunsRepo {
  startRun(r: NewRun): Promise<number>;
  finishRun(runId: number, now: number, error?: { code: string; message: string }): Promise<void>;
  lastRun(): Promise<RunRow | null>;
}

/** The operator's hold / release / retry / delete, by ids (all or nothing) or by filter. */
export interface OperatorRepo {
  change(action: OperatorAction, selection: OperatorSelection, o: { now: number; dryRun?: boolean }): Promise<OperatorChange>;
}

/** What happened to messages, and retention. */
export interface HistoryRepo {
  list(q: HistoryQuery): Promise<HistoryRow[]>;
  /** Ids of the sent/failed messages created before `cutoff`: what a purge would delete. */
  purgeable(cutoff: number): Promise<number[]>;
  /** Deletes up to `batch` sent/failed messages created before `cutoff` in one short transaction. */
  purgeBatch(cutoff: number, batch?: number): Promise<{ deleted: number; attachmentPaths: string[] }>;
}

export interface TemplatesRepo {
  /** Exactly the template of this scope (no fallback to the system one). */
  get(id: string, org?: string): Promise<TemplateRow | undefined>;
  /** The template an organisation uses: its own if it has one, else the system one. */
  resolve(id: string, org?: string): Promise<TemplateRow | undefined>;
  /** Every template when org is undefined; otherwise the templates of that one scope. */
  list(org?: string): Promise<TemplateRow[]>;
  /** Inserts or replaces a template of one scope, keeping its creation time. */
  put(id: string, org: string, fields: TemplateFields, now: number): Promise<TemplateRow>;
  remove(id: string, org?: string): Promise<boolean>;
}

export interface UsersRepo {
  get(id: string): Promise<UserRow | undefined>;
  list(): Promise<UserRow[]>;
  /** Inserts or replaces every field of a user, keeping its creation time. */
  put(id: string, fields: UserFields, now: number): Promise<UserRow>;
  remove(id: string): Promise<boolean>;
}

/** The reads `diagnose` needs beyond the queue's own. */
export interface DiagnosisReads {
  /** Leases in sending that ran out, on the database's clock. */
  expiredLeases(): Promise<ExpiredLeases>;
  /** Attempts that ended in a failure (final or temporary) since `since`, biggest group first. */
  failuresSince(since: number): Promise<FailureGroup[]>;
}

/** One database: its repositories, its own random id (ties keychain entries to it), and closing it. */
/** Which database a store is, as `queue status` and `diagnose` show it: never a password. */
export interface BackendInfo {
  backend: 'sqlite' | 'postgresql';
  /** The engine's own version: SQLite's library, or the PostgreSQL server's. */
  version: string;
  /** The file, or the URL with its password masked. */
  location: string;
}

/**
 * Wake-ups of a distributor in --watch when another process queues a message (a server database's
 * notifications). Best effort: a wait may also end only when its time is up.
 */
export interface QueueWakeups {
  /** Resolves after `ms`, on `signal`, or as soon as a message may have become due: true when notified. */
  wait(ms: number, signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

export interface Store {
  readonly id: string;
  readonly params: ParamsRepo;
  readonly messages: MessagesRepo;
  readonly runs: RunsRepo;
  readonly operator: OperatorRepo;
  readonly history: HistoryRepo;
  readonly templates: TemplatesRepo;
  readonly users: UsersRepo;
  readonly diagnosis: DiagnosisReads;
  describe(): Promise<BackendInfo>;
  /** Listens for messages queued by other processes (PostgreSQL); absent where only polling works. */
  listen?(): Promise<QueueWakeups>;
  close(): Promise<void>;
}
