import { describe, expect, it } from 'vitest';
import {
  BYTES_PER_MB,
  composeMessage,
  estimateMessageSize,
  formatMailbox,
  parseMailbox,
  splitAddressList,
} from '../../src/core/message.js';

const limits = { maxMessageMb: 25 };
const base = { from: 'noreply@example.com', to: ['ann@example.com'], subject: 'Hello', text: 'Hi' };

describe('address lists', () => {
  it('splits comma and semicolon lists, leaving quoted commas alone', () => {
    expect(splitAddressList('a@x.com, "Lee, Ann" <ann@x.com>; b@x.com')).toEqual(['a@x.com', '"Lee, Ann" <ann@x.com>', 'b@x.com']);
  });

  it('parses display names and formats them back, quoting when needed', () => {
    expect(parseMailbox('Ann Lee <ann@example.com>')).toEqual({ name: 'Ann Lee', address: 'ann@example.com' });
    expect(parseMailbox('"Lee, Ann" <ann@example.com>')).toEqual({ name: 'Lee, Ann', address: 'ann@example.com' });
    expect(parseMailbox('<ann@example.com>')).toEqual({ address: 'ann@example.com' });
    expect(formatMailbox({ name: 'Lee, Ann', address: 'ann@example.com' })).toBe('"Lee, Ann" <ann@example.com>');
    expect(formatMailbox({ name: 'Zoë Ünicode', address: 'z@example.com' })).toBe('Zoë Ünicode <z@example.com>');
  });

  it('refuses malformed mailboxes', () => {
    for (const bad of ['ann', 'ann@', '@example.com', 'Ann <ann@example.com', 'a b@example.com', 'Ann <ann@exa mple.com>']) {
      expect(parseMailbox(bad), bad).toBeUndefined();
    }
  });
});

describe('composeMessage', () => {
  it('normalises every recipient list and keeps the bodies', () => {
    const r = composeMessage(
      { ...base, to: ['ann@example.com, Bob <bob@example.com>'], cc: ['c@example.com'], bcc: ['d@example.com'] },
      limits,
    );
    expect(r.errors).toEqual([]);
    expect(r.value?.message).toMatchObject({
      from: 'noreply@example.com',
      to: ['ann@example.com', 'Bob <bob@example.com>'],
      cc: ['c@example.com'],
      bcc: ['d@example.com'],
      subject: 'Hello',
      text: 'Hi',
    });
  });

  it('accepts internationalised domains and local parts', () => {
    const r = composeMessage({ ...base, to: ['jörg@bücher.de', 'user@xn--bcher-kva.example', '用户@例子.广告'] }, limits);
    expect(r.errors).toEqual([]);
    expect(r.value?.message.to).toHaveLength(3);
  });

  it('a malformed address is a data error naming it', () => {
    const r = composeMessage({ ...base, to: ['ann@example.com, not-an-address'] }, limits);
    expect(r.value).toBeUndefined();
    expect(r.errors).toEqual([
      expect.objectContaining({ field: 'to', code: 'ADDRESS_INVALID', message: expect.stringContaining('not-an-address') }),
    ]);
  });

  it('CR or LF in any header value is refused: subject, addresses, names, attachment names', () => {
    const cases = [
      { subject: 'Hi\r\nBcc: victim@example.com' },
      { to: ['ann@example.com\nBcc: x@example.com'] },
      { from: 'Evil\r\n <noreply@example.com>' },
      { replyTo: 'a@example.com\r\n' },
      { attachments: [{ path: '/tmp/x', filename: 'a\r\nb.txt', size: 1 }] },
      { headers: { 'X-Tag': 'one\ntwo' } },
    ];
    for (const c of cases) {
      const r = composeMessage({ ...base, ...c }, limits);
      expect(
        r.errors.map((e) => e.code),
        JSON.stringify(c),
      ).toContain('HEADER_CRLF');
      expect(r.value).toBeUndefined();
    }
  });

  it('no recipient at all is an error', () => {
    expect(composeMessage({ ...base, to: [] }, limits).errors[0].code).toBe('NO_RECIPIENT');
  });

  it('a single-label recipient domain is a warning, not an error', () => {
    const r = composeMessage({ ...base, to: ['ann@contoso'] }, limits);
    expect(r.errors).toEqual([]);
    expect(r.value?.warnings).toEqual([
      expect.objectContaining({ code: 'SINGLE_LABEL_DOMAIN', address: 'ann@contoso', message: expect.stringContaining('Microsoft 365') }),
    ]);
  });

  it('counts base64 overhead: an attachment under the limit on disk can be over it encoded, and the error shows both sizes', () => {
    const size = 20 * BYTES_PER_MB; // 20 MB on disk, about 27 MB encoded
    const r = composeMessage({ ...base, attachments: [{ path: '/tmp/big.bin', size }] }, limits);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].code).toBe('MESSAGE_TOO_LARGE');
    expect(r.errors[0].message).toMatch(/about 27\.\d MB/);
    expect(r.errors[0].message).toContain('limits.maxMessageMb (25 MB)');
    expect(composeMessage({ ...base, attachments: [{ path: '/tmp/big.bin', size }] }, { maxMessageMb: 30 }).errors).toEqual([]);
  });

  it('size estimate grows with bodies and attachments', () => {
    const small = estimateMessageSize({ text: 'a', attachmentSizes: [] });
    expect(estimateMessageSize({ text: 'a'.repeat(3000), attachmentSizes: [] })).toBeGreaterThan(small + 4000);
    expect(estimateMessageSize({ attachmentSizes: [3 * 1024] })).toBeGreaterThan(4 * 1024);
  });

  it('attachment names default to the file name', () => {
    const r = composeMessage({ ...base, attachments: [{ path: '/data/reports/q1.pdf', size: 10 }] }, limits);
    expect(r.value?.message.attachments).toEqual([{ filename: 'q1.pdf', path: '/data/reports/q1.pdf', size: 10 }]);
  });

  it('reports every problem at once', () => {
    const r = composeMessage({ ...base, to: ['bad'], subject: 'x\ny' }, limits);
    expect(r.errors.map((e) => e.code).sort()).toEqual(['ADDRESS_INVALID', 'HEADER_CRLF']);
  });
});
