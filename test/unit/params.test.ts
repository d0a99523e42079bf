import { describe, expect, it } from 'vitest';
import {
  PARAMS,
  closestKey,
  envNameOf,
  isMicrosoft365Host,
  paramDef,
  parseParamValue,
  validateAssignments,
} from '../../src/core/params.js';

const def = (key: string) => {
  const d = paramDef(key);
  if (!d) throw new Error(`no ${key}`);
  return d;
};

describe('the parameter schema', () => {
  it('has every key of the contract, each with a description', () => {
    const keys = PARAMS.map((p) => p.key);
    for (const k of [
      'batch.provider',
      'interactive.provider',
      'sender.default',
      'limits.maxMessageMb',
      'history.retentionDays',
      'throttling.enabled',
      'smtp.perMinuteLimit',
      'exchange.perMinuteLimit',
      'queue.minBackoffSec',
      'queue.maxBackoffSec',
      'queue.maxLifetimeHours',
      'smtp.host',
      'smtp.port',
      'smtp.security',
      'smtp.authRequired',
      'smtp.authMethod',
      'smtp.username',
      'smtp.password',
      'smtp.passwordCommand',
      'smtp.passwordFile',
      'smtp.caFile',
      'smtp.oauth.tenantId',
      'smtp.oauth.clientId',
      'smtp.oauth.clientSecret',
      'smtp.oauth.tokenUrl',
      'smtp.oauth.scope',
      'exchange.tenantId',
      'exchange.clientId',
      'exchange.clientSecret',
      'exchange.mailbox',
      'exchange.graphUrl',
      'exchange.tokenUrl',
      'eml.outputDir',
    ]) {
      expect(keys).toContain(k);
    }
    expect(new Set(keys).size).toBe(keys.length);
    for (const p of PARAMS) expect(p.description.length).toBeGreaterThan(10);
  });

  it('parses each type and refuses wrong values', () => {
    expect(parseParamValue(def('smtp.port'), '465')).toEqual({ value: 465 });
    expect(parseParamValue(def('smtp.port'), '70000').error).toMatch(/1 to 65535/);
    expect(parseParamValue(def('smtp.port'), '5.5').error).toBeDefined();
    expect(parseParamValue(def('throttling.enabled'), 'yes')).toEqual({ value: true });
    expect(parseParamValue(def('throttling.enabled'), 'OFF')).toEqual({ value: false });
    expect(parseParamValue(def('throttling.enabled'), 'maybe').error).toBeDefined();
    expect(parseParamValue(def('smtp.security'), 'STARTTLS')).toEqual({ value: 'starttls' });
    expect(parseParamValue(def('smtp.security'), 'ssl').error).toMatch(/starttls, tls, none/);
    expect(parseParamValue(def('limits.maxMessageMb'), '0').error).toBeDefined();
    expect(parseParamValue(def('limits.maxMessageMb'), '0.5')).toEqual({ value: 0.5 });
    expect(parseParamValue(def('history.retentionDays'), '0')).toEqual({ value: 0 });
    expect(parseParamValue(def('history.retentionDays'), '-1').error).toBeDefined();
    expect(parseParamValue(def('sender.default'), 'noreply@example.com')).toEqual({ value: 'noreply@example.com' });
    expect(parseParamValue(def('sender.default'), 'noreply@').error).toBeDefined();
    expect(parseParamValue(def('smtp.host'), 'smtp.office365.com')).toEqual({ value: 'smtp.office365.com' });
    expect(parseParamValue(def('smtp.host'), 'bad host').error).toBeDefined();
    expect(parseParamValue(def('exchange.graphUrl'), 'http://127.0.0.1:8080/')).toEqual({ value: 'http://127.0.0.1:8080' });
    expect(parseParamValue(def('exchange.graphUrl'), 'ftp://x').error).toBeDefined();
    expect(parseParamValue(def('smtp.username'), 'a\nb').error).toMatch(/one line/);
  });

  it('checks every assignment before reporting, and cross-checks backoff bounds', () => {
    const r = validateAssignments(
      [
        { key: 'smtp.host', raw: 'ok.example' },
        { key: 'smtp.port', raw: 'x' },
        { key: 'smtp.hots', raw: 'y' },
      ],
      new Map(),
    );
    expect(r.errors.map((e) => e.key)).toEqual(['smtp.port', 'smtp.hots']);
    expect(r.errors[1].hint).toContain("'smtp.host'");
    const cross = validateAssignments([{ key: 'queue.minBackoffSec', raw: '5000' }], new Map());
    expect(cross.errors[0].message).toMatch(/must not exceed queue\.maxBackoffSec/);
    const ok = validateAssignments(
      [
        { key: 'queue.minBackoffSec', raw: '5000' },
        { key: 'queue.maxBackoffSec', raw: '6000' },
      ],
      new Map(),
    );
    expect(ok.errors).toEqual([]);
  });

  it('refuses secrets as plain values', () => {
    const r = validateAssignments([{ key: 'smtp.password', raw: 'pw' }], new Map());
    expect(r.errors[0].message).toMatch(/secret/);
    expect(r.errors[0].message).not.toContain('pw');
  });

  it('suggests the closest key', () => {
    expect(closestKey('smtp.hots')).toBe('smtp.host');
    expect(closestKey('smtp.prot')).toBe('smtp.port');
    expect(closestKey('retentionDays')).toBe('history.retentionDays');
    expect(closestKey('sender')).toBe('sender.default');
  });

  it('names environment variables with underscores, and secrets as the contract does', () => {
    expect(envNameOf('smtp.host')).toBe('SYSEMAIL_SMTP_HOST');
    expect(envNameOf('smtp.perMinuteLimit')).toBe('SYSEMAIL_SMTP_PER_MINUTE_LIMIT');
    expect(envNameOf('smtp.oauth.clientSecret')).toBe('SYSEMAIL_SMTP_CLIENT_SECRET');
    expect(envNameOf('exchange.clientSecret')).toBe('SYSEMAIL_EXCHANGE_CLIENT_SECRET');
  });

  it('knows the Microsoft 365 hosts', () => {
    expect(isMicrosoft365Host('smtp.office365.com')).toBe(true);
    expect(isMicrosoft365Host('SMTP.Office365.com')).toBe(true);
    expect(isMicrosoft365Host('smtp.gmail.com')).toBe(false);
    expect(isMicrosoft365Host(undefined)).toBe(false);
  });
});
