import { describe, expect, it } from 'vitest';
import { messageIdDomain, parseSender } from '../../src/core/address.js';
import { paramDef, parseParamValue } from '../../src/core/params.js';
import { queuedMessageId } from '../../src/app/distributor/index.js';

const senderDefault = paramDef('sender.default')!;

describe('a sender is exactly one mailbox', () => {
  it.each([
    ['ops@example.com', { address: 'ops@example.com' }],
    ['  <ops@example.com> ', { address: 'ops@example.com' }],
    ['Ops Team <ops@example.com>', { name: 'Ops Team', address: 'ops@example.com' }],
    ['Ops   Team<ops@example.com>', { name: 'Ops Team', address: 'ops@example.com' }],
    ['"Ops, Team" <ops@example.com>', { name: 'Ops, Team', address: 'ops@example.com' }],
    ['"Ops \\"Night\\" Shift" <ops@example.com>', { name: 'Ops "Night" Shift', address: 'ops@example.com' }],
    ['"ops@example.org" <ops@example.com>', { name: 'ops@example.org', address: 'ops@example.com' }],
    ['Équipe Opérations <ops@example.com>', { name: 'Équipe Opérations', address: 'ops@example.com' }],
    ['運用チーム <ops@example.com>', { name: '運用チーム', address: 'ops@example.com' }],
    ['J. R. Smith <jrs@example.com>', { name: 'J. R. Smith', address: 'jrs@example.com' }],
  ])('accepts %s', (text, mailbox) => {
    expect(parseSender(text)).toEqual({ value: mailbox });
  });

  it.each([
    ['', /empty/],
    ['Ops Team', /no address/],
    ['ops@example.com, dev@example.com', /more than one/],
    ['ops@example.com; dev@example.com', /more than one/],
    ['Ops <ops@example.com>, Dev <dev@example.com>', /more than one/],
    ['Ops <ops@example.com> <dev@example.com>', /more than one/],
    ['Ops, Team <ops@example.com>', /comma or semicolon.*"Ops, Team" <ops@example.com>/],
    ['ops@example.org <ops@example.com>', /address in its name/],
    ['Ops (night) <ops@example.com>', /special characters/],
    ['Ops\r\nBcc: spy@example.net <ops@example.com>', /line break/],
    ['Ops <ops@example.com>\n', /line break/],
    ['Ops <ops@exa mple.com>', /not a valid/],
    ['Ops <ops@example.com> team', /text after/],
    ['"Ops <ops@example.com>', /not closed/],
    ['Ops <ops@example.com', /'<' that is not closed/],
    ['ops@', /not a valid/],
  ])('refuses %j', (text, why) => {
    const r = parseSender(text);
    expect(r.value).toBeUndefined();
    expect(r.error).toMatch(why);
  });

  it('sender.default stores the mailbox in its header form; exchange.mailbox stays a bare address', () => {
    expect(parseParamValue(senderDefault, '"Ops Team" <ops@example.com>')).toEqual({ value: 'Ops Team <ops@example.com>' });
    expect(parseParamValue(senderDefault, 'Ops, Team <ops@example.com>').error).toMatch(/quote the name/);
    expect(parseParamValue(paramDef('exchange.mailbox')!, 'Ops <ops@example.com>').error).toMatch(/bare/);
  });

  it('Message-IDs take the domain of the bare address, whatever the name holds', () => {
    const m = { id: 7, createdAt: 1_000_000, from: '"ops@evil.example>" <ops@example.com>' };
    expect(queuedMessageId(m, 'abcdef0123456789')).toBe(`<${(1_000_000).toString(36)}.7.abcdef012345@example.com>`);
    expect(messageIdDomain('Équipe <ops@mail.example.com>')).toBe('mail.example.com');
    expect(messageIdDomain('nobody')).toBe('localhost');
  });
});

describe("the user config's own sender", () => {
  it("'from' takes a mailbox with a name, and one mailbox only", async () => {
    const { validateUserConfig } = await import('../../src/config/user.js');
    expect(validateUserConfig({ from: '"Ann Lee" <ann@example.com>' }, '.emailrc').config.from).toBe('Ann Lee <ann@example.com>');
    expect(() => validateUserConfig({ from: 'ann@example.com, bob@example.com' }, '.emailrc')).toThrow(/one email address/);
  });
});
