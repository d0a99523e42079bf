import { describe, expect, it } from 'vitest';
import type { FailureInfo } from '../../src/core/failure.js';
import {
  catalogue,
  catalogueEntry,
  diagnose,
  diagnoseLog,
  diagnoseText,
  DIAGNOSIS_IDS,
  failureFromText,
  type DiagnosisId,
  type Match,
} from '../../src/core/diagnosis/index.js';

/**
 * Real wordings, as servers and client libraries produce them (host tags and ids shortened where they
 * carry nothing). `failure` holds the fields a provider fills next to the text.
 */
interface Case {
  readonly source: string;
  readonly text: string;
  readonly failure?: Omit<FailureInfo, 'response'>;
  /** Ids that must not appear at all for this wording. */
  readonly absent?: readonly DiagnosisId[];
}

const ids = (matches: readonly Match[]): DiagnosisId[] => matches.map((m) => m.id);

const CASES: Record<DiagnosisId, readonly Case[]> = {
  SINGLE_LABEL_DOMAIN: [
    {
      source: 'Microsoft 365 via nodemailer',
      text: "Can't send mail - all recipients were rejected: 501 5.1.6 Recipient addresses in single label domains not accepted",
      failure: { code: 'EENVELOPE', responseCode: 501, enhancedCode: '5.1.6', phase: 'rcpt' },
      absent: ['RECIPIENT_UNKNOWN'],
    },
    {
      source: 'Exchange via .NET SmtpClient',
      text: 'Syntax error in parameters or arguments. The server response was: 5.1.6 Recipient addresses in single label domains not accepted',
      failure: { enhancedCode: '5.1.6' },
    },
    {
      source: 'Postfix reject_non_fqdn_recipient',
      text: '504 5.5.2 <jdoe@contoso>: Recipient address rejected: need fully-qualified address',
      failure: { code: 'EENVELOPE', responseCode: 504, enhancedCode: '5.5.2', phase: 'rcpt' },
      absent: ['AUTH_NOT_SUPPORTED'],
    },
    {
      source: 'Gmail',
      text: '553-5.1.3 The recipient address <jdoe@contoso> is not a valid RFC-5321 address. Learn more at\n553 5.1.3  https://support.google.com/mail/answer/6596 a1si3816027wrb.12 - gsmtp',
      failure: { code: 'EENVELOPE', responseCode: 553, enhancedCode: '5.1.3', phase: 'rcpt' },
    },
  ],
  MAILBOX_FULL: [
    {
      source: 'Exchange Online',
      text: "Remote Server returned '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception with message The process failed to get the correct properties.'",
      failure: { responseCode: 554, enhancedCode: '5.2.2' },
      absent: ['RATE_LIMITED'],
    },
    {
      source: 'Gmail (over quota)',
      text: '452-4.2.2 The email account that you tried to reach is over quota. Please direct\n452 4.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaTemp a1si - gsmtp',
      failure: { code: 'EENVELOPE', responseCode: 452, enhancedCode: '4.2.2' },
    },
    {
      source: 'Gmail (out of storage)',
      text: "host gmail-smtp-in.l.google.com[108.177.96.27] said: 452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452-4.2.2 recipient to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a640c23a62f3a-acab71ebb5fsi680413566b.136 - gsmtp (in reply to RCPT TO command)",
    },
    {
      source: 'Postfix + Dovecot LMTP',
      text: '552 5.2.2 <user1@c3.testrun.org> Quota exceeded (mailbox for user is full) (in reply to end of DATA command)',
      failure: { responseCode: 552, enhancedCode: '5.2.2' },
      absent: ['MESSAGE_TOO_LARGE'],
    },
    {
      source: 'Sendmail',
      text: '552 <JDOE@JUNO.COM>... Mail quota exceeded',
      failure: { responseCode: 552 },
      absent: ['MESSAGE_TOO_LARGE'],
    },
    {
      source: 'Exim appendfile',
      text: 'mailbox is full (MTA-imposed quota exceeded while writing to file /var/spool/mail/jdoe)',
    },
  ],
  AUTH_POLICY_BLOCKED: [
    {
      source: 'Microsoft 365 via nodemailer',
      text: 'Invalid login: 535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BN9PR03CA0716.namprd03.prod.outlook.com]',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.139', phase: 'auth' },
      absent: ['BASIC_AUTH_DISABLED', 'SMTP_AUTH_DISABLED', 'BAD_CREDENTIALS'],
    },
    {
      source: 'Microsoft 365 security defaults',
      text: "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.",
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.139' },
      absent: ['BASIC_AUTH_DISABLED'],
    },
    {
      source: 'Microsoft 365 via .NET SmtpClient',
      text: 'The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.',
      absent: ['STARTTLS_REQUIRED'],
    },
    {
      source: 'Entra ID token endpoint',
      text: 'AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
      failure: { httpStatus: 400, phase: 'token' },
    },
  ],
  SMTP_AUTH_DISABLED: [
    {
      source: 'Microsoft 365 tenant via nodemailer',
      text: 'Invalid login: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.139', phase: 'auth' },
      absent: ['BASIC_AUTH_DISABLED', 'AUTH_POLICY_BLOCKED'],
    },
    {
      source: 'Microsoft 365 mailbox via MailKit',
      text: 'MailKit.Security.AuthenticationException: 535: 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.',
      failure: { responseCode: 535, enhancedCode: '5.7.139' },
    },
    {
      source: 'Microsoft 365 via Python smtplib',
      text: "smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [MN2PR05CA0004.namprd05.prod.outlook.com]')",
    },
  ],
  BASIC_AUTH_DISABLED: [
    {
      source: 'Outlook.com via nodemailer',
      text: 'Invalid login: 535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PN0PR01CA0024.INDPRD01.PROD.OUTLOOK.COM 2025-01-26T18:54:30.055Z 08DD3DD7D75D7743]',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.139', phase: 'auth' },
      absent: ['AUTH_POLICY_BLOCKED', 'BAD_CREDENTIALS'],
    },
    {
      source: 'Microsoft 365 via JavaMail',
      text: 'javax.mail.AuthenticationFailedException: 535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BM1P287CA0015.INDP287.PROD.OUTLOOK.COM]',
    },
    {
      source: 'Exchange Online authentication policy',
      text: '550 5.7.30 Basic authentication is not supported for Client Submission.',
      failure: { responseCode: 550, enhancedCode: '5.7.30' },
    },
  ],
  AUTH_NOT_SUPPORTED: [
    {
      source: 'Postfix (AUTH only after STARTTLS, or no SASL)',
      text: '503 5.5.1 Error: authentication not enabled',
      failure: { code: 'EAUTH', responseCode: 503, enhancedCode: '5.5.1', phase: 'auth' },
    },
    {
      source: 'Exim',
      text: 'Message failed: 503 AUTH command used when not advertised',
      failure: { responseCode: 503 },
    },
    {
      source: 'Exchange',
      text: '504 5.7.4 Unrecognized authentication type [DM6PR02CA0123.namprd02.prod.outlook.com]',
      failure: { code: 'EAUTH', responseCode: 504, enhancedCode: '5.7.4' },
    },
    {
      source: 'JavaMail',
      text: 'javax.mail.AuthenticationFailedException: No authentication mechansims supported by both server and client',
    },
    {
      source: 'MailKit',
      text: 'MailKit.Security.AuthenticationException: The SMTP server does not support authentication.',
    },
  ],
  NOT_AUTHENTICATED: [
    {
      source: 'Microsoft 365',
      text: '530 5.7.57 Client not authenticated to send mail. [YQBPR0101CA0294.CANPRD01.PROD.OUTLOOK.COM]',
      failure: { code: 'EENVELOPE', responseCode: 530, enhancedCode: '5.7.57', phase: 'mail' },
      absent: ['STARTTLS_REQUIRED'],
    },
    {
      source: 'Microsoft 365 via PHPMailer',
      text: 'The following From address failed: app@outlook.com : MAIL FROM command failed,5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM [AM0PR04CA0003.eurprd04.prod.outlook.com] ,530,SMTP server error',
    },
    {
      source: 'Exchange on-premises',
      text: '530 5.7.1 Client was not authenticated',
      failure: { responseCode: 530, enhancedCode: '5.7.1' },
      absent: ['RELAY_DENIED', 'SEND_AS_DENIED'],
    },
    {
      source: 'Gmail',
      text: '530-5.7.0 Authentication Required. Learn more at\n530 5.7.0  https://support.google.com/mail/?p=WantAuthError a1sm1234 - gsmtp',
      failure: { code: 'EENVELOPE', responseCode: 530, enhancedCode: '5.7.0' },
      absent: ['STARTTLS_REQUIRED'],
    },
    {
      source: 'hMailServer',
      text: 'Error: SMTP code:530 msg:530 SMTP authentication is required.',
    },
    {
      source: 'Amazon SES via Postfix',
      text: 'host email-smtp.ap-southeast-1.amazonaws.com[18.138.111.200] said: 530 Authentication required (in reply to MAIL FROM command)',
    },
    {
      source: 'Postfix reject_sender_login_mismatch',
      text: '553 5.7.1 <app@contoso.com>: Sender address rejected: not logged in',
      failure: { code: 'EENVELOPE', responseCode: 553, enhancedCode: '5.7.1' },
    },
  ],
  STARTTLS_REQUIRED: [
    {
      source: 'Gmail',
      text: '530 5.7.0 Must issue a STARTTLS command first. w29sm21914057vcr.2 - gsmtp',
      failure: { code: 'EAUTH', responseCode: 530, enhancedCode: '5.7.0', phase: 'auth' },
      absent: ['NOT_AUTHENTICATED'],
    },
    {
      source: 'Postfix via Swift Mailer',
      text: 'Expected response code 250 but got code "530", with message "530 5.7.0 Must issue a STARTTLS command first"',
      absent: ['NOT_AUTHENTICATED'],
    },
    {
      source: 'Exchange Online',
      text: '451 5.7.3 STARTTLS is required to send mail [BN6PR11CA0048.namprd11.prod.outlook.com]',
      failure: { code: 'EENVELOPE', responseCode: 451, enhancedCode: '5.7.3' },
      absent: ['BAD_CREDENTIALS'],
    },
    {
      source: 'hMailServer',
      text: '530 Must issue a STARTTLS command first',
      failure: { responseCode: 530 },
    },
    {
      source: 'Exchange on-premises',
      text: '451 5.7.3 Require STARTTLS to authenticate',
    },
  ],
  SECRET_UNAVAILABLE: [
    {
      source: 'keytar on a headless Linux',
      text: 'Cannot autolaunch D-Bus without X11 $DISPLAY',
      failure: { phase: 'secret' },
    },
    {
      source: 'libsecret without a Secret Service',
      text: 'The name org.freedesktop.secrets was not provided by any .service files',
      failure: { phase: 'secret' },
    },
    {
      source: 'macOS keychain',
      text: 'The specified item could not be found in the keychain.',
    },
    {
      source: 'database moved between environments (finance and operations)',
      text: 'Microsoft.Dynamics.Ax.Xpp.Security.CryptoEncryptionException: Encryption error occurred with exception',
    },
    {
      source: 'nodemailer without a password',
      text: 'Missing credentials for "PLAIN"',
      failure: { code: 'EAUTH', phase: 'auth' },
      absent: ['BAD_CREDENTIALS'],
    },
  ],
  SEND_AS_DENIED: [
    {
      source: 'Exchange Online',
      text: '550 5.7.60 SMTP; Client does not have permissions to send as this sender [MW2PR1901MB2155.namprd19.prod.outlook.com]',
      failure: { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.7.60', phase: 'mail' },
    },
    {
      source: 'Exchange on-premises',
      text: '550 5.7.1 Client does not have permissions to send as this sender',
      failure: { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.7.1', phase: 'mail' },
      absent: ['RELAY_DENIED', 'NOT_AUTHENTICATED', 'SENDER_REJECTED'],
    },
    {
      source: 'Outlook.com',
      text: '554 5.2.252 SendAsDenied; delightgx46@outlook.com not allowed to send as security@sfb.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.',
      failure: { code: 'EMESSAGE', responseCode: 554, enhancedCode: '5.2.252', phase: 'data' },
    },
    {
      source: 'Exchange Online via Python smtplib',
      text: "smtplib.SMTPDataError: (554, b'5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.')",
    },
    {
      source: 'Microsoft Graph',
      text: '{"error":{"code":"ErrorSendAsDenied","message":"The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message."}}',
      failure: { provider: 'exchange', graphCode: 'ErrorSendAsDenied', httpStatus: 403, phase: 'send' },
      absent: ['EXCHANGE_UNAUTHORIZED'],
    },
  ],
  EXCHANGE_UNAUTHORIZED: [
    {
      source: 'Microsoft Graph',
      text: '{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}',
      failure: { provider: 'exchange', graphCode: 'ErrorAccessDenied', httpStatus: 403, phase: 'send' },
      absent: ['BAD_CREDENTIALS'],
    },
    {
      source: 'Exchange Web Services via .NET',
      text: 'The request failed. The remote server returned an error: (401) Unauthorized.',
      failure: { provider: 'exchange', httpStatus: 401 },
    },
    {
      source: 'Microsoft Graph via Guzzle',
      text: 'Client error: `POST https://graph.microsoft.com/v1.0/users/noreply@contoso.com/sendMail` resulted in a `403 Forbidden` response',
    },
    {
      source: 'Microsoft Graph (no application permission)',
      text: '{ "error": { "code": "NoPermissionsInAccessToken", "message": "The token contains no permissions, or permissions can not be understood." } }',
      failure: { provider: 'exchange', graphCode: 'NoPermissionsInAccessToken', httpStatus: 401 },
    },
    {
      source: 'Microsoft Graph (expired token)',
      text: '{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}',
      failure: { provider: 'exchange', httpStatus: 401 },
    },
  ],
  MAILBOX_NOT_FOUND: [
    {
      source: 'Exchange Web Services',
      text: 'ErrorNonExistentMailbox: The SMTP address has no mailbox associated with it.',
      failure: { provider: 'exchange', graphCode: 'ErrorNonExistentMailbox' },
    },
    {
      source: 'Microsoft Graph (unlicensed or on-premises mailbox)',
      text: '{"code":"MailboxNotEnabledForRESTAPI","message":"The mailbox is either inactive, soft-deleted, or is hosted on-premise.","innerError":{"date":"2023-01-05T03:01:23"}}',
      failure: { provider: 'exchange', graphCode: 'MailboxNotEnabledForRESTAPI', httpStatus: 404 },
    },
    {
      source: 'Microsoft Graph (unknown user)',
      text: '{"error":{"code":"ErrorInvalidUser","message":"The requested user \'noreply@contoso.com\' is invalid."}}',
      failure: { provider: 'exchange', httpStatus: 404 },
    },
    {
      source: 'Microsoft Graph via python-o365',
      text: 'Client Error: Not Found for url: https://graph.microsoft.com/v1.0/me/sendMail | Error Message: REST API is not yet supported for this mailbox.',
    },
    {
      source: 'Exchange Web Services via .NET',
      text: 'The request failed. The remote server returned an error: (404) Not Found.',
      failure: { provider: 'exchange', httpStatus: 404 },
    },
  ],
  USERNAME_FORMAT: [
    {
      source: 'Exchange Web Services trace',
      text: '<t:SmtpAddress>CONTOSO\\jdoe</t:SmtpAddress> ... <faultcode>a:ErrorNonExistentMailbox</faultcode><faultstring xml:lang="en-US">The SMTP address has no mailbox associated with it.</faultstring>',
      failure: { provider: 'exchange', graphCode: 'ErrorNonExistentMailbox' },
    },
    {
      source: 'Microsoft 365 via MailKit',
      text: 'SendEmail: User CONTOSO\\svc-erp failed to authenticate with smtp.office365.com:587: 535: 5.7.3 Authentication unsuccessful [PH7P220CA0132.NAMP220.PROD.OUTLOOK.COM]',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.3' },
    },
    {
      source: 'nodemailer debug log',
      text: '[2024-03-01 10:00:00] INFO  [lHr1v5x3A] User "CONTOSO\\svc-mail" failed to authenticate',
    },
    {
      source: 'Exchange on-premises receive connector',
      text: 'Inbound AUTH LOGIN failed because of LogonDenied. User Name: CONTOSO\\jdoe',
    },
  ],
  BAD_CREDENTIALS: [
    {
      source: 'Gmail via nodemailer',
      text: 'Invalid login: 535-5.7.8 Username and Password not accepted. Learn more at\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1sm123 - gsmtp',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.8', phase: 'auth' },
      absent: ['APP_PASSWORD_REQUIRED'],
    },
    {
      source: 'Microsoft 365 via nodemailer',
      text: 'Invalid login: 535 5.7.3 Authentication unsuccessful [SN4PR0201CA0021.namprd02.prod.outlook.com]',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.3', phase: 'auth' },
    },
    {
      source: 'Exim (cPanel)',
      text: '535 Incorrect authentication data',
      failure: { code: 'EAUTH', responseCode: 535 },
    },
    {
      source: 'Postfix with Dovecot SASL',
      text: '535 5.7.8 Error: authentication failed: authentication failure',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.8' },
    },
    {
      source: 'Microsoft 365 via Python smtplib',
      text: "(535, b'5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]')",
      absent: ['AUTH_POLICY_BLOCKED', 'BASIC_AUTH_DISABLED', 'SMTP_AUTH_DISABLED'],
    },
    {
      source: 'Amazon SES',
      text: '535 Authentication Credentials Invalid',
    },
    {
      source: 'Entra ID token endpoint',
      text: '{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app \'a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4\'.","error_codes":[7000215]}',
      failure: { provider: 'exchange', httpStatus: 401, phase: 'token' },
      absent: ['EXCHANGE_UNAUTHORIZED'],
    },
    {
      source: 'Microsoft 365 via .NET SmtpClient',
      text: 'The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. Error: 535 5.7.3 Authentication unsuccessful',
    },
  ],
  APP_PASSWORD_REQUIRED: [
    {
      source: 'Gmail via nodemailer',
      text: 'Invalid login: 534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor h26sm30121397pfq.64 - gsmtp',
      failure: { code: 'EAUTH', responseCode: 534, enhancedCode: '5.7.9', phase: 'auth' },
      absent: ['BAD_CREDENTIALS'],
    },
    {
      source: 'Gmail via Python smtplib',
      text: "(534, b'5.7.9 Application-specific password required. For more information, go to\\n5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor ffacd0b85a97d-368119970e7sm1809147f8f.21 - gsmtp')",
    },
    {
      source: 'Gmail (web sign-in required)',
      text: '534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1> Please log in via your web browser and\n534-5.7.14 then try again.\n534-5.7.14  Learn more at\n534 5.7.14  https://support.google.com/mail/answer/78754 t19sm2167150wmd.2 - gsmtp',
      failure: { code: 'EAUTH', responseCode: 534, enhancedCode: '5.7.14' },
      absent: ['RATE_LIMITED'],
    },
    {
      source: 'Mail.ru',
      text: 'Invalid login: 535 5.7.0 NEOBHODIM parol prilozheniya https://help.mail.ru/mail/security/protection/external / Application password is REQUIRED',
      failure: { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.0' },
    },
  ],
  RELAY_DENIED: [
    {
      source: 'Exchange on-premises',
      text: '550 5.7.1 Unable to relay',
      failure: { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.7.1', phase: 'rcpt' },
      absent: ['SEND_AS_DENIED', 'NOT_AUTHENTICATED', 'SENDER_REJECTED'],
    },
    {
      source: 'Postfix (temporary)',
      text: '454 4.7.1 <user@example.net>: Relay access denied',
      failure: { code: 'EENVELOPE', responseCode: 454, enhancedCode: '4.7.1', phase: 'rcpt' },
      absent: ['RATE_LIMITED'],
    },
    {
      source: 'Postfix',
      text: '554 5.7.1 <recipient@example.com>: Relay access denied',
    },
    {
      source: 'Exim',
      text: '** xx@test.com R=send_via_unauthenticated_smtp_relay T=remote_smtp H=192.168.0.2 [192.168.0.2]: SMTP error from remote mail server after RCPT TO:<xx@test.com>: 550 Relay not permitted',
    },
    {
      source: 'Sendmail',
      text: '550 5.7.1 <jdoe@example.net>... Relaying denied',
    },
    {
      source: 'Exchange Online inbound connector',
      text: '550 5.7.64 TenantAttribution; Relay Access Denied [DM6NAM12FT012.eop-nam12.prod.protection.outlook.com]',
      failure: { responseCode: 550, enhancedCode: '5.7.64' },
    },
    {
      source: 'Exchange on-premises (non-accepted domain)',
      text: '550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain',
    },
  ],
  TLS_MODE_MISMATCH: [
    {
      source: 'sysemail, STARTTLS against port 465 (the silent port answered a TLS handshake)',
      text: 'Greeting never received; the port answered a TLS handshake: it expects implicit TLS',
      failure: { code: 'ETLS', phase: 'tls' },
      absent: ['CONNECTION_TIMEOUT'],
    },
    {
      source: 'Node/OpenSSL 3, implicit TLS against port 587',
      text: 'C0B7A4F1E67F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:355:',
      failure: { code: 'ESOCKET', phase: 'tls' },
      absent: ['TLS_CERT_UNTRUSTED'],
    },
    {
      source: 'PHP stream',
      text: 'stream_socket_enable_crypto(): SSL operation failed with code 1. OpenSSL Error messages:\nerror:1408F10B:SSL routines:ssl3_get_record:wrong version number',
    },
    {
      source: 'Python ssl',
      text: 'ssl.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1056)',
    },
    {
      source: 'JavaMail',
      text: 'javax.net.ssl.SSLException: Unsupported or unrecognized SSL message',
    },
    {
      source: 'Go net/smtp',
      text: 'tls: first record does not look like a TLS handshake',
    },
    {
      source: '.NET SslStream',
      text: 'System.Security.Authentication.AuthenticationException: The handshake failed due to an unexpected packet format.',
    },
    {
      source: 'Node tls',
      text: 'Client network socket disconnected before secure TLS connection was established',
      failure: { code: 'ECONNRESET' },
    },
  ],
  TLS_CERT_UNTRUSTED: [
    {
      source: 'Node (inspecting proxy)',
      text: 'self-signed certificate in certificate chain',
      failure: { code: 'ESOCKET', phase: 'tls' },
      absent: ['TLS_MODE_MISMATCH'],
    },
    {
      source: 'Node (missing intermediate)',
      text: 'unable to verify the first certificate',
      failure: { code: 'ESOCKET', phase: 'tls' },
    },
    {
      source: 'Node (wrong host name)',
      text: "Hostname/IP does not match certificate's altnames: Host: mail.contoso.com. is not in the cert's altnames: DNS:*.outlook.com, DNS:outlook.com",
      failure: { code: 'ERR_TLS_CERT_ALTNAME_INVALID', phase: 'tls' },
      absent: ['HOST_NOT_FOUND'],
    },
    {
      source: 'Node (expired)',
      text: 'certificate has expired',
      failure: { code: 'CERT_HAS_EXPIRED' },
    },
    {
      source: 'Node (unknown CA)',
      text: 'unable to get local issuer certificate',
    },
    {
      source: 'JavaMail',
      text: 'javax.mail.MessagingException: Could not convert socket to TLS; nested exception is: javax.net.ssl.SSLHandshakeException: sun.security.validator.ValidatorException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target',
    },
    {
      source: '.NET',
      text: 'The remote certificate is invalid because of errors in the certificate chain: UntrustedRoot',
    },
    {
      source: 'Go',
      text: 'x509: certificate signed by unknown authority',
    },
    {
      source: 'Python',
      text: 'ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self signed certificate in certificate chain (_ssl.c:1129)',
    },
  ],
  HOST_NOT_FOUND: [
    {
      source: 'Node',
      text: 'getaddrinfo ENOTFOUND smtp.example.com',
      failure: { code: 'EDNS', phase: 'dns' },
    },
    {
      source: 'Node (DNS server unreachable)',
      text: 'getaddrinfo EAI_AGAIN smtp.office365.com',
      failure: { code: 'EDNS' },
    },
    {
      source: 'Python',
      text: 'socket.gaierror: [Errno -2] Name or service not known',
    },
    {
      source: '.NET',
      text: 'System.Net.Sockets.SocketException (11001): No such host is known.',
    },
    {
      source: 'Go',
      text: 'dial tcp: lookup smtp.contoso.local on 127.0.0.53:53: no such host',
    },
    {
      source: 'Java',
      text: 'javax.mail.MessagingException: Unknown SMTP host: smtp.contoso.com; nested exception is: java.net.UnknownHostException: smtp.contoso.com',
    },
  ],
  CONNECTION_REFUSED: [
    {
      source: 'Node via nodemailer',
      text: 'connect ECONNREFUSED 127.0.0.1:587',
      failure: { code: 'ECONNECTION', phase: 'connect' },
      absent: ['CONNECTION_TIMEOUT'],
    },
    {
      source: 'Python',
      text: 'ConnectionRefusedError: [Errno 111] Connection refused',
    },
    {
      source: '.NET',
      text: 'System.Net.Sockets.SocketException (10061): No connection could be made because the target machine actively refused it. 10.0.0.5:25',
    },
    {
      source: 'Java',
      text: 'java.net.ConnectException: Connection refused (Connection refused)',
    },
    {
      source: 'Node (no route)',
      text: 'connect EHOSTUNREACH 10.0.0.5:25',
      failure: { code: 'ESOCKET' },
    },
  ],
  CONNECTION_TIMEOUT: [
    {
      source: 'nodemailer, a server that accepts the connection and never greets',
      text: 'Greeting never received',
      failure: { code: 'ETIMEDOUT', phase: 'greeting' },
    },
    {
      source: 'sysemail, a silent port that is not TLS either',
      text: 'Greeting never received; the port did not answer a TLS handshake either',
      failure: { code: 'ETIMEDOUT', phase: 'greeting' },
      absent: ['TLS_MODE_MISMATCH'],
    },
    {
      source: 'sysemail, a server trickling its replies past the session deadline',
      text: 'the SMTP session with smtp.example.com:587 did not end within smtp.sessionTimeoutSec (300 s), so it was cut off',
      failure: { code: 'SESSION_TIMEOUT' },
    },
    {
      source: 'nodemailer',
      text: 'Connection timeout',
      failure: { code: 'ETIMEDOUT', phase: 'connect' },
    },
    {
      source: 'Node',
      text: 'connect ETIMEDOUT 40.99.4.34:587',
      failure: { code: 'ESOCKET', phase: 'connect' },
      absent: ['CONNECTION_REFUSED'],
    },
    {
      source: '.NET',
      text: 'A connection attempt failed because the connected party did not properly respond after a period of time, or established connection failed because connected host has failed to respond.',
    },
    {
      source: 'Python',
      text: 'TimeoutError: [Errno 110] Connection timed out',
    },
    {
      source: 'Java',
      text: 'java.net.ConnectException: Connection timed out: connect',
      absent: ['CONNECTION_REFUSED'],
    },
  ],
  RATE_LIMITED: [
    {
      source: 'Gmail',
      text: '421 4.7.0 Try again later, closing connection. (MAIL) a1si - gsmtp',
      failure: { code: 'EENVELOPE', responseCode: 421, enhancedCode: '4.7.0' },
    },
    {
      source: 'Exchange Online via nodemailer',
      text: 'Message failed: 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471.namprd08.prod.outlook.com]',
      failure: { code: 'EMESSAGE', responseCode: 432, enhancedCode: '4.3.2', phase: 'data' },
    },
    {
      source: 'Exchange Online (daily recipients)',
      text: '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message Cannot submit message.',
      absent: ['MAILBOX_FULL'],
    },
    {
      source: 'Sendmail ratecontrol',
      text: '421 4.3.2 Connection rate limit exceeded.',
    },
    {
      source: 'Amazon SES',
      text: '454 Throttling failure: Maximum sending rate exceeded.',
    },
    {
      source: 'Microsoft Graph',
      text: '{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}',
      failure: { provider: 'exchange', graphCode: 'ApplicationThrottled', httpStatus: 429, retryAfterSec: 30 },
    },
    {
      source: 'Gmail (daily quota)',
      text: '550 5.4.5 Daily user sending quota exceeded. a1si - gsmtp',
      absent: ['MAILBOX_FULL'],
    },
    {
      source: 'Postfix anvil',
      text: '421 4.7.0 mail.example.com Error: too many connections from 203.0.113.5',
    },
    {
      source: 'Exim (cPanel)',
      text: '550 Domain example.com has exceeded the max emails per hour (100/100 (100%)) allowed.  Message discarded.',
    },
    {
      source: 'Gmail (sign-in attempts)',
      text: '454 4.7.0 Too many login attempts, please try again later. a1sm - gsmtp',
      absent: ['BAD_CREDENTIALS'],
    },
  ],
  MESSAGE_TOO_LARGE: [
    {
      source: 'Exchange Online',
      text: '552 5.3.4 Message size exceeds fixed maximum message size',
      failure: { code: 'EMESSAGE', responseCode: 552, enhancedCode: '5.3.4', phase: 'data' },
      absent: ['MAILBOX_FULL'],
    },
    {
      source: 'Gmail',
      text: "552-5.2.3 Your message exceeded Google's message size limits. Please visit\n552 5.2.3  https://support.google.com/mail/?p=MaxSizeError to view our size guidelines. a1si - gsmtp",
      failure: { responseCode: 552, enhancedCode: '5.2.3' },
      absent: ['MAILBOX_FULL'],
    },
    {
      source: 'Postfix',
      text: '552 5.3.4 Message size exceeds fixed limit',
    },
    {
      source: 'Exim',
      text: '552 Message size exceeds maximum permitted',
      failure: { responseCode: 552 },
      absent: ['MAILBOX_FULL'],
    },
    {
      source: 'Sendmail',
      text: '552 5.2.3 Message size exceeds maximum value',
    },
    {
      source: 'RFC 3463 wording',
      text: '554 5.3.4 Message too big for system',
    },
    {
      source: 'nodemailer SIZE check',
      text: 'Message size larger than allowed 10485760',
      failure: { code: 'EMESSAGE' },
    },
  ],
  RECIPIENT_UNKNOWN: [
    {
      source: 'Gmail',
      text: "550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550-5.1.1 unnecessary spaces. Learn more at\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si - gsmtp",
      failure: { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.1.1', phase: 'rcpt' },
    },
    {
      source: 'Exchange Online',
      text: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient jdoe@contoso.com not found by SMTP address lookup',
      failure: { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.1.10' },
    },
    {
      source: 'Postfix via nodemailer',
      text: "Can't send mail - all recipients were rejected: 550 5.1.1 <jdoe@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
      failure: { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.1.1' },
      absent: ['SINGLE_LABEL_DOMAIN'],
    },
    {
      source: 'Exim',
      text: '550 Unrouteable address',
    },
    {
      source: 'Exim (cPanel)',
      text: '550 No Such User Here',
    },
    {
      source: 'Sendmail',
      text: '550 5.1.1 <jdoe@example.org>... User unknown',
    },
    {
      source: 'Exchange on-premises',
      text: '550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found',
    },
    {
      source: 'Exchange Online directory-based edge blocking',
      text: '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [BN8NAM11FT066.eop-nam11.prod.protection.outlook.com]',
      absent: ['RELAY_DENIED'],
    },
  ],
  SENDER_REJECTED: [
    {
      source: 'Postfix reject_sender_login_mismatch',
      text: '553 5.7.1 <app@contoso.com>: Sender address rejected: not owned by user svc-erp@contoso.com',
      failure: { code: 'EENVELOPE', responseCode: 553, enhancedCode: '5.7.1', phase: 'mail' },
      absent: ['RELAY_DENIED'],
    },
    {
      source: 'Postfix reject_unknown_sender_domain',
      text: '450 4.1.8 <app@erp.contoso.internal>: Sender address rejected: Domain not found',
      failure: { code: 'EENVELOPE', responseCode: 450, enhancedCode: '4.1.8' },
    },
    {
      source: 'Exchange Online (SPF)',
      text: '550 5.7.23 The message was rejected because of Sender Policy Framework violation',
      failure: { responseCode: 550, enhancedCode: '5.7.23' },
    },
    {
      source: 'Gmail (unauthenticated sender)',
      text: '550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.',
      absent: ['NOT_AUTHENTICATED'],
    },
    {
      source: 'Gmail (DMARC)',
      text: "550-5.7.26 Unauthenticated email from contoso.com is not accepted due to domain's DMARC policy.",
      absent: ['NOT_AUTHENTICATED'],
    },
    {
      source: 'Amazon SES',
      text: '554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: app@contoso.com',
    },
    {
      source: 'Exim',
      text: '550 Sender verify failed',
    },
    {
      source: 'Sendmail',
      text: '553 5.1.8 <app@contoso.invalid>... Domain of sender address app@contoso.invalid does not exist',
    },
    {
      source: 'Exchange Online (unregistered domain)',
      text: '550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains.',
    },
  ],
  STARTTLS_UNAVAILABLE: [
    {
      source: 'Postfix (broken TLS set-up)',
      text: '454 4.7.0 TLS not available due to local problem',
      failure: { code: 'ETLS', responseCode: 454, enhancedCode: '4.7.0', phase: 'tls' },
      absent: ['TLS_MODE_MISMATCH', 'RATE_LIMITED'],
    },
    {
      source: 'Exim',
      text: '454 TLS currently unavailable',
      failure: { code: 'ETLS', responseCode: 454, phase: 'tls' },
      absent: ['TLS_MODE_MISMATCH'],
    },
    {
      source: 'nodemailer with requireTLS',
      text: 'Error upgrading connection with STARTTLS: 502 5.5.2 Error: command not recognized',
      failure: { code: 'ETLS', responseCode: 502, phase: 'tls' },
      absent: ['TLS_MODE_MISMATCH'],
    },
    {
      source: 'Python smtplib',
      text: 'smtplib.SMTPNotSupportedError: STARTTLS extension not supported by server.',
    },
    {
      source: '.NET SmtpClient',
      text: 'System.Net.Mail.SmtpException: Server does not support secure connections.',
      absent: ['STARTTLS_REQUIRED'],
    },
  ],
  MESSAGE_REJECTED_AS_SPAM: [
    {
      source: 'Microsoft 365 (outbound spam)',
      text: '550 5.7.520 Message blocked because it contains content identified as spam. AS(4810)',
      failure: { code: 'EMESSAGE', responseCode: 550, enhancedCode: '5.7.520', phase: 'data' },
      absent: ['RELAY_DENIED'],
    },
    {
      source: 'Gmail',
      text: '550-5.7.1 [203.0.113.5] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.\n550 5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError a1si123.45 - gsmtp',
      failure: { code: 'EMESSAGE', responseCode: 550, enhancedCode: '5.7.1', phase: 'data' },
      absent: ['RELAY_DENIED', 'SENDER_REJECTED'],
    },
    {
      source: 'Postfix with a spam milter',
      text: '554 5.7.1 <app@contoso.com>: rejected as spam',
      failure: { code: 'EMESSAGE', responseCode: 554, enhancedCode: '5.7.1', phase: 'data' },
      absent: ['RELAY_DENIED', 'SENDER_REJECTED'],
    },
    {
      source: 'rspamd behind Postfix',
      text: '554 5.7.1 Spam message rejected',
      absent: ['RELAY_DENIED'],
    },
    {
      source: 'Postfix body_checks',
      text: '550 5.7.1 Message content rejected',
      absent: ['RELAY_DENIED'],
    },
    {
      source: 'Exim ACL',
      text: '550 This message was classified as SPAM and may not be delivered',
    },
    {
      source: 'Exchange on-premises content filter',
      text: '550 5.7.1 Message rejected as spam by Content Filtering.',
      absent: ['RELAY_DENIED'],
    },
  ],
};

describe('the catalogue', () => {
  it('has exactly the ids of the contract, once each, in the contract order', () => {
    expect(catalogue.map((e) => e.id)).toEqual([...DIAGNOSIS_IDS]);
    expect(DIAGNOSIS_IDS).toEqual(expect.arrayContaining(['STARTTLS_UNAVAILABLE', 'MESSAGE_REJECTED_AS_SPAM']));
  });

  it.each(catalogue.map((e) => [e.id, e] as const))('%s is complete', (_id, entry) => {
    expect(entry.title.length).toBeGreaterThan(5);
    expect(entry.explanation.length).toBeGreaterThan(40);
    expect(entry.fix).toMatch(/sysemail /);
    expect(typeof entry.retryable).toBe('boolean');
    const r = entry.rules;
    const patterns = [...(r.text ?? []), ...(r.hints ?? []), ...(r.notWhen ?? [])];
    expect(patterns.length).toBeGreaterThan(0);
    for (const re of patterns) expect(re.flags).not.toMatch(/[gy]/);
    for (const code of r.enhancedCodes ?? []) expect(code).toMatch(/^[245]\.\d{1,3}\.(?:\d{1,3}|\*)$/);
  });

  it('marks exactly the temporary causes as retryable', () => {
    expect(catalogue.filter((e) => e.retryable).map((e) => e.id)).toEqual([
      'MAILBOX_FULL',
      'CONNECTION_REFUSED',
      'CONNECTION_TIMEOUT',
      'RATE_LIMITED',
    ]);
  });

  it('finds an entry by id', () => {
    expect(catalogueEntry('RELAY_DENIED').title).toMatch(/relay/i);
  });
});

describe.each(DIAGNOSIS_IDS.map((id) => [id] as const))('%s', (id) => {
  const cases = CASES[id];

  it('has at least three real wordings', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
  });

  it.each(cases.map((c) => [c.source, c] as const))('is the first match as text: %s', (_source, c) => {
    const found = ids(diagnoseText(c.text));
    expect(found[0], `${c.text}\n→ ${found.join(', ')}`).toBe(id);
    for (const other of c.absent ?? []) expect(found).not.toContain(other);
  });

  it.each(cases.map((c) => [c.source, c] as const))('is the first match as a structured failure: %s', (_source, c) => {
    const found = ids(diagnose({ ...c.failure, response: c.text }));
    expect(found[0], `${c.text}\n→ ${found.join(', ')}`).toBe(id);
    for (const other of c.absent ?? []) expect(found).not.toContain(other);
  });
});

describe('diagnose on codes alone', () => {
  it.each<[string, FailureInfo, DiagnosisId]>([
    ['535 5.7.3', { code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.3' }, 'BAD_CREDENTIALS'],
    ['EAUTH 535', { code: 'EAUTH', responseCode: 535 }, 'BAD_CREDENTIALS'],
    ['534 5.7.9', { code: 'EAUTH', responseCode: 534, enhancedCode: '5.7.9' }, 'APP_PASSWORD_REQUIRED'],
    ['550 5.7.60', { responseCode: 550, enhancedCode: '5.7.60' }, 'SEND_AS_DENIED'],
    ['550 5.1.1', { code: 'EENVELOPE', responseCode: 550, enhancedCode: '5.1.1' }, 'RECIPIENT_UNKNOWN'],
    ['552 5.2.2', { responseCode: 552, enhancedCode: '5.2.2' }, 'MAILBOX_FULL'],
    ['552 5.3.4', { responseCode: 552, enhancedCode: '5.3.4' }, 'MESSAGE_TOO_LARGE'],
    ['550 5.7.1', { responseCode: 550, enhancedCode: '5.7.1' }, 'RELAY_DENIED'],
    ['530 5.7.57', { responseCode: 530, enhancedCode: '5.7.57' }, 'NOT_AUTHENTICATED'],
    ['421 4.7.0', { responseCode: 421, enhancedCode: '4.7.0' }, 'RATE_LIMITED'],
    ['ECONNREFUSED', { code: 'ECONNREFUSED' }, 'CONNECTION_REFUSED'],
    ['ETIMEDOUT', { code: 'ETIMEDOUT' }, 'CONNECTION_TIMEOUT'],
    ['ENOTFOUND', { code: 'ENOTFOUND' }, 'HOST_NOT_FOUND'],
    ['CERT_HAS_EXPIRED', { code: 'CERT_HAS_EXPIRED' }, 'TLS_CERT_UNTRUSTED'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'TLS_MODE_MISMATCH'],
    ['Graph ErrorAccessDenied', { graphCode: 'ErrorAccessDenied', httpStatus: 403 }, 'EXCHANGE_UNAUTHORIZED'],
    ['Graph 401', { provider: 'exchange', httpStatus: 401 }, 'EXCHANGE_UNAUTHORIZED'],
    ['Graph 404', { provider: 'exchange', httpStatus: 404 }, 'MAILBOX_NOT_FOUND'],
    ['Graph ErrorNonExistentMailbox', { graphCode: 'ErrorNonExistentMailbox' }, 'MAILBOX_NOT_FOUND'],
    ['Graph 429', { provider: 'exchange', httpStatus: 429 }, 'RATE_LIMITED'],
    ['Graph 413', { provider: 'exchange', httpStatus: 413 }, 'MESSAGE_TOO_LARGE'],
    ['Graph ErrorSendAsDenied', { graphCode: 'ErrorSendAsDenied', httpStatus: 403 }, 'SEND_AS_DENIED'],
    ['secret phase', { phase: 'secret' }, 'SECRET_UNAVAILABLE'],
  ])('%s', (_name, failure, expected) => {
    expect(ids(diagnose(failure))[0]).toBe(expected);
  });

  it('lists every cause an ambiguous code can mean, the policy first, without a wording to decide', () => {
    const found = ids(diagnose({ code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.139' }));
    expect(found.slice(0, 3)).toEqual(['AUTH_POLICY_BLOCKED', 'SMTP_AUTH_DISABLED', 'BASIC_AUTH_DISABLED']);
  });

  it('lets the wording decide between the causes a shared code covers', () => {
    const policy = diagnose({
      responseCode: 535,
      enhancedCode: '5.7.139',
      response: 'Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully.',
    });
    const basic = diagnose({
      responseCode: 535,
      enhancedCode: '5.7.139',
      response: 'Authentication unsuccessful, basic authentication is disabled.',
    });
    expect(ids(policy)).toEqual(['AUTH_POLICY_BLOCKED']);
    expect(ids(basic)).toEqual(['BASIC_AUTH_DISABLED']);
  });

  it('keeps a secondary cause suggested by the wording, after the named one', () => {
    expect(ids(diagnoseText('Greeting never received'))).toEqual(['CONNECTION_TIMEOUT', 'TLS_MODE_MISMATCH']);
    expect(ids(diagnoseText('The SMTP address has no mailbox associated with it.'))).toEqual(['MAILBOX_NOT_FOUND', 'USERNAME_FORMAT']);
    expect(ids(diagnoseText('553 5.7.1 <app@contoso.com>: Sender address rejected: not owned by user svc@contoso.com'))).toEqual([
      'SENDER_REJECTED',
      'SEND_AS_DENIED',
    ]);
  });

  it('a 454 that is not about TLS is not taken for STARTTLS_UNAVAILABLE', () => {
    expect(ids(diagnoseText('454 4.7.0 Temporary authentication failure'))).not.toContain('STARTTLS_UNAVAILABLE');
    expect(ids(diagnoseText('454 4.7.1 <user@example.net>: Relay access denied'))[0]).toBe('RELAY_DENIED');
  });

  it('says nothing on a reply code that tells nothing by itself', () => {
    expect(diagnose({ responseCode: 550 })).toEqual([]);
    expect(diagnose({ code: 'EENVELOPE' })).toEqual([]);
    expect(diagnose({ code: 'ETLS' })).toEqual([]);
  });
});

describe('matches', () => {
  it('carry the catalogue fields, a score in descending order, and each id once', () => {
    const matches = diagnoseText('530 5.7.0 Must issue a STARTTLS command first');
    expect(matches[0]).toMatchObject({
      id: 'STARTTLS_REQUIRED',
      title: catalogueEntry('STARTTLS_REQUIRED').title,
      fix: catalogueEntry('STARTTLS_REQUIRED').fix,
      retryable: false,
    });
    const all = diagnose({ code: 'EAUTH', responseCode: 535, enhancedCode: '5.7.139' });
    expect(new Set(ids(all)).size).toBe(all.length);
    const scores = all.map((m) => m.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });
});

describe('failureFromText', () => {
  it('pulls the codes out of free text', () => {
    expect(failureFromText('Invalid login: 535 5.7.3 Authentication unsuccessful')).toMatchObject({
      responseCode: 535,
      enhancedCode: '5.7.3',
    });
    expect(failureFromText('connect ECONNREFUSED 127.0.0.1:587')).toMatchObject({ code: 'ECONNREFUSED' });
    expect(failureFromText('connect ECONNREFUSED 127.0.0.1:587').responseCode).toBeUndefined();
    expect(failureFromText('{"error":{"code":"ErrorAccessDenied","message":"Access is denied."}}')).toMatchObject({
      graphCode: 'ErrorAccessDenied',
    });
    expect(failureFromText('The remote server returned an error: (401) Unauthorized.').httpStatus).toBe(401);
    expect(failureFromText('Request failed: HTTP 403').httpStatus).toBe(403);
    expect(failureFromText('Graph answered with status 404').httpStatus).toBe(404);
    expect(failureFromText("(534, b'5.7.9 Application-specific password required')")).toMatchObject({
      responseCode: 534,
      enhancedCode: '5.7.9',
    });
  });

  it('does not take addresses, ports, versions or line numbers for codes', () => {
    const f = failureFromText('Exim 4.93 on 10.5.1.1 port 587, DNS 4.2.2.1, File "smtplib.py", line 535, in login');
    expect(f.responseCode).toBeUndefined();
    expect(f.enhancedCode).toBeUndefined();
  });
});

describe('unrelated text', () => {
  it.each([
    '250 2.0.0 Ok: queued as 12345',
    '250 2.6.0 <abc@contoso.com> [InternalId=123, Hostname=BN6PR11MB] Queued mail for delivery',
    'hello world',
    '    at Object.<anonymous> (/app/index.js:10:5)',
    '    at processTicksAndRejections (node:internal/process/task_queues:95:5)',
    'TypeError: Cannot read properties of undefined (reading "length")',
    '220 smtp.gmail.com ESMTP a1sm123 - gsmtp',
    '',
  ])('matches nothing: %j', (text) => {
    expect(diagnoseText(text)).toEqual([]);
    expect(diagnoseLog(text)).toEqual([]);
  });
});

describe('errors outside the catalogue', () => {
  it.each([
    '451 4.7.1 Greylisting in action, please come back later',
    '454 4.7.0 Temporary authentication failure',
    '452 4.5.3 Too many recipients',
    'Connection closed unexpectedly',
  ])('are not forced onto an entry: %j', (text) => {
    expect(diagnoseText(text)).toEqual([]);
  });
});

describe('diagnoseLog', () => {
  const log = [
    '[2022-11-16 11:57:21] DEBUG [lHr1v5x3A] S: 334 UGFzc3dvcmQ6',
    '[2022-11-16 11:57:21] DEBUG [lHr1v5x3A] C: Lyogc2VjcmV0ICov',
    '[2022-11-16 11:57:26] DEBUG [lHr1v5x3A] S: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]',
    '[2022-11-16 11:57:26] INFO  [lHr1v5x3A] User "svc@contoso.com" failed to authenticate',
    '[2022-11-16 11:57:26] ERROR Send Error: Invalid login: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]',
    'Error: connect ECONNREFUSED 127.0.0.1:587',
    '    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)',
    '[2022-11-16 12:00:01] INFO  [x] 250 2.0.0 Ok: queued as 4BX2',
    '[2022-11-16 12:00:05] DEBUG [y] S: 550-5.1.1 The email account that you tried to reach does not exist. Please try',
    "[2022-11-16 12:00:05] DEBUG [y] S: 550-5.1.1 double-checking the recipient's email address for typos or",
    '[2022-11-16 12:00:05] DEBUG [y] S: 550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser - gsmtp',
    'Error: connect ECONNREFUSED 127.0.0.1:587',
    '    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)',
  ].join('\n');

  it('reports each distinct error once, in order, with its excerpt and matches', () => {
    const findings = diagnoseLog(log);
    expect(findings.map((f) => f.matches[0]?.id)).toEqual(['SMTP_AUTH_DISABLED', 'CONNECTION_REFUSED', 'RECIPIENT_UNKNOWN']);
    expect(findings[0]?.excerpt).toContain('S: 535 5.7.139');
    expect(findings[1]?.excerpt).toBe('Error: connect ECONNREFUSED 127.0.0.1:587');
    expect(findings[2]?.excerpt.split('\n')).toHaveLength(3);
  });

  it('keeps different errors of the same kind apart', () => {
    const two = diagnoseLog(
      '550 5.1.1 <a@example.org>: Recipient address rejected: User unknown\n550 5.1.1 <b@example.org>: Recipient address rejected: User unknown',
    );
    expect(two).toHaveLength(2);
  });

  it('reads a Python traceback down to the exception line', () => {
    const findings = diagnoseLog(
      [
        'Traceback (most recent call last):',
        '  File "/app/main.py", line 78, in <module>',
        '    server.login(sender, password)',
        '  File "/usr/lib/python3.12/smtplib.py", line 739, in login',
        '    raise last_exception',
        "smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication unsuccessful, basic authentication is disabled. [BL1P222CA0027.NAMP222.PROD.OUTLOOK.COM]')",
      ].join('\n'),
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]?.matches[0]?.id).toBe('BASIC_AUTH_DISABLED');
  });

  it('keeps an inner exception with its outer one', () => {
    const findings = diagnoseLog(
      [
        'MailKit.Security.AuthenticationException: 535: 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PH7P220CA0132.NAMP220.PROD.OUTLOOK.COM]',
        ' ---> MailKit.Net.Smtp.SmtpCommandException: 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PH7P220CA0132.NAMP220.PROD.OUTLOOK.COM]',
        '   --- End of inner exception stack trace ---',
        '   at MailKit.Net.Smtp.SmtpClient.AuthenticateAsync(Encoding encoding, ICredentials credentials, CancellationToken cancellationToken)',
      ].join('\n'),
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]?.excerpt).not.toContain('AuthenticateAsync');
  });
});
