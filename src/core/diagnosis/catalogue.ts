/**
 * The diagnosis catalogue: every known cause of a failed send, what it means, what to do, and the
 * rules that recognise it. Pure data; the matcher lives in match.ts.
 */
import type { FailurePhase } from '../failure.js';
import { secretSources } from '../params.js';

/** Every id the contract promises, in the contract's order (also the tie-break order of the matcher). */
export const DIAGNOSIS_IDS = [
  'SINGLE_LABEL_DOMAIN',
  'MAILBOX_FULL',
  'AUTH_POLICY_BLOCKED',
  'SMTP_AUTH_DISABLED',
  'BASIC_AUTH_DISABLED',
  'AUTH_NOT_SUPPORTED',
  'NOT_AUTHENTICATED',
  'STARTTLS_REQUIRED',
  'SECRET_UNAVAILABLE',
  'SEND_AS_DENIED',
  'EXCHANGE_UNAUTHORIZED',
  'MAILBOX_NOT_FOUND',
  'USERNAME_FORMAT',
  'BAD_CREDENTIALS',
  'APP_PASSWORD_REQUIRED',
  'RELAY_DENIED',
  'TLS_MODE_MISMATCH',
  'TLS_CERT_UNTRUSTED',
  'HOST_NOT_FOUND',
  'CONNECTION_REFUSED',
  'CONNECTION_TIMEOUT',
  'RATE_LIMITED',
  'MESSAGE_TOO_LARGE',
  'RECIPIENT_UNKNOWN',
  'SENDER_REJECTED',
  // beyond the contract's list
  'STARTTLS_UNAVAILABLE',
  'MESSAGE_REJECTED_AS_SPAM',
] as const;

export type DiagnosisId = (typeof DIAGNOSIS_IDS)[number];

/**
 * How an entry is recognised. Codes come first, wording second, as the matcher scores them.
 *
 * A code listed by several entries is ambiguous on its own (535 5.7.139, 530 5.7.0, 550 5.7.1), so the
 * matcher weighs it less; within such a list, put the code most characteristic of the entry first.
 * Patterns must not carry the `g` or `y` flag (they are reused and must stay stateless).
 */
export interface DiagnosisRules {
  /** SMTP reply codes. Only codes that say something: 550/553/554 alone tell nothing and are not listed. */
  readonly responseCodes?: readonly number[];
  /** RFC 3463 enhanced status codes: exact ("5.7.139") or a prefix written "4.7.*". */
  readonly enhancedCodes?: readonly string[];
  /** nodemailer / Node / OpenSSL error codes (err.code). */
  readonly errorCodes?: readonly string[];
  /** Microsoft Graph error.code values. */
  readonly graphCodes?: readonly string[];
  /** HTTP statuses of Graph or token endpoint replies. */
  readonly httpStatuses?: readonly number[];
  /** Transaction phases that by themselves point to this entry. */
  readonly phases?: readonly FailurePhase[];
  /** Wording that names this cause. A hit outranks any code-only match. */
  readonly text?: readonly RegExp[];
  /** Wording that makes this cause plausible without naming it: listed, but after entries named by text. */
  readonly hints?: readonly RegExp[];
  /** Wording that shows a more specific cause is present: the entry's own wording then counts only weakly. */
  readonly notWhen?: readonly RegExp[];
}

export interface CatalogueEntry {
  readonly id: DiagnosisId;
  readonly title: string;
  /** What is going on. */
  readonly explanation: string;
  /** What to do, naming the sysemail command or parameter where one applies. */
  readonly fix: string;
  /** Whether sending the same message again later, unchanged, may succeed. */
  readonly retryable: boolean;
  readonly rules: DiagnosisRules;
}

