/**
 * Every `code` an error of sysemail can carry, with what it means: the `code` of `--json` errors
 * (`{"error":{"code":"...","message":"...","exitCode":N}}`), of history's `lastError` when the
 * failure was sysemail's own, and of `SysemailError.code`, which is typed from this list (a misspelt
 * code does not compile). The exit code comes from the error's kind, not from its code.
 * `npm run docs` writes the list into docs/error-codes.md.
 */
export const ERROR_CODES = {
  // ---- the command line ----
  USAGE: 'the command line is wrong: an unknown command or option, a missing argument, a bad option value',
  CANCELLED: 'the operator pressed Ctrl-C at a prompt (exit 130)',
  INTERNAL: 'a bug in sysemail: run again with -v and report the output',
  BODY_TWICE: '`send` was given the text body twice (--body and --body-file)',
  DATA_WITHOUT_TEMPLATE: '`send --data` gives placeholder values, but no --template was named',
  HEARTBEAT_WITHOUT_WATCH: '`queue run --heartbeat` was given without --watch',
  ID_INVALID: 'a message id is not a whole number',
  DURATION_INVALID: 'a duration (--since, --older-than) is not of the form 30m, 12h, 7d',
  STATUS_INVALID: 'an unknown message status was named (--status)',
  STATUS_NOT_APPLICABLE: 'a queue action does not apply to messages of the status named',
  SELECTION_MISSING: 'a queue action got neither message ids nor a filter (--status, --older-than, --to, --all)',
  PRIORITY_INVALID: "a priority (--priority, an import line's priority, a template's) is not high, normal or low",
  SCHEDULE_INVALID:
    'a due time or expiry (--at, --in, --expires, sendAt, expiresAt) is not an ISO 8601 time or a duration, or --at and --in were both given',
  IDEMPOTENCY_KEY_INVALID: 'an idempotency key is empty, too long or holds control characters',
  IDEMPOTENCY_NEEDS_QUEUE: 'an idempotency key was given to a message sent at once: it needs --queue (or --at/--in)',
  SELECTION_MIXED: 'a queue action got ids and filters together, or --failed with another --status',
  PARAMS_SET_PAIRS: '`params set` got an odd number of words: it takes KEY VALUE pairs',
  STDIN_SECRET_ONLY: '`params set --stdin` was given with other keys: it reads the value of one secret',
  SECRET_NEEDS_STDIN: 'a secret key was set without a value and there is no terminal to ask for it: use --stdin',
  TEST_NEEDS_RECIPIENT: '`test-email` needs --to from the rcpt step on',
  UNKNOWN_PROVIDER: 'an unknown provider was named (smtp, exchange or eml)',
  PROVIDER_INVALID: 'a provider value is not smtp, exchange or eml',
  PROVIDER_NOT_CHOSEN: 'interactive.provider is prompt, and there is no terminal to ask which provider to use',
  TEMPLATE_BODY_AND_HTML: 'a template was given two kinds of body that cannot go together',
  TEMPLATE_TWO_TEXT_BODIES: 'a template was given the plain-text body twice',
  TEMPLATE_NO_BODY: 'a new template has no body',
  USER_EMAIL_REQUIRED: 'a new user needs an email address',
  SENDER_DOMAIN_INVALID: '`diagnose sender` was given no domain and sender.default is unset, or a text that is not a domain name',

  // ---- input data ----
  INPUT_UNREADABLE: 'a file named on the command line (body, data, import file) does not exist or cannot be read',
  ATTACHMENT_UNREADABLE: 'an attachment does not exist or cannot be read',
  ADDRESS_INVALID: 'an email address is malformed',
  NO_RECIPIENT: 'the message has no recipient',
  NO_SENDER: 'the message has no sender: give --from or set sender.default',
  HEADER_CRLF: 'a header value (subject, address, header, file name) holds a line break, which could inject headers',
  HEADER_INVALID: 'a header name or a Message-ID is malformed',
  BODY_NUL: 'a message body holds a NUL character',
  MESSAGE_TOO_LARGE: 'the message is over limits.maxMessageMb once encoded',
  VALUE_NOT_ONE_LINE: 'a value that must be one line (a name, a header, a setting) holds a line break',
  VALUE_NUL: 'a value holds a NUL character',
  NOT_JSON: 'an input that must be JSON is not',
  IMPORT_NOT_JSON: 'the file given to `params import` is not JSON',
  IMPORT_INVALID: 'an import file has bad lines (`queue import`) or is not a params export (`params import`); nothing was imported',
  IMPORT_EMPTY: 'the file given to `queue import` holds no message',
  IMPORT_TOO_NEW: 'the params export was written by a newer sysemail',
  DATA_NOT_JSON: 'the placeholder values (--data) are not JSON',
  DATA_NOT_OBJECT: 'the placeholder values (--data) are not a JSON object',
  PLACEHOLDER_MISSING: 'a template placeholder has no value',
  PLACEHOLDER_VALUE_INVALID: 'a placeholder value cannot go where the template puts it (a list, an object, a line break in the subject)',
  PARAM_UNKNOWN: 'no parameter has this key',
  PARAM_INVALID: 'a parameter value is of the wrong type or out of range',
  SECRET_EMPTY: 'a secret was given an empty value',
  SECRET_MULTILINE: 'a secret was given a value of several lines',
  SCHEDULE_IN_PAST: 'a due time (--at, sendAt) is in the past',
  SCHEDULE_EXPIRES_FIRST: 'an expiry (--expires, expiresAt) is not after the due time',
  IDEMPOTENCY_CONFLICT: 'an idempotency key was used before by a message with other recipients, subject, body or attachments',
  EXPIRED: 'a queued message reached its expiry time (--expires, expiresAt) unsent: it failed with reason expired and was never sent late',
  MESSAGE_NOT_FOUND: 'no message has this id',
  MESSAGE_WRONG_STATUS: 'the message is in a status the action does not apply to (one being sent is never changed)',
  TEMPLATE_EXISTS: 'a template with this id already exists (use `template set` to change it)',
  TEMPLATE_ID_INVALID: 'a template id holds characters it may not',
  TEMPLATE_NOT_FOUND: 'no template has this id (for the organisation, nor a system one)',
  TEMPLATE_SENDER_INVALID: "a template's sender is not one valid mailbox",
  TEMPLATE_SUBJECT_EMPTY: 'a template has an empty subject',
  UNSUBSCRIBE_INVALID: 'an unsubscribe address is not an https URL (--unsubscribe-url) or a mail address (--unsubscribe-mailto)',
  TEMPLATE_SYNTAX: 'a template does not parse: an unbalanced % or a malformed placeholder',
  USER_EXISTS: 'a user with this id already exists',
  USER_ID_INVALID: 'a user id holds characters it may not',
  USER_NOT_FOUND: 'no user has this id',
  NOTIFY_EMAIL_INVALID: '--notify-email takes yes or no',
  RECIPIENT_SUPPRESSED:
    'a recipient is on the suppression list (a bounce, a permanent refusal or `suppress add`); `suppress remove ADDR` lifts it',
  SUPPRESSION_NOT_FOUND: '`suppress remove` named an address that is not on the suppression list',
  SUPPRESS_IMPORT_INVALID: 'a `suppress import` line is not an address (or address,reason); nothing was imported',
  EXPIRES_INVALID: '`suppress add --expires` is neither a duration (30d) nor an ISO 8601 time in the future',
  BOUNCES_INPUT_UNREADABLE: '`bounces import` was given a file or folder that does not exist or cannot be read',
  BOUNCES_MOVE_FAILED: '`bounces import --move-to` could not move a processed report into its folder',
  ORG_INVALID: 'an organisation id holds characters it may not',
  DB_VALUE_TOO_BIG: 'a value is too big for the database to store',
  DKIM_DOMAIN_INVALID: '`dkim` was given a domain that is not a DNS name such as example.com',
  DKIM_SELECTOR_INVALID: '`dkim` was given a selector that is not one or more DNS labels',
  DKIM_ALGORITHM_INVALID: '`dkim keygen --algorithm` names neither rsa-sha256 nor ed25519-sha256',
  DKIM_KEY_SOURCE: '`dkim add` needs exactly one of --key-file, --key-command and --stdin',
  DKIM_KEY_INVALID: 'a DKIM private key does not parse, is not RSA or Ed25519, is a public key, or is too short',
  DKIM_KEY_NOT_FOUND: 'no DKIM key is registered for this domain (and selector)',
  DKIM_OUT_EXISTS: '`dkim keygen --out` names a file that exists: it is never overwritten',

  // ---- configuration ----
  ENV_INVALID: 'an environment variable (SYSEMAIL_*) holds a value of the wrong type',
  USER_CONFIG_INVALID: 'the user config file (.emailrc, ...) is malformed or holds an unknown option',
  USER_CONFIG_UNREADABLE: 'the user config file named by --config cannot be read',
  USER_CONFIG_WRITE_FAILED: 'the provider choice could not be saved in the user config file',
  SENDER_MISSING: 'no sender address: no --from, no user sender and no sender.default',
  SENDER_INVALID: 'the sender address (From) is not one valid mailbox',
  DKIM_KEY_UNAVAILABLE: 'a registered DKIM key cannot be read from its source (file, command or keychain), so nothing is sent unsigned',
  SMTP_HOST_MISSING: 'smtp.host is not set',
  SMTP_USERNAME_MISSING: 'smtp.authRequired is on, but smtp.username is not set',
  SMTP_OAUTH_INCOMPLETE: 'smtp.authMethod is oauth2, but a client-credentials setting is missing',
  SMTP_CA_UNREADABLE: 'the file smtp.caFile names cannot be read',
  SMTP_CA_INVALID: 'the file smtp.caFile names holds no PEM certificate',
  EXCHANGE_INCOMPLETE: 'an exchange.* setting the Graph provider needs is missing',
  EML_DIR_MISSING: 'eml.outputDir has no value',
  SPOOL_DIR_MISSING: 'the folder for queued attachments has no value',
  SECRET_UNAVAILABLE: 'a password or client secret is not found: not in the keychain for this database, nor in another source',
  KEYCHAIN_UNAVAILABLE: 'the OS keychain (Secret Service) cannot be reached',
  NO_DB_ID: 'the database has no id, so no keychain account can be named',
  PG_URL_INVALID: 'the PostgreSQL URL given as the database cannot be read',
  PG_DRIVER_MISSING: 'a PostgreSQL database was named, but its driver (the pg package) is not installed',
  PG_UNAVAILABLE: 'the PostgreSQL server refuses or does not answer connections',
  PG_TEMPORARY: 'the PostgreSQL server failed for now (shutting down, out of resources, a conflict)',
  PG_HOST_NOT_FOUND: 'the host name of the PostgreSQL URL does not resolve',
  PG_AUTH_FAILED: 'the PostgreSQL server refused the user or the password',
  PG_NO_PASSWORD: 'the PostgreSQL server wants a password and none was found (URL, PGPASSWORD, ~/.pgpass)',
  PG_NO_PRIVILEGE: 'the PostgreSQL user lacks a privilege sysemail needs',
  PG_NO_DATABASE: 'the PostgreSQL database named in the URL does not exist',
  PG_TLS_UNTRUSTED: "the PostgreSQL server's certificate is not trusted",
  PG_TLS_UNSUPPORTED: 'the PostgreSQL server does not accept TLS connections',
  PG_TLS_REQUIRED: 'the PostgreSQL server accepts only TLS connections from this host (pg_hba.conf hostssl)',
  PG_TLS_FILE_INVALID: 'a TLS file named in the PostgreSQL URL holds no usable certificate or key',
  PG_TLS_FILE_UNREADABLE: 'a TLS file named in the PostgreSQL URL (sslrootcert, sslcert, sslkey) cannot be read',
  PG_QUERY_FAILED: 'a statement on the PostgreSQL database failed',
  DB_TOO_NEW: 'the database was written by a newer sysemail',

  // ---- the database and files ----
  DB_BUSY: 'the database is locked by another process for longer than the busy timeout',
  DB_CORRUPT: 'the database is damaged',
  DB_CREATE_FAILED: 'the database (or its folder) cannot be created',
  DB_FOREIGN: 'the file is an SQLite database, but not a sysemail one',
  DB_FULL: 'the disk (or the database) is full',
  DB_IOERR: 'reading or writing the database failed at the operating-system level',
  DB_NOT_A_FILE: 'the database path is a folder or another non-file',
  DB_NOT_SQLITE: 'the database path holds a file that is not SQLite',
  DB_OPEN_FAILED: 'the database cannot be opened',
  DB_NOT_OPENED: 'the database could not be opened (a bug: a store was asked for before it existed)',
  DB_READONLY: 'the database cannot be written (permissions, a read-only file system)',
  DB_UNREADABLE: 'the database file cannot be read (permissions)',
  DB_WRITE_FAILED: "the queue's writes to the database failed",
  DB_COPY_TARGET_NOT_EMPTY: '`db copy --to` names a database that already holds rows: it only fills an empty one',
  DB_COPY_SAME_DATABASE: '`db copy --to` names the database being copied',
  DB_COPY_NO_SOURCE: '`db copy` found no database to copy at the path given',
  DB_COPY_UNSUPPORTED: '`db copy --to` names a kind of database this copy cannot fill',
  DB_COPY_UNKNOWN_TABLE: 'one database of a copy has a table or column the other (or this sysemail) does not know',
  DB_COPY_ATTACHMENT_MISSING: 'a queued message to copy has an attachment whose spooled file is gone',
  OWNER_CHANGE_REFUSED: 'the database belongs to another account, and root would hand it to the wrong owner',
  SQLITE_DRIVER_MISSING: 'the SQLite driver (better-sqlite3) cannot be loaded: reinstall sysemail',
  QUEUE_THREAD_FAILED: 'the worker thread that writes the queue failed',
  EXPORT_WRITE_FAILED: '`params export --file` cannot write its file',
  SPOOL_FAILED: 'the attachments of a queued message cannot be copied into the spool folder',
  EML_WRITE_FAILED: 'the .eml file cannot be written into eml.outputDir',
  DKIM_KEY_WRITE_FAILED: '`dkim keygen --out` cannot create or write its key file',

  // ---- sending ----
  HOST_NOT_FOUND: "the mail server's name does not resolve (DNS)",
  DNS_UNREACHABLE: 'the DNS server (--dns-server, or the system resolver) does not answer, so the sender-domain checks cannot run',
  CONNECTION_REFUSED: "nothing accepts connections at the server's port",
  CONNECTION_TIMEOUT: 'connecting to the server, or its greeting, timed out',
  CONNECTION_FAILED: 'the connection to the server failed or broke off',
  SESSION_TIMEOUT: 'an SMTP session outlived smtp.sessionTimeoutSec',
  REQUEST_TIMEOUT: 'a Microsoft Graph request outlived exchange.requestTimeoutSec',
  TLS_CERT_UNTRUSTED: "the server's certificate is not trusted (self-signed, unknown CA, interception, wrong name, expired)",
  TLS_MODE_MISMATCH: 'implicit TLS against a STARTTLS port, or the reverse (smtp.security and smtp.port disagree)',
  TLS_FAILED: 'the TLS handshake failed',
  STARTTLS_UNAVAILABLE: 'smtp.security is starttls, but the server offers no STARTTLS',
  STARTTLS_REQUIRED: 'the server requires STARTTLS before it accepts anything else',
  INSECURE_AUTH_REFUSED: 'a password would be sent over a connection without TLS: refused',
  AUTH_NOT_POSSIBLE: 'a user name is configured, but the server offers no authentication method sysemail can use',
  AUTH_REFUSED: 'the server refused the sign-in (user name, password, token or policy)',
  AUTH_TEMPFAIL: 'the server could not check the sign-in for now',
  TOKEN_REFUSED: 'the identity platform refused the OAuth client-credentials request',
  TOKEN_UNREACHABLE: 'the OAuth token endpoint cannot be reached',
  SENDER_REFUSED: 'the server refused the sender (MAIL FROM)',
  SEND_AS_DENIED: 'the account may not send as this From address',
  RECIPIENT_REFUSED: 'the server refused a recipient (RCPT TO)',
  MESSAGE_REFUSED: 'the server refused the message itself (DATA)',
  SERVER_REFUSED: 'the server refused with a permanent error',
  SERVER_BUSY: 'the server refused with a temporary error (4xx): retrying later may work',
  SEND_DEFERRED: 'the send failed temporarily; the message waits for a retry',
  GOVERNOR_KEY_INVALID: 'a send governor key is not PROVIDER:MAILBOX (smtp:ops@example.com, exchange:sender@example.com)',
  GOVERNOR_LIMIT_INVALID: 'a send governor limit is not a whole number of 0 or more, or `default`',
  GOVERNOR_NOTHING_TO_SET: '`governor set` was given none of --per-minute, --concurrency, --per-day',
  OUTCOME_UNKNOWN:
    'the connection was lost after the whole message reached the server and before its reply: it may have been delivered, so it is held (queue release sends it again)',
  SEND_FAILED: 'the send failed',
  RATE_LIMITED: "the provider's sending rate or concurrency limit was hit",
  ACCOUNT_REFUSED: 'the provider refused the whole account: `queue run` stopped and left the messages queued',
  SERVER_STALLING: 'several sends in a row ran past their deadline: `queue run` stopped (exit 75)',
  NO_PROVIDER: 'a message to be sent at once has no provider (a bug)',
  NOTIFY_NO_SENDER: '`notify --now` has no way to send here (a bug)',
  GRAPH_UNREACHABLE: 'Microsoft Graph cannot be reached, or its answer was cut off',
  GRAPH_UNAVAILABLE: 'Microsoft Graph failed with a server error (5xx) or is throttling',
  GRAPH_REFUSED: 'Microsoft Graph refused the message',
  EXCHANGE_UNAUTHORIZED: 'Microsoft Graph refused the application (401/403: permission, consent or policy)',
  MAILBOX_NOT_FOUND: 'exchange.mailbox has no Exchange Online mailbox',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && Object.hasOwn(ERROR_CODES, x);
}

