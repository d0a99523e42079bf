import { describe, expect, it } from 'vitest';
import { THROTTLE_WINDOW_MS } from '../../src/core/throttle.js';
import {
  DAY_WINDOW_MS,
  defaultLimits,
  effectiveLimits,
  mailboxOf,
  parseKey,
  planGovernor,
  slowDownOf,
  type KeyLimits,
  type KeyState,
} from '../../src/core/governor.js';

const NOW = 1_700_000_000_000;
const limits = (o: Partial<KeyLimits>): KeyLimits => ({ perMinute: 0, concurrency: 0, perDay: 0, ...o });
const idle: KeyState = { window: [], day: [], pausedUntil: null };
const one = { deferrals: 0, recipients: 1 };

describe('planGovernor', () => {
  it('no limits: everything goes', () => {
    expect(planGovernor(limits({}), idle, NOW, [one, one])).toEqual([
      { action: 'send', forced: false },
      { action: 'send', forced: false },
    ]);
  });

  it('per minute: the limit goes, the rest waits at most a minute for the slot that frees, and goes after ten deferrals', () => {
    const state = { ...idle, window: [NOW - 50_000, NOW - 10_000] };
    const d = planGovernor(limits({ perMinute: 3 }), state, NOW, [one, one, { deferrals: 10, recipients: 1 }, one]);
    expect(d[0]).toEqual({ action: 'send', forced: false });
    // the window is counted as THROTTLE_WINDOW_MS (a little over a minute, for the time a send takes to reach the server)
    expect(d[1]).toEqual({ action: 'defer', until: NOW - 50_000 + THROTTLE_WINDOW_MS, deferrals: 1, why: 'perMinute' });
    expect(d[2]).toEqual({ action: 'send', forced: true });
    expect(d[3]).toMatchObject({ action: 'defer', why: 'perMinute' });
    for (const x of d) if (x.action === 'defer') expect(x.until - NOW).toBeLessThanOrEqual(THROTTLE_WINDOW_MS);
  });

  it('per day: recipients count, a message waits until enough leave the 24 hours, never forced', () => {
    const state = {
      ...idle,
      day: [
        { sentAt: NOW - DAY_WINDOW_MS + 5_000, recipients: 8 },
        { sentAt: NOW - 1000, recipients: 1 },
      ],
    };
    const d = planGovernor(limits({ perDay: 10 }), state, NOW, [
      { deferrals: 0, recipients: 1 },
      { deferrals: 50, recipients: 3 },
    ]);
    expect(d[0]).toEqual({ action: 'send', forced: false });
    expect(d[1]).toEqual({ action: 'defer', until: NOW + 5_000, deferrals: 50, why: 'perDay' });
  });

  it('a pause defers every message of the key until it ends, without counting a deferral', () => {
    const d = planGovernor(limits({}), { ...idle, pausedUntil: NOW + 30_000 }, NOW, [{ deferrals: 9, recipients: 1 }]);
    expect(d).toEqual([{ action: 'defer', until: NOW + 30_000, deferrals: 9, why: 'paused' }]);
    // a pause that ended is none
    expect(planGovernor(limits({}), { ...idle, pausedUntil: NOW }, NOW, [one])[0].action).toBe('send');
  });
});

describe('slowDownOf', () => {
  it.each([
    [{ responseCode: 432, response: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' }, 60],
    [{ responseCode: 421, response: '421 4.7.0 Too many connections from your host' }, 60],
    [{ responseCode: 452, response: '452 4.5.3 Too many recipients' }, 60],
    [{ httpStatus: 429, retryAfterSec: 17, response: 'ApplicationThrottled' }, 17],
    [{ httpStatus: 429, retryAfterSec: 99_999, response: 'throttled' }, 3600],
  ])('%j pauses for %i s', (f, sec) => {
    expect(slowDownOf(f)).toEqual({ pauseSec: sec });
  });

  it.each([
    { responseCode: 421, response: '421 4.3.2 Service shutting down' },
    { responseCode: 451, response: '451 4.3.0 Temporary local problem' },
    { responseCode: 452, response: '452 4.2.2 Mailbox full' },
    { responseCode: 550, response: '550 5.1.1 User unknown' },
    { httpStatus: 503, response: 'unavailable' },
  ])('%j is not a slow down', (f) => {
    expect(slowDownOf(f)).toBeNull();
  });
});

describe('keys and defaults', () => {
  it('parses PROVIDER:MAILBOX and refuses the rest', () => {
    expect(parseKey('smtp:Ops@Example.com').key).toEqual({ provider: 'smtp', mailbox: 'ops@example.com' });
    expect(parseKey('exchange:sender@example.com').key).toEqual({ provider: 'exchange', mailbox: 'sender@example.com' });
    for (const bad of ['ops@example.com', 'eml:x@y', 'ftp:x@y', 'smtp:', 'smtp:a b@c']) expect(parseKey(bad).error).toBeTruthy();
  });

  it('the sending mailbox: the signed-in SMTP user, else the From address; the Graph mailbox', () => {
    expect(mailboxOf('smtp', { smtpUser: 'App@example.com', exchangeMailbox: null }, 'x@example.com')).toBe('app@example.com');
    expect(mailboxOf('smtp', { smtpUser: null, exchangeMailbox: null }, 'Billing <Billing@Example.com>')).toBe('billing@example.com');
    expect(mailboxOf('exchange', { smtpUser: null, exchangeMailbox: 'sender@example.com' }, 'other@example.com')).toBe(
      'sender@example.com',
    );
    expect(mailboxOf('eml', { smtpUser: null, exchangeMailbox: null }, 'a@b.c')).toBeNull();
  });

  it("Microsoft 365's limits are the defaults with throttling on; an administrator's value wins, null is the default", () => {
    expect(defaultLimits('smtp', { throttling: true, perMinute: 30, microsoft365: true })).toEqual({
      perMinute: 30,
      concurrency: 3,
      perDay: 10_000,
    });
    expect(defaultLimits('exchange', { throttling: true, perMinute: 30, microsoft365: true })).toEqual({
      perMinute: 30,
      concurrency: 4,
      perDay: 10_000,
    });
    expect(defaultLimits('smtp', { throttling: false, perMinute: 30, microsoft365: true })).toEqual({
      perMinute: 0,
      concurrency: 0,
      perDay: 0,
    });
    expect(defaultLimits('smtp', { throttling: true, perMinute: 0, microsoft365: false })).toEqual({
      perMinute: 0,
      concurrency: 0,
      perDay: 0,
    });
    expect(effectiveLimits({ perMinute: 30, concurrency: 3, perDay: 10_000 }, { perMinute: 10, concurrency: null })).toEqual({
      perMinute: 10,
      concurrency: 3,
      perDay: 10_000,
    });
  });
});
