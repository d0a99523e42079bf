import { describe, expect, it } from 'vitest';
import { isAutoReply, parseDeliveryStatus, splitMbox } from '../../src/core/dsn.js';
import { parseSysemailId, sysemailIdValue } from '../../src/core/outgoing.js';
import { recipientRefusal, suppressionKey, suppressionsAfter } from '../../src/core/suppression.js';
import { decideOutcome, type OutcomeInput } from '../../src/app/distributor/outcome.js';

describe('suppressionKey: the domain in lower case, the mailbox as given', () => {
  it.each([
    ['Ann@Example.COM', 'Ann@example.com'],
    ['ann@example.com', 'ann@example.com'],
    ['Ann Lee <Ann.Lee@EXAMPLE.org>', 'Ann.Lee@example.org'],
    ['  bob@Example.net ', 'bob@example.net'],
  ])('%s → %s', (input, key) => expect(suppressionKey(input)).toBe(key));
});

describe('recipientRefusal: which refusals are about the address', () => {
  it.each([
    // real wordings
    ['550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in virtual mailbox table', 'hard'],
    ['550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', 'hard'],
    ['550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking', 'hard'],
    ['550 Unrouteable address', 'hard'],
    ['550 5.2.1 mailbox disabled', 'hard'],
    ['550 5.2.1 The email account that you tried to reach is disabled.', 'hard'],
    ['554 5.0.0 <x@example.org>: user unknown', 'hard'],
    ['552 5.2.2 Mailbox full', 'soft'],
    ['552-5.2.2 The email account that you tried to reach is over quota', 'soft'],
    // not a verdict on the address
    ['550 5.7.1 Message rejected as spam', null],
    ['550 5.7.606 Access denied, banned sending IP', null],
    ['552 5.3.4 Message size exceeds fixed limit', null],
    ['450 4.1.1 <x@example.org>: Recipient address rejected: unverified address', null],
    ['452 4.2.2 Mailbox full', null],
    ['421 4.7.0 Try again later', null],
    ['550 Administrative prohibition', null],
  ])('%s → %s', (response, kind) => expect(recipientRefusal({ response })).toBe(kind));

  it('the enhanced status decides over the words', () => {
    expect(recipientRefusal({ responseCode: 550, enhancedCode: '5.7.1', response: '550 5.7.1 user unknown' })).toBeNull();
    expect(recipientRefusal({ enhancedCode: '5.1.1', response: '' })).toBe('hard');
  });
});

describe('suppressionsAfter: only the refused recipients, each once', () => {
  const o = { messageId: 9, now: 1000, softExpiryMs: 500 };
  it('a partial refusal suppresses the refused one only; a full mailbox for a while', () => {
    const out = suppressionsAfter(
      {
        recipients: ['ok@example.org', 'Gone@Example.org', 'full@example.org'],
        refused: [
          { recipient: 'Gone@Example.org', responseCode: 550, response: '550 5.1.1 User unknown' },
          { recipient: 'full@example.org', responseCode: 552, response: '552 5.2.2 Mailbox full' },
        ],
      },
      o,
    );
    expect(out).toEqual([
      { address: 'Gone@example.org', reason: '550 5.1.1 User unknown', source: 'refusal', messageId: 9, expiresAt: null },
      { address: 'full@example.org', reason: '552 5.2.2 Mailbox full', source: 'refusal', messageId: 9, expiresAt: 1500 },
    ]);
  });
  it('a failure naming no recipient is the single recipient’s only at RCPT', () => {
    const failure = { phase: 'rcpt' as const, responseCode: 550, response: '550 5.1.1 unknown' };
    expect(suppressionsAfter({ recipients: ['a@example.org'], failure }, o).map((e) => e.address)).toEqual(['a@example.org']);
    expect(suppressionsAfter({ recipients: ['a@example.org', 'b@example.org'], failure }, o)).toEqual([]);
    expect(suppressionsAfter({ recipients: ['a@example.org'], failure: { ...failure, phase: 'data' as const } }, o)).toEqual([]);
  });
});