// A down-level logon name (CONTOSO\jdoe) where a user name or SMTP address is expected. The leading
// context word keeps escaped text ("...\n...") and Windows paths from looking like one.
const DOWN_LEVEL_USER = /(?:\buser(?:\s?name)?|\blogin|\baccount|SmtpAddress>)[\s:='"<]{0,4}[A-Za-z][\w-]{0,14}\\[\w.$-]+/i;

// Any 535/534 reply means an AUTH attempt was answered; a "not authenticated" reply later in the same
// text is then a consequence, not the cause.
const AUTH_REPLY = /\b53[45][ :-]+5\.7\.\d{1,3}\b/;

const SENDING_QUOTA = /sending (?:quota|limit)|submission ?quota|message quota|recipient rate|daily (?:user )?sending/i;

export const catalogue: readonly CatalogueEntry[] = [
  {
    id: 'SINGLE_LABEL_DOMAIN',
    title: 'Recipient domain has no dot',
    explanation:
      'A recipient address ends in a bare name such as user@contoso instead of a fully qualified domain. ' +
      'Internet mail is routed by DNS on full domain names, so Microsoft 365, Postfix and Gmail refuse such ' +
      'an address before anything is delivered.',
    fix:
      'Correct the address to its full domain (user@contoso.com) in the message, template or user record, ' +
      'then resend it with `sysemail queue retry ID`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.1.6'],
      errorCodes: ['EENVELOPE'],
      text: [/single[- ]label domains?/i, /Recipient address rejected: need fully[- ]qualified (?:address|domain)/i],
      // An address in angle brackets whose domain is one label (<jdoe@contoso>).
      hints: [/<[^\s<>@"]+@[A-Za-z0-9-]+>/],
    },
  },
  {
    id: 'MAILBOX_FULL',
    title: 'Recipient mailbox is full',
    explanation:
      'The receiving server knows the address, but the mailbox has used up its storage quota and takes no ' +
      'new mail until its owner frees space.',
    fix:
      'Nothing to change in sysemail. Reach the recipient another way or use another address. A temporary ' +
      'refusal (4.2.2) is retried by the distributor on its own; after a permanent one, resend later with ' +
      '`sysemail queue retry ID`.',
    retryable: true,
    rules: {
      enhancedCodes: ['5.2.2', '4.2.2'],
      responseCodes: [552],
      errorCodes: ['EENVELOPE'],
      text: [
        /mailbox (?:is )?full|full mailbox|mailbox full|mailbox size limit/i,
        /over ?quota|quota exceeded|exceeded (?:its |the )?(?:storage|quota)/i,
        /out of storage space|insufficient storage for (?:this )?user/i,
        /QuotaExceeded(?:Exception)?/,
      ],
      notWhen: [SENDING_QUOTA],
    },
  },
  {
    id: 'AUTH_POLICY_BLOCKED',
    title: 'Sign-in blocked by an identity policy',
    explanation:
      'The password may well be right, but the tenant refused the sign-in because a policy asks for more ' +
      'than a password: multi-factor authentication, a Conditional Access rule, or security defaults. An ' +
      'unattended SMTP client cannot satisfy any of these.',
    fix:
      'Ask the Microsoft 365 administrator to exclude this service account from the policy (or from ' +
      'security defaults), or stop signing in with a password: `sysemail params set smtp.authMethod oauth2` ' +
      'with an app registration, or `sysemail params set batch.provider exchange`. Check the sign-in with ' +
      '`sysemail test-email --to ADDR --quit-after auth -v`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.139'],
      errorCodes: ['EAUTH'],
      text: [
        /did not meet the criteria to be authenticated/i,
        /security defaults policy|locked by your organi[sz]ation/i,
        /conditional access/i,
        /organi[sz]ation configuration does not allow this authentication/i,
        /AADSTS(?:53003|53000|50076|50079|50158)\b/,
        /multi-?factor authentication/i,
      ],
    },
  },
  {
    id: 'SMTP_AUTH_DISABLED',
    title: 'SMTP AUTH is switched off for the mailbox or tenant',
    explanation:
      'Exchange Online accepts authenticated SMTP submission only when SMTP AUTH is allowed for the ' +
      'organisation and not disabled on the mailbox. Here it is disabled, so every sign-in over SMTP fails, ' +
      'whatever the credentials or sign-in method.',
    fix:
      'Have an Exchange administrator enable authenticated SMTP for the sending mailbox ' +
      '(Set-CASMailbox ADDR -SmtpClientAuthenticationDisabled $false) or the organisation ' +
      '(Set-TransportConfig -SmtpClientAuthenticationDisabled $false), or send through Microsoft Graph ' +
      'instead: `sysemail params set batch.provider exchange`. Then run ' +
      '`sysemail test-email --to ADDR --quit-after auth -v`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.139'],
      errorCodes: ['EAUTH'],
      text: [
        /SmtpClientAuthentication(?:Disabled)? is disabled|SmtpClientAuthenticationDisabled/i,
        /smtp_auth_disabled/i,
        /SMTP ?AUTH(?:entication)? (?:is )?(?:disabled|not enabled|switched off)/i,
        /SMTP (?:access|submission) (?:is )?(?:disabled|not enabled)/i,
      ],
    },
  },
  {
    id: 'BASIC_AUTH_DISABLED',
    title: 'Password (basic) authentication is turned off',
    explanation:
      'The provider no longer accepts a user name and password over SMTP for this account: basic ' +
      'authentication has been retired, or an authentication policy blocks it. App passwords travel the same ' +
      'way and fail the same way.',
    fix:
      'Switch to token sign-in: `sysemail params set smtp.authMethod oauth2`, set smtp.oauth.tenantId and ' +
      'smtp.oauth.clientId, and store the secret with `sysemail params set smtp.oauth.clientSecret --stdin`; ' +
      'or send through Microsoft Graph with `sysemail params set batch.provider exchange`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.139', '5.7.30'],
      errorCodes: ['EAUTH'],
      text: [
        /basic auth(?:entication)? (?:is |has been )?(?:disabled|blocked|retired|turned off|deprecated)/i,
        /basic auth(?:entication)? is not (?:supported|allowed|enabled)/i,
      ],
    },
  },
  {
    id: 'AUTH_NOT_SUPPORTED',
    title: 'Server offers no authentication here',
    explanation:
      'A user name is configured, so sysemail signs in, but the server does not offer AUTH (or not this ' +
      'mechanism) on this connection. Many servers offer AUTH only after STARTTLS; a local relay may not ' +
      'support it at all.',
    fix:
      'If the server expects a login, encrypt the session first: `sysemail params set smtp.security starttls` ' +
      '(port 587) or `sysemail params set smtp.security tls` (port 465). If it is a relay that trusts your ' +
      'network instead, stop signing in: `sysemail params set smtp.authRequired false` and ' +
      '`sysemail params unset smtp.username`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.4'],
      responseCodes: [504],
      errorCodes: ['EAUTH'],
      text: [
        /authentication not enabled/i,
        /AUTH command used when not advertised/i,
        /Unrecognized authentication type/i,
        /AUTH(?: mechanism)?(?: [A-Z0-9-]+)? not available/,
        /No authentication mechan\w* (?:supported|available)/i,
        /(?:does not|doesn't) support authentication|authentication (?:is )?not supported/i,
        /(?:offers|advertises|advertised|announced) no AUTH|AUTH (?:is )?not (?:offered|advertised|announced)/i,
      ],
    },
  },
  {
    id: 'NOT_AUTHENTICATED',
    title: 'Server requires you to sign in',
    explanation:
      'The server refused to take mail because the session is not signed in: no credentials are ' +
      'configured, or the sign-in was skipped or failed earlier in the session.',
    fix:
      'Configure a login: `sysemail params set smtp.authRequired true`, ' +
      '`sysemail params set smtp.username user@contoso.com` and `sysemail params set smtp.password --stdin`, ' +
      'then check it with `sysemail test-email --to ADDR --quit-after auth -v`. If the sign-in itself fails ' +
      'there, follow that diagnosis.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.57', '5.7.0', '5.7.1'],
      responseCodes: [530],
      text: [
        // .NET wraps every 5.7.x refusal in "...or the client was not authenticated"; that alone proves nothing.
        /(?<!or the client was )\bnot authenticated\b/i,
        /authentication (?:is )?required/i,
        /SMTP auth(?:entication)? (?:is )?required/i,
        /Unauthenticated senders? not allowed/i,
        /Sender address rejected: not logged in/i,
        /(?:you )?must (?:be )?authenticate/i,
      ],
      hints: [/requires a secure connection or the client was not authenticated/i],
      notWhen: [AUTH_REPLY],
    },
  },
  {
    id: 'STARTTLS_REQUIRED',
    title: 'Server requires STARTTLS first',
    explanation:
      'The server will not go on over an unencrypted session: AUTH or MAIL was sent before the connection ' + 'was upgraded with STARTTLS.',
    fix:
      '`sysemail params set smtp.security starttls` (normally with `sysemail params set smtp.port 587`), or ' +
      'implicit TLS with `sysemail params set smtp.security tls` on port 465. Keep `smtp.security none` for ' +
      'local relays only.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.0'],
      responseCodes: [530],
      errorCodes: ['ETLS'],
      text: [
        /Must issue a STARTTLS command first/i,
        /STARTTLS (?:is )?required|Require STARTTLS/i,
        /(?:TLS|encryption) required|must use (?:STARTTLS|TLS)/i,
      ],
      // .NET's wrapper says "requires a secure connection" for any 5.7.x refusal, failed sign-ins included.
      hints: [/requires a secure connection/i],
      notWhen: [AUTH_REPLY],
    },
  },
  {
    id: 'SECRET_UNAVAILABLE',
    title: 'The password or client secret cannot be read',
    explanation:
      'sysemail could not obtain the secret it needs: the OS keychain is not running or not reachable, it ' +
      'holds no entry for this database (secrets are tied to the database id, so a database copied from ' +
      'another machine finds none), the password file is unreadable or too open, or the password command ' +
      'failed.',
    fix:
      'Store the secret again on this machine: `sysemail params set smtp.password --stdin` (or ' +
      'smtp.oauth.clientSecret / exchange.clientSecret). On a server without a keychain use ' +
      `${secretSources('smtp.password').env}, \`sysemail params set smtp.passwordCommand CMD\` or a \`smtp.passwordFile\` with ` +
      'mode 0600; the client secrets have their own (`exchange.clientSecretCommand`, ' +
      '`exchange.clientSecretFile`, `smtp.oauth.clientSecretCommand`, `smtp.oauth.clientSecretFile`). ' +
      '`sysemail diagnose --offline` shows which source failed.',
    retryable: false,
    rules: {
      // sysemail's own codes (src/secrets): a secret error is never anything else
      errorCodes: ['SECRET_UNAVAILABLE', 'KEYCHAIN_UNAVAILABLE'],
      phases: ['secret'],
      text: [
        /keychain|keyring|keytar|libsecret|Secret Service/i,
        /org\.freedesktop\.secrets|Cannot autolaunch D-Bus/i,
        /password ?command|passwordeval|password ?file|clientSecret(?:Command|File)\b/i,
        /(?:secret|password) (?:is )?(?:not found|unavailable|missing|not set)/i,
        /Missing credentials for/i,
        /CryptoEncryptionException|could not (?:be )?decrypt/i,
      ],
    },
  },
  {
    id: 'SEND_AS_DENIED',
    title: 'Account may not send as this From address',
    explanation:
      'The sign-in worked, but the signed-in account has no Send As (or Send on Behalf) right on the address ' +
      'in From. Exchange checks this for every message.',
    fix:
      'Grant the account Send As on that mailbox (Exchange admin centre, or ' +
      "Add-RecipientPermission ADDR -AccessRights SendAs -Trustee ACCOUNT), or send from the account's own " +
      'address: `sysemail params set sender.default ADDR`. Users with their own sender address need the same ' +
      'right.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.60', '5.2.252', '5.7.1'],
      errorCodes: ['EENVELOPE'],
      graphCodes: ['ErrorSendAsDenied'],
      text: [
        /does not have permissions? to send (?:as|on behalf of)/i,
        /not (?:allowed|authori[sz]ed|permitted) to send (?:as|on behalf of|mail on behalf of)/i,
        /does not have the right to send mail on behalf of/i,
        /SendAsDenied/i,
      ],
      hints: [/not owned by user/i],
    },
  },
  {
    id: 'EXCHANGE_UNAUTHORIZED',
    title: 'Exchange / Microsoft Graph refused access',
    explanation:
      'Microsoft Graph (or Exchange Web Services) answered 401 or 403: the token is missing, expired or ' +
      'lacks the Mail.Send application permission, admin consent was not granted, or an application access ' +
      'policy keeps the app away from this mailbox.',
    fix:
      'In Entra ID give the app registration the Mail.Send application permission and grant admin consent; ' +
      'check exchange.tenantId and exchange.clientId and store the secret again with ' +
      '`sysemail params set exchange.clientSecret --stdin`; make sure exchange.mailbox is covered by any ' +
      'application access policy. Retest with `sysemail test-email --to ADDR --provider exchange -v`.',
    retryable: false,
    rules: {
      graphCodes: [
        'ErrorAccessDenied',
        'AccessDenied',
        'Authorization_RequestDenied',
        'NoPermissionsInAccessToken',
        'InvalidAuthenticationToken',
        'ErrorInvalidAccessLevel',
      ],
      httpStatuses: [401, 403],
      text: [
        /Access is denied\. Check credentials/i,
        /\(40[13]\) (?:Unauthorized|Forbidden)|\b40[13] (?:Unauthorized|Forbidden)\b/i,
        /token contains no permissions|Insufficient privileges to complete the operation/i,
        /Access token (?:has expired|is empty|validation failure)|Lifetime validation failed/i,
        /AADSTS65001\b|has not consented to use the application/i,
      ],
    },
  },
  {
    id: 'MAILBOX_NOT_FOUND',
    title: 'The sending account has no mailbox',
    explanation:
      'Exchange found no mailbox behind the account used to send: the user is unlicensed, soft-deleted, ' +
      'hosted on-premises or a guest, or the address matches no mailbox at all.',
    fix:
      'Send from an account with an Exchange Online mailbox: `sysemail params set exchange.mailbox ' +
      'user@contoso.com` (smtp.username for SMTP), or license the user. Use the primary SMTP address or the ' +
      'user principal name, not DOMAIN\\user.',
    retryable: false,
    rules: {
      graphCodes: ['ErrorNonExistentMailbox', 'MailboxNotEnabledForRESTAPI', 'ErrorInvalidUser', 'ResourceNotFound'],
      httpStatuses: [404],
      text: [
        /has no mailbox associated with it/i,
        /mailbox is either inactive, soft-deleted, or is hosted on-premise/i,
        /REST API is not yet supported for this mailbox/i,
        /The requested user '[^']*' is invalid/i,
        /\(404\) Not Found|\b404 Not Found\b/i,
      ],
      notWhen: [DOWN_LEVEL_USER],
    },
  },
  {
    id: 'USERNAME_FORMAT',
    title: 'User name given as DOMAIN\\user',
    explanation:
      'Exchange Online and Microsoft sign-in look accounts up by user principal name. A down-level name such ' +
      'as CONTOSO\\jdoe matches no account or mailbox, so the sign-in or the mailbox lookup fails.',
    fix:
      '`sysemail params set smtp.username user@contoso.com` (the user principal name, usually the primary ' +
      'email address); the same goes for exchange.mailbox.',
    retryable: false,
    rules: {
      errorCodes: ['EAUTH'],
      graphCodes: ['ErrorNonExistentMailbox'],
      text: [DOWN_LEVEL_USER],
      hints: [/has no mailbox associated with it/i],
    },
  },
  {
    id: 'BAD_CREDENTIALS',
    title: 'User name, password or client secret rejected',
    explanation:
      'The server checked the credentials and refused them: wrong password or user name, an expired ' +
      'password, or an OAuth client secret that is wrong or expired. Microsoft 365 gives the same bare ' +
      '535 5.7.3 reply when the account may not use SMTP AUTH or, with OAuth, when the app has no right on ' +
      'the mailbox.',
    fix:
      'Check the user name (`sysemail params set smtp.username user@contoso.com`) and store the password ' +
      'again (`sysemail params set smtp.password --stdin`); for OAuth store the secret value, not its id ' +
      '(`sysemail params set smtp.oauth.clientSecret --stdin`). Test with ' +
      '`sysemail test-email --to ADDR --quit-after auth -v`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.8', '5.7.3'],
      responseCodes: [535],
      errorCodes: ['EAUTH'],
      text: [
        /Username and Password not accepted|BadCredentials/i,
        /Incorrect authentication data/i,
        /authentication failed|Authentication credentials invalid/i,
        /user credentials were incorrect/i,
        /invalid (?:credentials|user ?name or password)|bad user ?name or password|LogonDenied/i,
        /AADSTS(?:7000215|7000222|700016|50126|90002)\b|invalid_client|Invalid client secret/i,
      ],
    },
  },
  {
    id: 'APP_PASSWORD_REQUIRED',
    title: 'Provider requires an app password',
    explanation:
      'The account uses two-step verification, so the provider refuses the normal account password over ' +
      'SMTP and expects a separately generated app password instead.',
    fix:
      "Create an app password in the account's security settings (Google: myaccount.google.com/apppasswords) " +
      'and store it with `sysemail params set smtp.password --stdin`. Where the provider supports it, ' +
      '`sysemail params set smtp.authMethod oauth2` avoids passwords altogether.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.9', '5.7.14'],
      responseCodes: [534],
      errorCodes: ['EAUTH'],
      text: [
        /Application-specific password|app(?:lication)?[- ]specific password/i,
        /app(?:lication)? password (?:is )?required/i,
        /InvalidSecondFactor/i,
        /Please log in (?:via|with) your web browser/i,
      ],
    },
  },
  {
    id: 'RELAY_DENIED',
    title: 'Server refuses to relay to this recipient',
    explanation:
      'The server will not pass the message on to a domain it does not host, because it does not recognise ' +
      'this client as allowed to relay: the session is not signed in, the client address is not on the relay ' +
      'allow-list, or the sender is not one the connector accepts.',
    fix:
      'Sign in before sending (`sysemail params set smtp.authRequired true`, `smtp.username`, ' +
      '`sysemail params set smtp.password --stdin`), or ask the mail administrator to allow this host on the ' +
      'relay connector. Check the From address with `sysemail params get sender.default`.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.1', '5.7.64', '5.7.54'],
      errorCodes: ['EENVELOPE'],
      text: [
        /relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited|disallowed)/i,
        /unable to relay|not (?:permitted|allowed|authori[sz]ed) to relay|we do not relay/i,
        /Relay Access Denied/i,
      ],
    },
  },
  {
    id: 'TLS_MODE_MISMATCH',
    title: 'TLS mode does not match the port',
    explanation:
      'One side talks TLS and the other plain text. Implicit TLS (`tls`) against a STARTTLS port such as 587 ' +
      'fails with "wrong version number"; STARTTLS or plain text against port 465 waits for a greeting that ' +
      'never comes, and the port then answers a TLS handshake.',
    fix:
      'Use `sysemail params set smtp.security starttls` with `sysemail params set smtp.port 587`, or ' +
      '`sysemail params set smtp.security tls` with port 465. ' +
      '`sysemail test-email --to ADDR --quit-after tls -v` shows where it stops.',
    retryable: false,
    rules: {
      errorCodes: ['ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO', 'ETLS', 'ESOCKET'],
      text: [
        /wrong[ _]version[ _]number/i,
        /SSL routines:[^\n]*:(?:unknown protocol|http request|packet length too long)/i,
        /Unsupported or unrecognized SSL message/i,
        /first record does not look like a TLS handshake/i,
        /handshake failed due to an unexpected packet format/i,
        /socket disconnected before secure TLS connection was established/i,
        // sysemail's own finding: the silent port completed a TLS handshake
        /port answered a TLS handshake/i,
      ],
      // A missing greeting is this only when the port turns out to speak TLS; otherwise it is a timeout.
      hints: [/Greeting never received/i],
      notWhen: [/did not answer a TLS handshake/i],
    },
  },
  {
    id: 'TLS_CERT_UNTRUSTED',
    title: 'Server certificate is not trusted',
    explanation:
      'The TLS certificate the server presented could not be verified: it is self-signed, issued by a CA this ' +
      'machine does not trust (often a TLS-inspecting proxy or firewall), expired, or issued for another host ' +
      'name than smtp.host.',
    fix:
      'Set smtp.host to the name on the certificate (`sysemail params set smtp.host NAME`). If an internal CA ' +
      'or an inspecting proxy sits in the path, trust its CA explicitly: ' +
      '`sysemail params set smtp.caFile /path/ca.pem`. An expired certificate has to be renewed on the server; ' +
      'sysemail does not switch certificate checks off.',
    retryable: false,
    rules: {
      errorCodes: [
        'SELF_SIGNED_CERT_IN_CHAIN',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
        'UNABLE_TO_GET_ISSUER_CERT',
        'CERT_HAS_EXPIRED',
        'CERT_NOT_YET_VALID',
        'ERR_TLS_CERT_ALTNAME_INVALID',
        'ESOCKET',
        'ETLS',
      ],
      text: [
        /self[- ]signed certificate/i,
        /unable to (?:verify the first|get local issuer|get issuer) certificate/i,
        /certificate has expired|certificate is not yet valid/i,
        /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i,
        /certificate verif(?:y|ication) failed|CERTIFICATE_VERIFY_FAILED/i,
        /PKIX path building failed|unable to find valid certification path/i,
        /remote certificate is invalid/i,
        /certificate signed by unknown authority/i,
      ],
    },
  },
  {
    id: 'HOST_NOT_FOUND',
    title: 'Mail server name does not resolve',
    explanation:
      'DNS has no address for smtp.host: a typo, an internal name used outside its network, or (EAI_AGAIN) ' +
      'a DNS server that could not be reached at all.',
    fix:
      'Check the name with `sysemail params get smtp.host` and correct it with ' +
      '`sysemail params set smtp.host smtp.example.com`; `sysemail diagnose` runs the DNS check from this ' +
      'machine.',
    retryable: false,
    rules: {
      errorCodes: ['ENOTFOUND', 'EAI_AGAIN', 'EDNS'],
      phases: ['dns'],
      text: [
        /\bENOTFOUND\b|getaddrinfo EAI_AGAIN/,
        /Name or service not known|nodename nor servname provided|Temporary failure in name resolution/i,
        /No such host is known|lookup \S+ on \S+: no such host/i,
        /UnknownHostException/,
      ],
    },
  },
  {
    id: 'CONNECTION_REFUSED',
    title: 'Connection refused',
    explanation:
      'The server host answered, but nothing accepts connections on that port, a firewall actively rejects ' +
      'them, or there is no route to the host.',
    fix:
      'Check smtp.host and smtp.port (587 for STARTTLS, 465 for TLS, 25 for relays) with ' +
      '`sysemail params list`, then `sysemail test-email --to ADDR --quit-after connect -v`. If both are ' +
      'right, the server is down or a firewall blocks the port.',
    retryable: true,
    rules: {
      errorCodes: ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'],
      text: [
        /\bECONNREFUSED\b|connection refused/i,
        /actively refused/i,
        /\bE(?:HOST|NET)UNREACH\b|No route to host|Network is unreachable/i,
      ],
    },
  },
  {
    id: 'CONNECTION_TIMEOUT',
    title: 'Connection, greeting or session timed out',
    explanation:
      'No answer came back in time: the connection did not open, the server accepted it but never sent its ' +
      'greeting, or the whole session outlived its deadline (smtp.sessionTimeoutSec, ' +
      'exchange.requestTimeoutSec) because the server stalls. Firewalls and cloud providers often drop ' +
      'outbound ports 25 and 587 silently; an overloaded server or a wrong host address can look the same.',
    fix:
      'Test the path with `sysemail test-email --to ADDR --quit-after connect -v` and have the outbound port ' +
      "opened, or use the provider's submission port 587. `sysemail diagnose` also tries a TLS handshake on a " +
      'silent port, to tell a TLS mode that does not match the port (TLS_MODE_MISMATCH). A server that is only ' +
      'slow may get more time: `sysemail params set smtp.sessionTimeoutSec 600`.',
    retryable: true,
    rules: {
      errorCodes: ['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'SESSION_TIMEOUT', 'REQUEST_TIMEOUT'],
      text: [
        /\bETIMEDOUT\b|Connection timeout|\btimed out\b/i,
        /did not properly respond after a period of time|connected host has failed to respond/i,
        /Greeting never received|no greeting (?:received|within)|timeout waiting for (?:the )?(?:greeting|banner)/i,
        /did not end within smtp\.sessionTimeoutSec|did not answer within exchange\.requestTimeoutSec/i,
      ],
      notWhen: [/port answered a TLS handshake/i],
    },
  },
  {
    id: 'RATE_LIMITED',
    title: 'Sending rate or concurrency limit reached',
    explanation:
      'The server is slowing this sender down: too many messages a minute, too many connections at once, ' +
      'or a daily quota used up. Microsoft 365 allows 30 messages a minute per mailbox over SMTP and limits ' +
      'parallel Graph requests per mailbox.',
    fix:
      'Let the distributor pace the sending: `sysemail params set throttling.enabled true` and keep ' +
      "`smtp.perMinuteLimit` / `exchange.perMinuteLimit` below the provider's limit; run `sysemail queue run` " +
      'with a lower `--concurrency`. Deferred messages are retried automatically; a daily quota frees up ' +
      'within 24 hours.',
    retryable: true,
    rules: {
      // 4.7.x alone is also greylisting or a passing auth hiccup, hence only the weak prefix.
      enhancedCodes: ['4.3.2', '5.4.5', '4.7.28', '4.7.*'],
      responseCodes: [421, 432],
      graphCodes: ['ApplicationThrottled', 'MailboxConcurrency', 'TooManyRequests', 'ErrorExceededMessageLimit'],
      httpStatuses: [429],
      text: [
        /try again later/i,
        /thread limit exceeded|SubmissionQuotaExceeded|Submission quota exceeded/i,
        /\brate\b[^.\n]{0,60}\bexceed|rate limit|rate exceeded/i,
        /Throttl/i,
        /too many (?:login attempts|connections|concurrent|messages|requests|errors)/i,
        /concurrent (?:server )?connections has exceeded/i,
        /sending (?:quota|limit) exceeded|daily (?:user )?sending|Daily message quota/i,
        /max emails per hour/i,
        /MailboxConcurrency/i,
      ],
    },
  },
  {
    id: 'MESSAGE_TOO_LARGE',
    title: 'Message too large',
    explanation:
      'The whole message, attachments included (base64 makes them about a third larger), is over the size ' +
      'the server accepts or over limits.maxMessageMb.',
    fix:
      'Send fewer or smaller attachments, or a link instead. Keep `sysemail params set limits.maxMessageMb N` ' +
      "at or below the server's limit (Microsoft 365 and Gmail: 25 by default) so that sysemail refuses such " +
      'messages before sending them.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.3.4', '5.2.3', '4.3.4'],
      responseCodes: [552],
      graphCodes: ['ErrorMessageSizeExceeded'],
      httpStatuses: [413],
      text: [
        /message (?:size )?(?:exceeds|exceeded)|exceeded [^.\n]{0,20}message size|message (?:is )?too (?:big|large)/i,
        /size limit|maximum message size|message size larger than allowed/i,
        /message length exceeds|SendSizeLimit|RecipSizeLimit|ErrorMessageSizeExceeded/i,
        /Request Entity Too Large|Payload Too Large/i,
        /maxMessageMb/,
      ],
      notWhen: [/mailbox size limit/i],
    },
  },
  {
    id: 'RECIPIENT_UNKNOWN',
    title: 'Recipient address does not exist',
    explanation: "The recipient's server has no mailbox for this address, usually because of a typo or a user who has " + 'left.',
    fix:
      'Correct the address in the message, template or user record, then resend with ' +
      '`sysemail queue retry ID`; `sysemail history --failed` lists the messages concerned.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.1.1', '5.1.10', '5.4.1'],
      errorCodes: ['EENVELOPE'],
      graphCodes: ['ErrorInvalidRecipients'],
      text: [
        /user unknown|unknown user|no such user|user not found/i,
        /RecipientNotFound|RecipNotFound|Recipient not found/i,
        /account that you tried to reach does not exist|NoSuchUser/i,
        /Unrouteable address|mailbox (?:does not|doesn't) exist|no mailbox here by that name/i,
        /Recipient address rejected: Access denied/i,
        /At least one recipient (?:isn't|is not) valid/i,
      ],
    },
  },
  {
    id: 'SENDER_REJECTED',
    title: 'Sender address refused',
    explanation:
      'The server refused the MAIL FROM address: its domain is not verified with the provider, SPF or DMARC ' +
      'for the domain does not allow this server, the domain does not exist, or this account may not use ' +
      'that sender.',
    fix:
      'Send from an address of a verified domain that you control: `sysemail params set sender.default ADDR` ' +
      "(and check users' own sender addresses). Publish SPF, DKIM and DMARC records that include this mail " +
      'server, or verify the domain with the provider.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.23', '5.7.26', '5.7.27', '5.1.8', '4.1.8', '5.1.7', '5.7.750', '5.7.1'],
      errorCodes: ['EENVELOPE'],
      text: [
        /Sender address rejected/i,
        /sender verif(?:y|ication) fail/i,
        /Sender Policy Framework|\bSPF\b[^\n]{0,40}\b(?:fail|violation|not (?:permitted|authori[sz]ed))/i,
        /DMARC/,
        /sender is unauthenticated|Unauthenticated email from/i,
        /(?:Email )?address is not verified|unverified (?:sender|domain)/i,
        /Domain of sender address|sender domain (?:does not exist|not found)/i,
        /unregistered domains|sender (?:address )?(?:not allowed|denied|rejected)/i,
      ],
      // Postfix refuses the sender of an unauthenticated session this way: signing in is the fix.
      notWhen: [/Sender address rejected: not logged in/i],
    },
  },
  {
    id: 'STARTTLS_UNAVAILABLE',
    title: 'Server does not offer STARTTLS',
    explanation:
      'smtp.security is starttls, which never falls back to plain text, but the server does not announce ' +
      'STARTTLS, does not know the command, or refuses it (454 "TLS not available": its own certificate or TLS ' +
      'set-up is broken). Nothing was sent and no password crossed the connection; retrying will not help ' +
      'until the port or the server changes.',
    fix:
      "Use the server's port that offers STARTTLS (`sysemail params set smtp.port 587`), or implicit TLS " +
      '(`sysemail params set smtp.security tls smtp.port 465`). A server answering 454 needs its administrator ' +
      'to repair its TLS. `sysemail params set smtp.security none` is only for a relay on this machine.',
    retryable: false,
    rules: {
      errorCodes: ['ETLS'],
      text: [
        /\bTLS (?:is )?(?:not available|currently unavailable|temporarily unavailable|unavailable)/i,
        /STARTTLS (?:extension |command )?(?:is )?not (?:supported|offered|available|advertised|announced)/i,
        /(?:does not|doesn't) (?:offer|support|announce|advertise) (?:STARTTLS|secure connections)/i,
        /Error upgrading connection with STARTTLS|STARTTLS (?:refused|failed|rejected)/i,
      ],
    },
  },
  {
    id: 'MESSAGE_REJECTED_AS_SPAM',
    title: 'Message rejected as spam or by a content policy',
    explanation:
      'The server took the sender and the recipients but refused the message itself: its spam filter or a ' +
      "content rule (Microsoft 365 anti-spam, Gmail's unsolicited-mail checks, SpamAssassin, rspamd or " +
      'Exchange content filtering behind Postfix, Exim or Exchange) judged it unwanted. The usual reasons are ' +
      'a sending domain without SPF, DKIM or DMARC, a sending address or IP with a poor reputation, or content ' +
      'that looks like bulk mail. This is not a relay problem: the account may send.',
    fix:
      'Check that the sending domain publishes SPF, DKIM and DMARC records that allow this server; ' +
      'avoid link shorteners, image-only bodies and risky attachment types. Once changed, resend with ' +
      "`sysemail queue retry ID`; if it still bounces, ask the recipient's mail administrator to look the " +
      'rejection up in their logs.',
    retryable: false,
    rules: {
      enhancedCodes: ['5.7.520', '5.7.350'],
      text: [
        /\b(?:rejected|blocked|identified|detected|classified|flagged|marked|refused)\b[^.\n]{0,40}?\bas (?:spam|junk)\b/i,
        /\bspam (?:message|content)[^.\n]{0,20}\b(?:rejected|blocked|refused)|rejected by (?:the |our )?(?:spam|content) filter|\bspam detected\b/i,
        /likely unsolicited mail|likely suspicious due to the very low reputation/i,
        /message content rejected|rejected (?:due to|because of) (?:its )?content|content (?:restrictions|filtering)|Content Filter(?:ing)? agent/i,
        /(?:blocked|rejected) (?:by|due to) (?:a |our |the )?(?:content |anti-?spam )?polic(?:y|ies)/i,
      ],
    },
  },
];

/** The entry for one id. */
export function catalogueEntry(id: DiagnosisId): CatalogueEntry {
  const entry = catalogue.find((e) => e.id === id);
  if (!entry) throw new Error(`diagnosis catalogue has no entry ${id}`);
  return entry;
}
