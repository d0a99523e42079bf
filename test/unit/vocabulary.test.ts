/**
 * The domain facts of src/core, each defined once: providers and the rule that picks one, statuses
 * and their transitions, parameter keys, secret environment names, timeouts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PARAMS, SECRET_KEYS, isParamKey, paramDef, secretSources, envNameOf } from '../../src/core/params.js';
import {
  DEFAULT_PROVIDER,
  PROMPT_PROVIDER,
  PROVIDER_CHOICES,
  PROVIDER_NAMES,
  batchProvider,
  chooseProvider,
  queuedProvider,
} from '../../src/core/providers.js';
import { MESSAGE_STATUSES, TRANSITIONS, canTransition, isMessageStatus } from '../../src/core/status.js';
import { DIAGNOSE_TIMEOUTS, TIMEOUTS, resolveTimeouts, type TimeoutName } from '../../src/core/timeouts.js';
import { settingsOf } from '../helpers/settings.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the provider-choice rule', () => {
  const none = settingsOf({});
  const batchExchange = settingsOf({ 'batch.provider': 'exchange' });
  const interactiveEml = settingsOf({ 'interactive.provider': 'eml', 'batch.provider': 'exchange' });

  it("--provider > the user's provider > interactive.provider > batch.provider > smtp", () => {
    expect(chooseProvider({ flag: 'eml', user: 'exchange', interactive: 'ask', settings: interactiveEml })).toBe('eml');
    expect(chooseProvider({ user: 'exchange', interactive: 'ask', settings: interactiveEml })).toBe('exchange');
    expect(chooseProvider({ interactive: 'ask', settings: interactiveEml })).toBe('eml');
    expect(chooseProvider({ interactive: 'no-prompt', settings: interactiveEml })).toBe('eml');
    expect(chooseProvider({ settings: interactiveEml })).toBe('exchange');
    expect(chooseProvider({ settings: batchExchange })).toBe('exchange');
    expect(chooseProvider({ settings: none })).toBe(DEFAULT_PROVIDER);
    expect(batchProvider(none)).toBe('smtp');
  });

  it('prompt is an answer only where the command may ask', () => {
    // interactive.provider defaults to prompt
    expect(chooseProvider({ interactive: 'ask', settings: none })).toBe(PROMPT_PROVIDER);
    expect(chooseProvider({ flag: 'prompt', user: 'eml', interactive: 'ask', settings: none })).toBe(PROMPT_PROVIDER);
    expect(chooseProvider({ interactive: 'no-prompt', settings: batchExchange })).toBe('exchange');
    expect(chooseProvider({ flag: 'prompt', settings: batchExchange })).toBe('exchange');
  });

  it('a queued message keeps only an explicit choice', () => {
    expect(queuedProvider({ flag: 'eml', user: 'exchange' })).toBe('eml');
    expect(queuedProvider({ flag: 'prompt', user: 'exchange' })).toBe('exchange');
    expect(queuedProvider({ flag: 'prompt' })).toBeNull();
    expect(queuedProvider({})).toBeNull();
  });

  it('the parameter table takes its choices from the provider list', () => {
    expect(paramDef('batch.provider')?.type).toEqual({ kind: 'enum', values: [...PROVIDER_NAMES] });
    expect(paramDef('interactive.provider')?.type).toEqual({ kind: 'enum', values: [...PROVIDER_CHOICES] });
  });
});

describe('message statuses', () => {
  it('every status has its transitions, and every transition leads to a status', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...MESSAGE_STATUSES].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const t of targets) expect(isMessageStatus(t)).toBe(true);
  });

  it.each([
    ['pending', 'sending', true],
    ['deferred', 'sending', true],
    ['sending', 'sent', true],
    ['sending', 'deferred', true],
    ['sending', 'pending', true],
    ['sending', 'held', true],
    ['held', 'pending', true],
    ['failed', 'pending', true],
    ['sent', 'pending', false],
    ['sent', 'failed', false],
    ['held', 'sending', false],
    ['failed', 'sending', false],
  ] as const)('%s → %s: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });
});

describe('parameter keys', () => {
  it('a misspelt key does not compile', () => {
    const s = settingsOf({ 'smtp.host': 'mail.example.com' });
    expect(s.string('smtp.host')).toBe('mail.example.com');
    // @ts-expect-error: no such parameter (npm run typecheck fails if this line compiles)
    expect(() => s.string('smtp.hots')).toThrow(/unknown parameter/);
    expect(isParamKey('smtp.hots')).toBe(false);
  });

  it('each secret names its environment variable, command and file parameters in the table', () => {
    expect(SECRET_KEYS).toEqual(['smtp.password', 'smtp.oauth.clientSecret', 'exchange.clientSecret']);
    expect(SECRET_KEYS.map((k) => secretSources(k).env)).toEqual([
      'SYSEMAIL_SMTP_PASSWORD',
      'SYSEMAIL_SMTP_CLIENT_SECRET',
      'SYSEMAIL_EXCHANGE_CLIENT_SECRET',
    ]);
    for (const k of SECRET_KEYS) {
      const { env, command, file } = secretSources(k);
      expect(envNameOf(k)).toBe(env);
      expect(paramDef(command)?.type.kind).toBe('string');
      expect(paramDef(file)?.type.kind).toBe('path');
    }
  });
});

describe('timeouts', () => {
  it('diagnose overrides the table by name, and a parameter replaces a default', () => {
    for (const name of Object.keys(DIAGNOSE_TIMEOUTS)) expect(Object.keys(TIMEOUTS)).toContain(name);
    const t = resolveTimeouts(settingsOf({ 'smtp.sessionTimeoutSec': 42 }), DIAGNOSE_TIMEOUTS, { probeMs: 7 });
    expect(t.sessionMs).toBe(42_000);
    expect(t.greetingMs).toBe(DIAGNOSE_TIMEOUTS.greetingMs);
    expect(t.probeMs).toBe(7);
    expect(t.socketMs).toBe(DIAGNOSE_TIMEOUTS.socketMs);
    expect(resolveTimeouts(settingsOf({})).greetingMs).toBe(TIMEOUTS.greetingMs.ms);
    expect(resolveTimeouts(undefined).sessionMs).toBe(Number(paramDef('smtp.sessionTimeoutSec')?.default) * 1000);
    const withParams = Object.entries(TIMEOUTS).filter(([, d]) => 'param' in d) as [TimeoutName, { param: string }][];
    for (const [, d] of withParams) expect(PARAMS.some((p) => p.key === d.param)).toBe(true);
  });
});

describe('each fact in exactly one source definition', () => {
  const counted = sourceFiles(SRC);
  const occurrences = (re: RegExp) =>
    counted.flatMap((f) => {
      const text = fs.readFileSync(f, 'utf8');
      return [...text.matchAll(re)].map(() => path.relative(SRC, f));
    });

  it('the provider names', () => {
    expect(occurrences(/['"]smtp['"],\s*['"]exchange['"],\s*['"]eml['"]/g)).toEqual(['core/providers.ts']);
    expect(occurrences(/\?\?\s*['"]smtp['"]/g)).toEqual([]);
  });

  it('the statuses (the SQLite and PostgreSQL migrations keep the schema as it shipped; the schema tests check it against the list)', () => {
    const list = MESSAGE_STATUSES.map((s) => `['"]${s}['"]`).join(',\\s*');
    expect(occurrences(new RegExp(list, 'g')).filter((f) => f !== 'store/migrations.ts' && f !== 'store/pg/schema.ts')).toEqual([
      'core/status.ts',
    ]);
    expect(occurrences(/=\s*'pending'\s*\|\s*'sending'/g)).toEqual([]);
  });

  it('the secret environment names', () => {
    for (const k of SECRET_KEYS) {
      const env = secretSources(k).env;
      expect(occurrences(new RegExp(`['"\`]${env}['"\`]`, 'g')), env).toEqual(['core/params.ts']);
    }
  });
});