describe('decideOutcome carries the suppressions with its write', () => {
  const base: Omit<OutcomeInput, 'result'> = {
    message: {
      id: 3,
      attempts: 1,
      firstAttemptAt: 0,
      createdAt: 0,
      forcedSend: false,
      via: 'smtp',
      to: ['x@example.org'],
      cc: [],
      bcc: [],
    },
    owner: 'A',
    startedAt: 0,
    now: 10,
    policy: {
      backoff: { minBackoffSec: 300, maxBackoffSec: 4000, maxLifetimeHours: 120 },
      random: () => 0.5,
      deadlineStreak: 0,
      concurrency: 1,
    },
  };
  it('a permanent 5.1.1 fails the message and suppresses its recipient; a 4xx suppresses nobody', () => {
    const failure = { phase: 'rcpt' as const, code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 <x@example.org>: User unknown' };
    const failed = decideOutcome({
      ...base,
      result: { failure, classification: { kind: 'unavailable', scope: 'message' }, diagnosis: null, error: null },
    });
    expect(failed.write).toMatchObject({ op: 'failed', suppress: [{ address: 'x@example.org', messageId: 3, source: 'refusal' }] });
    const temp = { ...failure, responseCode: 450, response: '450 4.1.1 try later' };
    const deferred = decideOutcome({
      ...base,
      result: { failure: temp, classification: { kind: 'tempfail', scope: 'message' }, diagnosis: null, error: null },
    });
    expect(deferred.write.op).toBe('deferred');
    expect('suppress' in deferred.write).toBe(false);
  });
  it('a send accepted for some recipients suppresses the refused ones', () => {
    const d = decideOutcome({
      ...base,
      result: { sent: { response: '250 ok', refused: [{ recipient: 'x@example.org', responseCode: 550, response: '550 5.1.1 unknown' }] } },
    });
    expect(d.write).toMatchObject({ op: 'sent', suppress: [{ address: 'x@example.org' }] });
    expect((d.write as unknown as { outcome: Record<string, unknown> }).outcome.refused).toBeUndefined();
  });
});

describe('delivery status notifications', () => {
  it('reads the per-recipient blocks, folded fields, typed values', () => {
    const s = parseDeliveryStatus(
      [
        'Reporting-MTA: dns; mx1.example.com',
        'Arrival-Date: Tue,  1 Dec 2026 09:14:01 +0000 (UTC)',
        '',
        'Final-Recipient: rfc822; a@example.org',
        'Action: failed',
        'Status: 5.1.1',
        'Remote-MTA: dns; mail.example.org',
        'Diagnostic-Code: smtp; 550 5.1.1 <a@example.org>: Recipient address rejected:',
        '    User unknown in virtual mailbox table',
        '',
        'Original-Recipient: rfc822;b@example.org',
        'Action: delayed',
        'Status: 4.4.1',
        '',
        'Final-Recipient: rfc822; c@example.org',
        'Status: 2.0.0',
      ].join('\r\n'),
    );
    expect(s.reportingMta).toBe('mx1.example.com');
    expect(s.recipients).toEqual([
      {
        recipient: 'a@example.org',
        action: 'failed',
        status: '5.1.1',
        diagnostic: '550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
        remoteMta: 'mail.example.org',
      },
      { recipient: 'b@example.org', action: 'delayed', status: '4.4.1', diagnostic: null, remoteMta: 'mx1.example.com' },
    ]);
  });
  it('tells an automatic reply apart, splits an mbox, reads X-Sysemail-Id back', () => {
    expect(isAutoReply({ autoSubmitted: 'auto-replied', subject: 'Re: x' })).toBe(true);
    expect(isAutoReply({ subject: 'Automatic reply: Invoice' })).toBe(true);
    expect(isAutoReply({ subject: 'Re: Invoice' })).toBe(false);
    expect(splitMbox('From a Tue\nSubject: 1\n\n>From here\nFrom b Wed\nSubject: 2\n\nx\n')).toEqual([
      'Subject: 1\n\nFrom here',
      'Subject: 2\n\nx\n',
    ]);
    expect(parseSysemailId(sysemailIdValue(42, '0123456789abcdefXYZ'))).toEqual({ id: 42, db: '0123456789ab' });
    expect(parseSysemailId('not one')).toBeUndefined();
  });
});
