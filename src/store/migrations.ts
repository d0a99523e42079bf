/**
 * Forward-only schema migrations. The database's `user_version` is the number of migrations applied.
 * Append new steps at the end; never edit a step that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the whole model: parameters, the queue and its attempts, distributor runs, throttle window,
  // templates and users.
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;

  CREATE TABLE params (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,            -- JSON of the typed value
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    status           TEXT NOT NULL CHECK (status IN ('pending','sending','deferred','held','sent','failed')),
    provider         TEXT,               -- provider asked for (null = batch.provider at send time)
    sent_provider    TEXT,               -- provider that took it
    from_addr        TEXT NOT NULL,
    to_addrs         TEXT NOT NULL,      -- JSON array
    cc_addrs         TEXT NOT NULL DEFAULT '[]',
    bcc_addrs        TEXT NOT NULL DEFAULT '[]',
    reply_to         TEXT,
    subject          TEXT NOT NULL DEFAULT '',
    text_body        TEXT,
    html_body        TEXT,
    attachments      TEXT NOT NULL DEFAULT '[]',  -- JSON [{filename, path, contentType, size}]
    headers          TEXT,               -- JSON object
    message_id       TEXT,               -- RFC 5322 Message-ID, kept across retries
    user_id          TEXT,
    template_id      TEXT,
    org              TEXT,
    size_bytes       INTEGER,
    created_at       INTEGER NOT NULL,   -- epoch ms
    due_at           INTEGER NOT NULL,
    sent_at          INTEGER,
    updated_at       INTEGER NOT NULL,
    first_attempt_at INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    deferrals        INTEGER NOT NULL DEFAULT 0,   -- throttle deferrals
    forced           INTEGER NOT NULL DEFAULT 0,   -- sent over the limit after ten deferrals
    deferral_reason  TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,               -- JSON FailureInfo of the last failure
    diagnosis        TEXT                -- catalogue id of the last failure
  ) STRICT;
  CREATE INDEX messages_status_due ON messages (status, due_at);
  CREATE INDEX messages_status_created ON messages (status, created_at);
  CREATE INDEX messages_created ON messages (created_at);

  CREATE TABLE attempts (
    id             INTEGER PRIMARY KEY,
    message_id     INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER,
    provider       TEXT,
    outcome        TEXT,                 -- sent | deferred | failed | throttled | released
    response       TEXT,                 -- the server's words
    error_code     TEXT,
    response_code  INTEGER,
    enhanced_code  TEXT,
    failure        TEXT,                 -- JSON FailureInfo
    diagnosis      TEXT,
    lease_owner    TEXT
  ) STRICT;
  CREATE INDEX attempts_message ON attempts (message_id);

  CREATE TABLE throttle_sends (
    provider TEXT NOT NULL,
    sent_at  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX throttle_sends_window ON throttle_sends (provider, sent_at);

  CREATE TABLE distributor_runs (
    id            INTEGER PRIMARY KEY,
    owner         TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    sent          INTEGER NOT NULL DEFAULT 0,
    deferred      INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    forced        INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_message TEXT
  ) STRICT;
  CREATE INDEX distributor_runs_started ON distributor_runs (started_at);

  CREATE TABLE templates (
    id          TEXT NOT NULL,
    org         TEXT NOT NULL DEFAULT '',  -- '' = system template
    subject     TEXT NOT NULL,
    html_body   TEXT,
    text_body   TEXT,
    sender      TEXT,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (id, org)
  ) STRICT;

  CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    sender_email TEXT,
    provider     TEXT,
    notify_email INTEGER NOT NULL DEFAULT 1,
    name         TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
  ) STRICT;
  `,
  // 2: large bodies apart from the message row. The distributor rewrites a message's row at every
  // step (claimed, sent, deferred); with a body of a few kilobytes inside, each step rewrote whole
  // pages. Rows written before stay as they are.
  `
  ALTER TABLE messages ADD COLUMN body_apart INTEGER NOT NULL DEFAULT 0;  -- 1: text/html in message_bodies
  CREATE TABLE message_bodies (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    text_body  TEXT,
    html_body  TEXT
  ) STRICT;
  `,
  // 3: ids are never given twice. Without AUTOINCREMENT SQLite hands out max(id) + 1, so deleting the
  // newest message (queue delete, retention) let the next one take its id, and a script or an operator
  // holding the old id acted on the wrong message. The tables users see ids of are rebuilt with
  // AUTOINCREMENT; copying the rows sets sqlite_sequence to the highest id in use.
  //
  // This runs inside the migration transaction with foreign keys on, where dropping a parent table
  // deletes its children's rows (ON DELETE CASCADE). So the children are copied first into tables that
  // point at messages_new, the old tables are dropped children first, and the renames then point every
  // reference at the new messages table. `SELECT *` makes a column added by an earlier step that this
  // list lacks fail loudly instead of being lost; the guard does the same for a new child table.
  `
  CREATE TEMP TABLE migration_guard (other_tables_referencing_messages INTEGER CHECK (other_tables_referencing_messages = 0));
  INSERT INTO migration_guard
    SELECT count(*) FROM sqlite_master AS t, pragma_foreign_key_list(t.name) AS f
    WHERE t.type = 'table' AND f."table" = 'messages' AND t.name NOT IN ('attempts', 'message_bodies');
  DROP TABLE migration_guard;

  CREATE TABLE messages_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    status           TEXT NOT NULL CHECK (status IN ('pending','sending','deferred','held','sent','failed')),
    provider         TEXT,
    sent_provider    TEXT,
    from_addr        TEXT NOT NULL,
    to_addrs         TEXT NOT NULL,
    cc_addrs         TEXT NOT NULL DEFAULT '[]',
    bcc_addrs        TEXT NOT NULL DEFAULT '[]',
    reply_to         TEXT,
    subject          TEXT NOT NULL DEFAULT '',
    text_body        TEXT,
    html_body        TEXT,
    attachments      TEXT NOT NULL DEFAULT '[]',
    headers          TEXT,
    message_id       TEXT,
    user_id          TEXT,
    template_id      TEXT,
    org              TEXT,
    size_bytes       INTEGER,
    created_at       INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    sent_at          INTEGER,
    updated_at       INTEGER NOT NULL,
    first_attempt_at INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    deferrals        INTEGER NOT NULL DEFAULT 0,
    forced           INTEGER NOT NULL DEFAULT 0,
    deferral_reason  TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    diagnosis        TEXT,
    body_apart       INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  INSERT INTO messages_new SELECT * FROM messages;

  CREATE TABLE attempts_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id     INTEGER NOT NULL REFERENCES messages_new (id) ON DELETE CASCADE,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER,
    provider       TEXT,
    outcome        TEXT,
    response       TEXT,
    error_code     TEXT,
    response_code  INTEGER,
    enhanced_code  TEXT,
    failure        TEXT,
    diagnosis      TEXT,
    lease_owner    TEXT
  ) STRICT;
  INSERT INTO attempts_new SELECT * FROM attempts;

  CREATE TABLE message_bodies_new (
    message_id INTEGER PRIMARY KEY REFERENCES messages_new (id) ON DELETE CASCADE,
    text_body  TEXT,
    html_body  TEXT
  ) STRICT;
  INSERT INTO message_bodies_new SELECT * FROM message_bodies;

  CREATE TABLE distributor_runs_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    owner         TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    sent          INTEGER NOT NULL DEFAULT 0,
    deferred      INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    forced        INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_message TEXT
  ) STRICT;
  INSERT INTO distributor_runs_new SELECT * FROM distributor_runs;

  DROP TABLE attempts;
  DROP TABLE message_bodies;
  DROP TABLE messages;
  DROP TABLE distributor_runs;
  ALTER TABLE messages_new RENAME TO messages;
  ALTER TABLE attempts_new RENAME TO attempts;
  ALTER TABLE message_bodies_new RENAME TO message_bodies;
  ALTER TABLE distributor_runs_new RENAME TO distributor_runs;

  CREATE INDEX messages_status_due ON messages (status, due_at);
  CREATE INDEX messages_status_created ON messages (status, created_at);
  CREATE INDEX messages_created ON messages (created_at);
  CREATE INDEX attempts_message ON attempts (message_id);
  CREATE INDEX distributor_runs_started ON distributor_runs (started_at);
  `,
  // 4: a distributor's signs of life, so that one killed without a word (kill -9, OOM, power) can be
  // told from one still at work: the last claim, renewal or write on the database's clock, and how long
  // a live run may stay silent (its lease, its --watch interval).
  `
  ALTER TABLE distributor_runs ADD COLUMN heartbeat_at INTEGER;
  ALTER TABLE distributor_runs ADD COLUMN lease_ms INTEGER;
  ALTER TABLE distributor_runs ADD COLUMN interval_ms INTEGER;  -- null: one pass
  CREATE INDEX distributor_runs_owner ON distributor_runs (owner);
  `,
  // 5: the suppression list (addresses not sent to), and the bounce reports already recorded, so that
  // importing one twice changes nothing.
  `
  CREATE TABLE suppressions (
    address    TEXT PRIMARY KEY,         -- mailbox as given, domain in lower case
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL,            -- manual | import | refusal | bounce
    message_id INTEGER,                  -- the message whose refusal or bounce listed it
    created_at INTEGER NOT NULL,
    expires_at INTEGER                   -- null: until removed
  ) STRICT;

  CREATE TABLE bounces (
    report_key  TEXT NOT NULL,           -- the report's Message-ID, else a digest of its bytes
    recipient   TEXT NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (report_key, recipient)
  ) STRICT;
  CREATE INDEX bounces_message ON bounces (message_id);
  `,
  // 6: the DKIM signing keys: where each private key lives (a file, a command or the keychain), never
  // the key itself; the public key is kept for the DNS record and for comparing with what is published.
  `
  CREATE TABLE dkim_keys (
    domain     TEXT NOT NULL,
    selector   TEXT NOT NULL,
    algorithm  TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256','ed25519-sha256')),
    source     TEXT NOT NULL CHECK (source IN ('file','command','keychain')),
    location   TEXT,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (domain, selector)
  ) STRICT;
  `,
  // 7: templates for bulk mail carry one-click unsubscribe (RFC 8058): an https URL and a mail address
  `
  ALTER TABLE templates ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE templates ADD COLUMN unsubscribe_url TEXT;
  ALTER TABLE templates ADD COLUMN unsubscribe_mailto TEXT;
  `,
  // 8: the send governor, per (provider, sending mailbox): the administrator's limits (null: the
  // provider's default), pauses a server asked for, leased concurrency slots, and the sends of the
  // last 24 hours with their recipient counts (the per-minute window and the day's total).
  `
  CREATE TABLE governor_limits (
    provider TEXT NOT NULL, mailbox TEXT NOT NULL,
    per_minute INTEGER, concurrency INTEGER, per_day INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (provider, mailbox)
  );
  CREATE TABLE governor_pauses (
    provider TEXT NOT NULL, mailbox TEXT NOT NULL,
    until INTEGER NOT NULL, reason TEXT,
    PRIMARY KEY (provider, mailbox)
  );
  CREATE TABLE governor_slots (
    provider TEXT NOT NULL, mailbox TEXT NOT NULL,
    owner TEXT NOT NULL, message_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (provider, mailbox, owner, message_id)
  );
  CREATE TABLE governor_sends (
    provider TEXT NOT NULL, mailbox TEXT NOT NULL,
    sent_at INTEGER NOT NULL, recipients INTEGER NOT NULL
  );
  CREATE INDEX governor_sends_key ON governor_sends (provider, mailbox, sent_at);
  CREATE INDEX governor_sends_time ON governor_sends (sent_at);
  `,

  // 9: once, on time, in order. An idempotency key (unique while set) with a digest of the message it
  // was first given to; an expiry past which an unsent message fails; a priority rank (1 high, 0
  // normal, -1 low) that claims take first, read per status and rank in due order by messages_claim,
  // which replaces messages_status_due (one index less to rewrite at every status change keeps claims
  // as fast as before). Templates may carry a default priority.
  `
  ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
  ALTER TABLE messages ADD COLUMN idempotency_digest TEXT;
  ALTER TABLE messages ADD COLUMN expires_at INTEGER;
  ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0 CHECK (priority IN (-1, 0, 1));
  CREATE UNIQUE INDEX messages_idempotency ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX messages_claim ON messages (status, priority, due_at);
  DROP INDEX messages_status_due;
  CREATE INDEX messages_expiring ON messages (expires_at) WHERE expires_at IS NOT NULL AND status IN ('pending', 'deferred');
  ALTER TABLE templates ADD COLUMN priority TEXT;
  `,
];
