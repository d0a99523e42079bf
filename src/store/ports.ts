/**
 * The store's ports: one interface per repository, every method async, so a server database can
 * stand behind them as well as the SQLite file. Use cases depend on these types only; the SQLite
 * implementation lives in ./sqlite/. Nothing here names a driver.
 */
import type { DkimKeyFields, DkimKeyRow } from '../core/dkim.js';
import type { FailureInfo, ProviderName } from '../core/failure.js';
import type { GovernorKey, KeyLimits, LimitOverrides, MailboxRule } from '../core/governor.js';
import type { ParamValue } from '../core/params.js';
import type { MessageStatus } from '../core/status.js';
import type { Priority } from '../core/delivery.js';
import type { CopyBatch, CopyCounts, CopyTable } from './copy.js';
import type { SuppressionEntry, SuppressionSource } from '../core/suppression.js';

export type { MessageStatus } from '../core/status.js';
export type { SuppressionEntry, SuppressionSource } from '../core/suppression.js';
export type { DkimKeyFields, DkimKeyRow } from '../core/dkim.js';

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
  /** Failed as expired when still unsent then (caller's clock, as due times). */
  expiresAt?: number;
  /** Rank claims take first: 1 high, 0 normal (default), -1 low. */
  priority?: number;
  /** A second message with this key is not stored again (see MessagesRepo.insertOnce). */
  idempotencyKey?: string;
  /** What makes a message with the same key the same message (core/delivery.ts messageDigest). */
  idempotencyDigest?: string;
}

/** What insertOnce did: stored the message, or found the key's first message (the same, or another one). */
export type InsertOnceResult = { id: number; duplicate: false } | { id: number; duplicate: true; sameMessage: boolean };

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
  expiresAt: number | null;
  /** 1 high, 0 normal, -1 low. */
  priority: number;
  idempotencyKey: string | null;
}

export interface NewAttempt {
  messageId: number;
  startedAt: number;
  endedAt?: number;
  provider: ProviderName | null;
  outcome: 'sent' | 'deferred' | 'failed' | 'throttled' | 'released' | 'held' | 'bounced';
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
  /**
   * The send governor: limits per (provider, sending mailbox) replace the per-provider window. Each
   * key's limits are the administrator's (governor set) over its provider's defaults here.
   */
  governor?: GovernorClaim;
}

/** What a claim needs to govern its messages: plain data (it crosses to the worker thread). */
export interface GovernorClaim {
  rule: MailboxRule;
  defaults: Partial<Record<ProviderName, KeyLimits>>;
}

export interface ClaimedMessage extends MessageRow {
  via: ProviderName;
  /** Sent over the throttle limit after ten deferrals. */
  forcedSend: boolean;
  /** The governor key it is sent under (`smtp:ops@example.com`), when governed. */
  governorKey?: string;
  /** Concurrent sends its key allows (0 or absent: no limit): a slot is held while it is sent. */
  slotLimit?: number;
}

export interface ClaimResult {
  claimed: ClaimedMessage[];
  throttled: { id: number; until: number; deferrals: number }[];
  /** Ids whose expired (or dead) lease was taken back before claiming. */
  reclaimed: number[];
  /** Ids of due messages past their expiry, failed as expired by this claim instead of being claimed. */
  expired?: number[];
  /** For each write applied before the claim: did the database accept it (the lease was the writer's)? */
  beforeAccepted: boolean[];
  /** Claimed messages failed at once because a recipient is on the suppression list (never sent). */
  suppressed?: number[];
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
      /** Recipients the server refused for good: added to the suppression list with the write. */
      suppress?: SuppressionEntry[];
    }
  | { op: 'deferred'; id: number; owner: string; attempt: number; outcome: Outcome & { dueAt: number; reason: string } }
  | { op: 'failed'; id: number; owner: string; attempt: number; outcome: Outcome & { reason?: string }; suppress?: SuppressionEntry[] }
  /** Held for the operator (outcome unknown: the message may have been delivered). */
  | { op: 'held'; id: number; owner: string; attempt: number; outcome: Outcome & { reason: string } }
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
  /** Bulk mail (newsletters, campaigns): needs one-click unsubscribe. */
  bulk: boolean;
  /** The https one-click unsubscribe URL (may hold placeholders). */
  unsubscribeUrl: string | null;
  /** The unsubscribe mail address or mailto: URI (may hold placeholders). */
  unsubscribeMailto: string | null;
  /** The priority of the messages it makes, unless the caller names one; null = normal. */
  priority: Priority | null;
  createdAt: number;
  updatedAt: number;
}