// ---- docs/error-codes.md, generated from the list by `npm run docs` ---------------------------------

export const ERROR_CODES_START = '<!-- error-codes:start -->';
export const ERROR_CODES_END = '<!-- error-codes:end -->';

/** The list as a Markdown table between the markers, in the order above. */
export function renderErrorCodesMarkdown(codes: Readonly<Record<string, string>>): string {
  const rows = Object.entries(codes).map(([code, description]) => `| \`${code}\` | ${description.replace(/\|/g, '\\|')} |`);
  return [ERROR_CODES_START, '| code | meaning |', '|---|---|', ...rows, ERROR_CODES_END].join('\n');
}

/** The generated section of a document, markers included; undefined when it has none. */
export function errorCodesSectionOf(doc: string): string | undefined {
  const start = doc.indexOf(ERROR_CODES_START);
  const end = doc.indexOf(ERROR_CODES_END);
  return start !== -1 && end > start ? doc.slice(start, end + ERROR_CODES_END.length) : undefined;
}

/** The document with its generated section replaced, or the section appended when it has none. */
export function withErrorCodesSection(doc: string, section: string): string {
  const start = doc.indexOf(ERROR_CODES_START);
  const end = doc.indexOf(ERROR_CODES_END);
  if (start !== -1 && end > start) return doc.slice(0, start) + section + doc.slice(end + ERROR_CODES_END.length);
  return `${doc.trimEnd()}\n\n${section}\n`;
}
