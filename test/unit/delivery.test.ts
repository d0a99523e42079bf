import { describe, expect, it } from 'vitest';
import {
  IMPORT_NAMES,
  PAST_GRACE_MS,
  checkIdempotencyKey,
  messageDigest,
  parseIsoDateTime,
  parsePriority,
  parseSchedule,
  priorityOfRank,
  PRIORITY_RANK,
} from '../../src/core/delivery.js';
import { isSysemailError } from '../../src/core/errors.js';

const NOW = Date.UTC(2026, 11, 1, 12, 0);

function failure(fn: () => unknown): { kind: string; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isSysemailError(err)) return { kind: err.kind, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('did not throw');
}

describe('ISO 8601 times', () => {
  it.each([
    ['2026-12-24T08:00+01:00', Date.UTC(2026, 11, 24, 7, 0)],
    ['2026-12-24T08:00:30Z', Date.UTC(2026, 11, 24, 8, 0, 30)],
    ['2026-12-24 08:00:30.250-0500', Date.UTC(2026, 11, 24, 13, 0, 30, 250)],
    ['2026-12-24T08:00+05', Date.UTC(2026, 11, 24, 3, 0)],
  ])('%s', (text, ms) => expect(parseIsoDateTime(text)).toBe(ms));

  it('without an offset is local time', () => {
    expect(parseIsoDateTime('2026-12-24T08:00')).toBe(new Date(2026, 11, 24, 8, 0).getTime());
  });

  it.each(['tomorrow', '2026-12-24', '2026-02-30T08:00Z', '2026-12-24T25:00Z', '2026-12-24T08:00+25:00', '24/12/2026 08:00', '2h'])(
    'refuses %s',
    (text) => expect(parseIsoDateTime(text)).toBeUndefined(),
  );
});

describe('parseSchedule', () => {
  it('--at, --in, and --expires as a time or counted from the due time', () => {
    expect(parseSchedule({ at: '2026-12-24T08:00+01:00' }, NOW)).toEqual({ dueAt: Date.UTC(2026, 11, 24, 7) });
    expect(parseSchedule({ in: '2h' }, NOW)).toEqual({ dueAt: NOW + 7_200_000 });
    expect(parseSchedule({ in: '30m', expires: '1h' }, NOW)).toEqual({ dueAt: NOW + 1_800_000, expiresAt: NOW + 5_400_000 });
    expect(parseSchedule({ expires: '1d' }, NOW)).toEqual({ expiresAt: NOW + 86_400_000 });
    expect(parseSchedule({ expires: '2026-12-02T00:00Z' }, NOW)).toEqual({ expiresAt: Date.UTC(2026, 11, 2) });
    expect(parseSchedule({}, NOW)).toEqual({});
  });

  it('a time a moment ago means now; further back is refused', () => {
    expect(parseSchedule({ at: new Date(NOW - 30_000).toISOString() }, NOW)).toEqual({ dueAt: NOW });
    expect(failure(() => parseSchedule({ at: new Date(NOW - PAST_GRACE_MS - 1000).toISOString() }, NOW))).toMatchObject({
      kind: 'data',
      code: 'SCHEDULE_IN_PAST',
    });
  });

  it('bad values: the form is a usage error on flags, a data error in an import line; an order problem is data', () => {
    expect(failure(() => parseSchedule({ at: 'noon' }, NOW))).toMatchObject({ kind: 'usage', code: 'SCHEDULE_INVALID' });
    expect(failure(() => parseSchedule({ at: 'noon' }, NOW, IMPORT_NAMES))).toMatchObject({
      kind: 'data',
      code: 'SCHEDULE_INVALID',
      message: expect.stringContaining('sendAt'),
    });
    expect(failure(() => parseSchedule({ at: '2026-12-24T08:00Z', in: '1h' }, NOW))).toMatchObject({ code: 'SCHEDULE_INVALID' });
    expect(failure(() => parseSchedule({ expires: 'later' }, NOW))).toMatchObject({ kind: 'usage', code: 'SCHEDULE_INVALID' });
    expect(failure(() => parseSchedule({ at: '2026-12-24T08:00Z', expires: '2026-12-24T07:59Z' }, NOW))).toMatchObject({
      kind: 'data',
      code: 'SCHEDULE_EXPIRES_FIRST',
    });
    expect(failure(() => parseSchedule({ expires: '2026-01-01T00:00Z' }, NOW))).toMatchObject({ code: 'SCHEDULE_EXPIRES_FIRST' });
  });
});

describe('priorities and keys', () => {
  it('priority names and ranks', () => {
    expect(parsePriority('HIGH', '--priority')).toBe('high');
    expect(failure(() => parsePriority('urgent', '--priority'))).toMatchObject({ kind: 'usage', code: 'PRIORITY_INVALID' });
    expect(failure(() => parsePriority('urgent', 'priority', 'data'))).toMatchObject({ kind: 'data' });
    for (const p of ['high', 'normal', 'low'] as const) expect(priorityOfRank(PRIORITY_RANK[p])).toBe(p);
    expect(PRIORITY_RANK.high).toBeGreaterThan(PRIORITY_RANK.normal);
    expect(PRIORITY_RANK.normal).toBeGreaterThan(PRIORITY_RANK.low);
  });

  it('idempotency keys are printable one-line text of bounded length', () => {
    expect(checkIdempotencyKey('invoice-42', '--idempotency-key')).toBe('invoice-42');
    for (const bad of ['', ' x', 'a\nb', 'x'.repeat(201)]) {
      expect(failure(() => checkIdempotencyKey(bad, '--idempotency-key'))).toMatchObject({ code: 'IDEMPOTENCY_KEY_INVALID' });
    }
  });

  it('the digest changes with recipients, subject, bodies and attachments, not with anything else', () => {
    const base = {
      to: ['a@example.com'],
      cc: [],
      bcc: [],
      subject: 'S',
      text: 'T',
      html: null,
      attachments: [{ filename: 'f.pdf', size: 10 }],
    };
    const d = messageDigest(base);
    expect(messageDigest({ ...base })).toBe(d);
    for (const change of [
      { to: ['b@example.com'] },
      { cc: ['a@example.com'] },
      { bcc: ['a@example.com'] },
      { subject: 's' },
      { text: 't' },
      { html: '<p>T</p>' },
      { attachments: [{ filename: 'f.pdf', size: 11 }] },
      { attachments: [{ filename: 'g.pdf', size: 10 }] },
      { attachments: [] },
    ]) {
      expect(messageDigest({ ...base, ...change })).not.toBe(d);
    }
    // digests stored by earlier versions are compared with new ones: the value itself never changes
    expect(d).toBe('RjkoOev8T2Z9s8VwV3rVTA4C5vXyUPJFxRNSFG64jK4');
  });
});