export interface TemplateFields {
  subject: string;
  html?: string | null;
  text?: string | null;
  sender?: string | null;
  description?: string | null;
  bulk?: boolean;
  unsubscribeUrl?: string | null;
  unsubscribeMailto?: string | null;
  priority?: Priority | null;
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

// ---- the send governor --------------------------------------------------------------------------

export interface GovernorLimitRow extends GovernorKey, LimitOverrides {
  updatedAt: number;
}

/** One key's use right now. */
export interface GovernorUseRow extends GovernorKey {
  /** Sends counted in the last 60 seconds. */
  lastMinute: number;
  /** Recipients sent to in the last 24 hours. */
  last24hRecipients: number;
  /** Slots held (sends in progress) whose lease has not run out. */
  slots: number;
  pausedUntil: number | null;
  pauseReason: string | null;
}

/** Per-mailbox limits, pauses, slots and use, shared by every run and host. */
export interface GovernorRepo {
  /** The administrator's limits, by key. */
  limits(): Promise<GovernorLimitRow[]>;
  /** Sets the given limits of a key (null: back to its provider's default), keeping the others. */
  setLimits(key: GovernorKey, limits: Partial<LimitOverrides>, now: number): Promise<void>;
  /** Forgets a key's limits and lifts its pause; false when there was neither. */
  reset(key: GovernorKey): Promise<boolean>;
  /** Pauses a key for `pauseMs` from `now` (a longer pause already set stays). */
  pause(key: GovernorKey, o: { now: number; pauseMs: number; reason: string }): Promise<void>;
  /**
   * Takes one of a key's `limit` slots for a message, leased for `leaseMs` on the database's clock
   * (slots whose lease ran out are taken back first); false when all are held.
   */
  acquireSlot(key: GovernorKey, o: { owner: string; messageId: number; limit: number; leaseMs: number }): Promise<boolean>;
  releaseSlot(key: GovernorKey, owner: string, messageId: number): Promise<void>;
  /** Every key with limits, a pause, a slot or a send in the last 24 hours, and its use. */
  use(now: number): Promise<GovernorUseRow[]>;
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
  /**
   * Stores `m` unless a message created since `since` holds its idempotency key: then answers that
   * message's id, and whether its digest is `m`'s. One transaction, safe against concurrent callers
   * (a unique index on the key); a key whose first message is older than `since` is taken over.
   */
  insertOnce(m: NewMessage & { idempotencyKey: string; idempotencyDigest: string }, now: number, since: number): Promise<InsertOnceResult>;
  /** Stores many messages in one transaction: all or none. */
  insertMany(messages: Iterable<NewMessage>, now: number): Promise<number[]>;
  /**
   * insertMany where a message with an idempotency key held by a message created since `keysSince`
   * (before, or earlier in the same list) is not stored again: its place in the answer holds that
   * message's id, as insertOnce answers.
   */
  insertManyOnce(
    messages: Iterable<NewMessage>,
    now: number,
    keysSince: number,
    /**
     * A key held by another message (a different digest): the error this returns is thrown, and nothing
     * is stored. `at` is the refused message's place in `messages`.
     */
    refuse: (m: NewMessage, firstId: number, at: number) => Error,
  ): Promise<InsertOnceResult[]>;
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
  /** The latest run of each host, newest first (at most `limit` hosts). */
  lastRunPerHost(limit?: number): Promise<RunRow[]>;
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

/**
 * The DKIM signing keys: domain, selector, algorithm, where the private key lives and the public key.
 * The private key itself is never here.
 */
export interface DkimKeysRepo {
  /** Every key, or the keys of one domain, by domain then selector. */
  list(domain?: string): Promise<DkimKeyRow[]>;
  /** Inserts or replaces the key of (domain, selector), keeping its creation time. */
  put(fields: DkimKeyFields, now: number): Promise<DkimKeyRow>;
  /** Removes the domain's key of this selector, or every key of the domain; returns the rows removed. */
  remove(domain: string, selector?: string): Promise<DkimKeyRow[]>;
}

/** The reads `diagnose` needs beyond the queue's own. */
export interface DiagnosisReads {
  /** Leases in sending that ran out, on the database's clock. */
  expiredLeases(): Promise<ExpiredLeases>;
  /** Attempts that ended in a failure (final or temporary) since `since`, biggest group first. */
  failuresSince(since: number): Promise<FailureGroup[]>;
}

// ---- copying a whole database (db copy) ---------------------------------------------------------

/** A consistent snapshot of a database, read table by table (./copy.ts says which tables and columns). */
export interface CopySource {
  /** Rows per table, and the next id each table with generated ids would hand out (never below max + 1). */
  survey(): Promise<{ counts: CopyCounts; nextIds: Partial<Record<CopyTable, number>> }>;
  /** The rows, parents before their children, in batches of about `size` rows. */
  batches(size: number): AsyncIterable<CopyBatch>;
  /** Ends the snapshot. */
  close(): Promise<void>;
}

/** An empty database that takes a whole copy in one transaction: all of it, or nothing. */
export interface CopyTarget {
  /**
   * Refuses (DB_COPY_TARGET_NOT_EMPTY, nothing written) unless every table is empty, then loads every
   * batch and moves the id sequences past `nextIds`, in one transaction. Returns the rows loaded.
   */
  load(
    source: { nextIds: Partial<Record<CopyTable, number>>; batches: AsyncIterable<CopyBatch> },
    onRows?: (table: CopyTable, rows: number) => void,
  ): Promise<CopyCounts>;
}

// ---- suppression list and bounces -------------------------------------------------------------------

export interface SuppressionRow {
  /** The key (suppressionKey): mailbox as given, domain in lower case. */
  address: string;
  reason: string;
  source: SuppressionSource;
  messageId: number | null;
  createdAt: number;
  /** null = until removed. */
  expiresAt: number | null;
}

/** A delivery status notification's verdict on one recipient of one message sent from this database. */
export interface BounceRecord {
  /** What makes the report itself unique (its Message-ID, else a digest of its bytes): a second import changes nothing. */
  reportKey: string;
  messageId: number;
  recipient: string;
  /** RFC 3464 Action: failed, delayed, ... */
  action: string;
  /** RFC 3463 status, e.g. 5.1.1. */
  status: string;
  /** The remote server's words (Diagnostic-Code), and who said them (Remote-MTA / Reporting-MTA). */
  failure: FailureInfo;
  diagnosis: string | null;
  /** When the report says it happened (Arrival-Date / Date), else the import time. */
  at: number;
  /** The message becomes failed (a sent message's delivery failed for good). */
  final: boolean;
  /** The recipient goes on the suppression list (a hard bounce; a delay is only recorded). */
  suppress?: SuppressionEntry;
}

/** Addresses that are not sent to, and the bounce reports that put some of them there. */
export interface SuppressionsRepo {
  /** Entries in effect at `now` (expired ones are left out), by address. */
  list(now: number): Promise<SuppressionRow[]>;
  /** The entries in effect at `now` for these keys (suppressionKey). */
  find(addresses: readonly string[], now: number): Promise<SuppressionRow[]>;
  /**
   * Adds or renews entries in one transaction, all or none. A lasting entry is not shortened by a
   * soft one for the same address; an expired one is replaced. Returns how many were written.
   */
  add(entries: readonly SuppressionEntry[], now: number): Promise<number>;
  /** Lifts the entry for one key; false when there was none. */
  remove(address: string): Promise<boolean>;
  /**
   * Records a bounce: an attempt row with the remote server's words, a hard bounce's message failed
   * and its recipient suppressed, all in one transaction. 'duplicate' when this report's verdict on
   * this recipient was recorded before (nothing changes); 'missing' when the message is not here.
   */
  recordBounce(b: BounceRecord, now: number): Promise<'recorded' | 'duplicate' | 'missing'>;
  /** The message whose RFC 5322 Message-ID this is, if one is in this database. */
  messageByMessageId(messageId: string): Promise<number | undefined>;
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
  readonly dkim: DkimKeysRepo;
  readonly diagnosis: DiagnosisReads;
  readonly governor: GovernorRepo;
  readonly suppressions: SuppressionsRepo;
  describe(): Promise<BackendInfo>;
  /** A snapshot to copy from (db copy). */
  copySource?(): Promise<CopySource>;
  /** This database as the target of a copy. */
  copyTarget?(): CopyTarget;
  /** Listens for messages queued by other processes (PostgreSQL); absent where only polling works. */
  listen?(): Promise<QueueWakeups>;
  close(): Promise<void>;
}
