import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../../src/core/classify.js';
import type { FailureInfo } from '../../src/core/failure.js';

const smtp = (f: Partial<FailureInfo>): FailureInfo => ({ provider: 'smtp', ...f });
const graph = (f: Partial<FailureInfo>): FailureInfo => ({ provider: 'exchange', phase: 'send', ...f });

describe('classifyFailure: kind and scope per the contract', () => {
  const cases: [string, FailureInfo, string, string][] = [
    // lost after the whole message went out: this message's, whatever the network code says
    [
      'outcome unknown',
      smtp({ phase: 'data', code: 'ECONNECTION', outcomeUnknown: true, response: 'Connection closed unexpectedly' }),
      'tempfail',
      'message',
    ],
    // sign-in and permission: the whole account is affected
    [
      '535 5.7.3 bad credentials',
      smtp({ phase: 'auth', code: 'EAUTH', responseCode: 535, response: '535 5.7.3 Authentication unsuccessful' }),
      'noperm',
      'account',
    ],
    [
      '534 5.7.9 app password required',
      smtp({ phase: 'auth', code: 'EAUTH', responseCode: 534, response: '534-5.7.9 Application-specific password required' }),
      'noperm',
      'account',
    ],
    [
      '530 5.7.57 not authenticated on MAIL',
      smtp({ phase: 'mail', code: 'EENVELOPE', responseCode: 530, response: '530 5.7.57 Client not authenticated to send mail' }),
      'noperm',
      'account',
    ],
    [
      '535 5.7.139 basic auth disabled',
      smtp({
        phase: 'auth',
        code: 'EAUTH',
        responseCode: 535,
        response: '535 5.7.139 Authentication unsuccessful, basic authentication is disabled',
      }),
      'noperm',
      'account',
    ],
    [
      '550 5.7.60 Send As denied',
      smtp({
        phase: 'mail',
        code: 'EENVELOPE',
        responseCode: 550,
        response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
      }),
      'noperm',
      'account',
    ],
    [
      '454 4.7.0 temporary auth failure',
      smtp({ phase: 'auth', code: 'EAUTH', responseCode: 454, response: '454 4.7.0 Temporary authentication failure' }),
      'tempfail',
      'account',
    ],
    [
      'AUTH not implemented (502)',
      smtp({ phase: 'auth', code: 'EAUTH', responseCode: 502, response: '502 5.5.1 Unrecognized command' }),
      'config',
      'account',
    ],
    [
      'missing credentials (no reply)',
      smtp({ phase: 'auth', code: 'EAUTH', response: 'Missing credentials for "PLAIN"' }),
      'config',
      'account',
    ],
    // one message refused for good
    [
      '550 5.1.1 unknown recipient',
      smtp({ phase: 'rcpt', code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 User unknown' }),
      'unavailable',
      'message',
    ],
    [
      '552 5.3.4 too large at DATA',
      smtp({ phase: 'data', code: 'EMESSAGE', responseCode: 552, response: '552 5.3.4 Message size exceeds fixed maximum message size' }),
      'unavailable',
      'message',
    ],
    [
      '554 5.7.1 content rejected',
      smtp({ phase: 'data', code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 Message rejected as spam' }),
      'unavailable',
      'message',
    ],
    // temporary
    [
      '421 on connect',
      smtp({ phase: 'greeting', code: 'EPROTOCOL', responseCode: 421, response: '421 4.7.0 Too many connections' }),
      'tempfail',
      'account',
    ],
    [
      '421 mid-session',
      smtp({ phase: 'data', code: 'ECONNECTION', responseCode: 421, response: '421 4.4.2 Connection dropped' }),
      'tempfail',
      'account',
    ],
    [
      '451 at DATA',
      smtp({ phase: 'data', code: 'EMESSAGE', responseCode: 451, response: '451 4.3.0 Temporary local problem' }),
      'tempfail',
      'message',
    ],
    [
      '452 4.2.2 mailbox full',
      smtp({ phase: 'rcpt', code: 'EENVELOPE', responseCode: 452, response: '452 4.2.2 Mailbox full' }),
      'tempfail',
      'message',
    ],
    [
      '450 4.7.1 rate limit on RCPT',
      smtp({ phase: 'rcpt', code: 'EENVELOPE', responseCode: 450, response: '450 4.7.1 Rate limit exceeded' }),
      'tempfail',
      'account',
    ],
    [
      'connection refused',
      smtp({ phase: 'connect', code: 'ECONNREFUSED', response: 'connect ECONNREFUSED 127.0.0.1:25' }),
      'tempfail',
      'account',
    ],
    ['greeting timeout', smtp({ phase: 'greeting', code: 'ETIMEDOUT', response: 'Greeting never received' }), 'tempfail', 'account'],
    [
      'connection dropped during DATA',
      smtp({ phase: 'data', code: 'ECONNECTION', response: 'Connection closed unexpectedly' }),
      'tempfail',
      'account',
    ],
    ['unknown failure', smtp({ response: 'something odd' }), 'tempfail', 'account'],
    // configuration
    [
      'host does not resolve',
      smtp({ phase: 'dns', code: 'ENOTFOUND', response: 'getaddrinfo ENOTFOUND smtp.exmaple.com' }),
      'config',
      'account',
    ],
    [
      'temporary DNS trouble',
      smtp({ phase: 'dns', code: 'EAI_AGAIN', response: 'getaddrinfo EAI_AGAIN smtp.example.com' }),
      'tempfail',
      'account',
    ],
    [
      'untrusted certificate',
      smtp({ phase: 'tls', code: 'SELF_SIGNED_CERT_IN_CHAIN', response: 'self-signed certificate in certificate chain' }),
      'config',
      'account',
    ],
    [
      'certificate text without code',
      smtp({ phase: 'tls', code: 'ETLS', response: 'Error initiating TLS - unable to verify the first certificate' }),
      'config',
      'account',
    ],
    [
      'implicit TLS against plain port',
      smtp({ phase: 'tls', code: 'ERR_SSL_WRONG_VERSION_NUMBER', response: 'ssl3_get_record:wrong version number' }),
      'config',
      'account',
    ],
    [
      'STARTTLS not offered',
      smtp({ phase: 'tls', code: 'ETLS', responseCode: 500, response: '500 Error: command not recognized' }),
      'config',
      'account',
    ],
    // with smtp.security starttls a server without working STARTTLS will not get better by waiting
    [
      'STARTTLS answered 454',
      smtp({ phase: 'tls', code: 'ETLS', responseCode: 454, response: '454 4.7.0 TLS not available due to local problem' }),
      'config',
      'account',
    ],
    [
      'STARTTLS answered 502',
      smtp({ phase: 'tls', code: 'ETLS', responseCode: 502, response: '502 5.5.2 Error: command not recognized' }),
      'config',
      'account',
    ],
    // an overall deadline that ran out concerns the session of this message; the next one may pass
    [
      'SMTP session deadline',
      smtp({ phase: 'ehlo', code: 'SESSION_TIMEOUT', response: 'the SMTP session did not end within smtp.sessionTimeoutSec 300 s' }),
      'tempfail',
      'message',
    ],
    [
      'Graph request deadline',
      graph({ code: 'REQUEST_TIMEOUT', response: 'Microsoft Graph did not answer within exchange.requestTimeoutSec 120 s' }),
      'tempfail',
      'message',
    ],
    [
      'server demands STARTTLS first',
      smtp({ phase: 'mail', code: 'EENVELOPE', responseCode: 530, response: '530 5.7.0 Must issue a STARTTLS command first' }),
      'config',
      'account',
    ],
    ['missing setting', smtp({ phase: 'config', code: 'SMTP_HOST_MISSING' }), 'config', 'account'],
    ['secret not found', smtp({ phase: 'secret', code: 'SECRET_UNAVAILABLE' }), 'config', 'account'],
    // Microsoft Graph
    ['Graph 401', graph({ httpStatus: 401, graphCode: 'InvalidAuthenticationToken' }), 'noperm', 'account'],
    ['Graph 403 ErrorAccessDenied', graph({ httpStatus: 403, graphCode: 'ErrorAccessDenied' }), 'noperm', 'account'],
    ['Graph 404 ErrorNonExistentMailbox', graph({ httpStatus: 404, graphCode: 'ErrorNonExistentMailbox' }), 'unavailable', 'account'],
    ['Graph 429 with Retry-After', graph({ httpStatus: 429, graphCode: 'ApplicationThrottled', retryAfterSec: 30 }), 'tempfail', 'account'],
    ['Graph 503', graph({ httpStatus: 503, graphCode: 'ServiceUnavailable' }), 'tempfail', 'account'],
    ['Graph 500', graph({ httpStatus: 500, graphCode: 'ErrorInternalServerError' }), 'tempfail', 'account'],
    ['Graph 502', graph({ httpStatus: 502 }), 'tempfail', 'account'],
    ['Graph 504', graph({ httpStatus: 504, graphCode: 'GatewayTimeout' }), 'tempfail', 'account'],
    ['Graph 507', graph({ httpStatus: 507 }), 'tempfail', 'account'],
    ['Graph 400 bad recipient', graph({ httpStatus: 400, graphCode: 'ErrorInvalidRecipients' }), 'unavailable', 'message'],
    ['Graph unreachable', graph({ code: 'ECONNREFUSED', response: 'fetch failed' }), 'tempfail', 'account'],
    [
      'token endpoint refuses the client',
      { provider: 'exchange', phase: 'token', httpStatus: 401, code: 'invalid_client' },
      'noperm',
      'account',
    ],
    ['token endpoint down', { provider: 'smtp', phase: 'token', httpStatus: 503 }, 'tempfail', 'account'],
    // email app
    ['eml folder not writable', { provider: 'eml', phase: 'write', code: 'EACCES' }, 'config', 'account'],
    ['eml disk full', { provider: 'eml', phase: 'write', code: 'ENOSPC' }, 'tempfail', 'account'],
  ];
  for (const [name, failure, kind, scope] of cases) {
    it(name, () => {
      expect(classifyFailure(failure)).toMatchObject({ kind, scope });
    });
  }

  it('reads the reply code and enhanced code out of the text when the fields are missing', () => {
    expect(classifyFailure(smtp({ phase: 'rcpt', response: '550 5.1.1 <x@example.com>: Recipient address rejected' }))).toMatchObject({
      kind: 'unavailable',
      scope: 'message',
    });
    expect(
      classifyFailure(smtp({ phase: 'mail', response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' })),
    ).toMatchObject({ kind: 'noperm', scope: 'account' });
  });
});
