import { describe, expect, it } from 'vitest';
import {
  dkimDnsName,
  dkimDnsValue,
  dkimKeysFor,
  domainOfAddress,
  normalizeDkimDomain,
  normalizeDkimSelector,
  parseDkimAlgorithm,
} from '../../src/core/dkim.js';
import { isSysemailError } from '../../src/core/errors.js';
import { checkUnsubscribe, mailtoUri, unsubscribeHeaders, unsubscribeUrlProblem } from '../../src/core/unsubscribe.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    return isSysemailError(err) ? err.code : 'not a SysemailError';
  }
  return undefined;
};

describe('DKIM names and records', () => {
  it('domains and selectors are DNS names, lower-cased', () => {
    expect(normalizeDkimDomain('Example.COM.')).toBe('example.com');
    expect(normalizeDkimSelector('S2026')).toBe('s2026');
    expect(normalizeDkimSelector('mail.2026')).toBe('mail.2026');
    for (const bad of ['localhost', 'exa mple.com', '-x.com', 'a..b', ''])
      expect(codeOf(() => normalizeDkimDomain(bad))).toBe('DKIM_DOMAIN_INVALID');
    for (const bad of ['', 's_1', 'a b', '-s']) expect(codeOf(() => normalizeDkimSelector(bad))).toBe('DKIM_SELECTOR_INVALID');
    expect(codeOf(() => parseDkimAlgorithm('rsa-sha1'))).toBe('DKIM_ALGORITHM_INVALID');
  });

  it('the record: S._domainkey.D and v=DKIM1 with k= by algorithm', () => {
    expect(dkimDnsName('s1', 'example.com')).toBe('s1._domainkey.example.com');
    expect(dkimDnsValue('rsa-sha256', 'AAAA')).toBe('v=DKIM1; k=rsa; p=AAAA');
    expect(dkimDnsValue('ed25519-sha256', 'BBBB')).toBe('v=DKIM1; k=ed25519; p=BBBB');
  });

  it('a message is signed by every key of its From domain, and only those', () => {
    const keys = [
      { domain: 'example.com', selector: 'a' },
      { domain: 'example.com', selector: 'b' },
      { domain: 'sub.example.com', selector: 'c' },
    ];
    expect(domainOfAddress('"Billing, Inc" <Billing@Example.com>')).toBe('example.com');
    expect(dkimKeysFor(keys, 'Billing <billing@example.com>').map((k) => k.selector)).toEqual(['a', 'b']);
    expect(dkimKeysFor(keys, 'x@sub.example.com').map((k) => k.selector)).toEqual(['c']);
    expect(dkimKeysFor(keys, 'x@other.example')).toEqual([]);
  });
});

describe('one-click unsubscribe', () => {
  it('https only, placeholders allowed; mail addresses become mailto URIs', () => {
    expect(unsubscribeUrlProblem('https://example.com/u?t=%token%')).toBeUndefined();
    expect(unsubscribeUrlProblem('http://example.com/u')).toMatch(/not https/);
    expect(unsubscribeUrlProblem('https://exa mple.com')).toMatch(/space/);
    expect(mailtoUri('u@example.com')).toBe('mailto:u@example.com');
    expect(mailtoUri('mailto:u@example.com?subject=stop')).toBe('mailto:u@example.com?subject=stop');
    expect(mailtoUri('not an address')).toBeUndefined();
    expect(codeOf(() => checkUnsubscribe({ url: 'ftp://x' }, { url: '--u', mailto: '--m' }))).toBe('UNSUBSCRIBE_INVALID');
  });

  it('both headers with a URL; List-Unsubscribe alone with a mail address only', () => {
    expect(unsubscribeHeaders({ url: 'https://e.com/u', mailto: 'u@e.com' })).toEqual({
      'List-Unsubscribe': '<mailto:u@e.com>, <https://e.com/u>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
    expect(unsubscribeHeaders({ mailto: 'u@e.com' })).toEqual({ 'List-Unsubscribe': '<mailto:u@e.com>' });
    expect(unsubscribeHeaders({})).toEqual({});
  });
});
