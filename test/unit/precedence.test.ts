import { describe, expect, it } from 'vitest';
import { Settings, resolveParams, type Layers } from '../../src/core/precedence.js';

const base = (over: Partial<Layers> = {}): Layers => ({
  params: new Map(),
  user: new Map(),
  env: {},
  dataDir: '/data/sysemail',
  ...over,
});

describe('precedence of one value', () => {
  it('flag > env > user > params > default', () => {
    const layers = base({
      params: new Map([['sender.default', 'params@example.com']]),
      user: new Map([['sender.default', 'user@example.com']]),
      userFile: '/home/a/.emailrc',
      env: { SYSEMAIL_SENDER_DEFAULT: 'env@example.com' },
      flags: new Map([['sender.default', 'flag@example.com']]),
    });
    expect(resolveParams(layers).values.get('sender.default')).toMatchObject({ value: 'flag@example.com', source: 'flag' });
    expect(resolveParams({ ...layers, flags: undefined }).values.get('sender.default')).toMatchObject({
      value: 'env@example.com',
      source: 'env',
      origin: 'SYSEMAIL_SENDER_DEFAULT',
    });
    expect(resolveParams({ ...layers, flags: undefined, env: {} }).values.get('sender.default')).toMatchObject({
      value: 'user@example.com',
      source: 'user',
      origin: '/home/a/.emailrc',
    });
    expect(resolveParams({ ...layers, flags: undefined, env: {}, user: new Map() }).values.get('sender.default')).toMatchObject({
      value: 'params@example.com',
      source: 'params',
    });
    expect(resolveParams(base()).values.get('sender.default')).toMatchObject({ value: undefined, source: 'default' });
  });

  it('parses environment values and reports a bad one instead of using it', () => {
    const ok = resolveParams(base({ env: { SYSEMAIL_SMTP_PORT: '2525', SYSEMAIL_THROTTLING_ENABLED: 'true' } }));
    expect(ok.values.get('smtp.port')).toMatchObject({ value: 2525, source: 'env' });
    expect(ok.values.get('throttling.enabled')).toMatchObject({ value: true, source: 'env' });
    const bad = resolveParams(base({ env: { SYSEMAIL_SMTP_PORT: 'abc' }, params: new Map([['smtp.port', 25]]) }));
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors[0].origin).toBe('SYSEMAIL_SMTP_PORT');
    expect(bad.values.get('smtp.port')).toMatchObject({ value: 25, source: 'params' });
  });

  it('accepts the squashed environment spelling too', () => {
    const r = resolveParams(base({ env: { SYSEMAIL_SMTP_PERMINUTELIMIT: '12' } }));
    expect(r.values.get('smtp.perMinuteLimit')).toMatchObject({ value: 12, source: 'env' });
  });

  it('an empty environment variable counts as unset', () => {
    const r = resolveParams(base({ env: { SYSEMAIL_SMTP_HOST: '' }, params: new Map([['smtp.host', 'a.example']]) }));
    expect(r.values.get('smtp.host')).toMatchObject({ value: 'a.example', source: 'params' });
  });

  it('works out defaults that depend on other values', () => {
    const m365 = Settings.from(
      base({
        params: new Map([
          ['smtp.host', 'smtp.office365.com'],
          ['smtp.oauth.tenantId', 'contoso.onmicrosoft.com'],
        ]),
      }),
    ).settings;
    expect(m365.number('smtp.perMinuteLimit')).toBe(30);
    expect(m365.number('exchange.perMinuteLimit')).toBe(30);
    expect(m365.string('smtp.oauth.tokenUrl')).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
    const other = Settings.from(
      base({
        params: new Map<string, string | number>([
          ['smtp.host', 'mail.example.com'],
          ['smtp.perMinuteLimit', 5],
        ]),
      }),
    ).settings;
    expect(other.number('smtp.perMinuteLimit')).toBe(5);
    expect(Settings.from(base({ params: new Map([['smtp.host', 'mail.example.com']]) })).settings.number('smtp.perMinuteLimit')).toBe(0);
    expect(other.string('eml.outputDir')).toBe('/data/sysemail/outbox');
    expect(other.string('exchange.tokenUrl')).toBeUndefined();
    expect(other.number('smtp.port')).toBe(587);
    expect(other.boolean('smtp.authRequired')).toBe(true);
  });

  it('puts the spool and the outbox beside the database unless a layer names another folder', () => {
    const beside = Settings.from(base({ dataDir: '/var/lib/sysemail' })).settings;
    expect(beside.source('queue.spoolDir')).toMatchObject({ value: '/var/lib/sysemail/spool', source: 'default' });
    expect(beside.source('eml.outputDir')).toMatchObject({ value: '/var/lib/sysemail/outbox', source: 'default' });
    const chosen = Settings.from(
      base({
        dataDir: '/var/lib/sysemail',
        params: new Map([['queue.spoolDir', '/srv/spool']]),
        env: { SYSEMAIL_EML_OUTPUT_DIR: '/srv/drafts' },
      }),
    ).settings;
    expect(chosen.source('queue.spoolDir')).toMatchObject({ value: '/srv/spool', source: 'params' });
    expect(chosen.source('eml.outputDir')).toMatchObject({ value: '/srv/drafts', source: 'env' });
  });
});
