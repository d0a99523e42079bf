/**
 * `diagnose`: the checklist an admin runs when mail stops. Configuration and secret first (no network),
 * then the provider's conversation step by step, then the distributor's health and the last day's
 * failures. Every check returns data; the CLI prints it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isValidAddress, parseSender } from '../../core/address.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { SysemailError } from '../../core/errors.js';
import { chooseProvider, type ProviderName } from '../../core/providers.js';
import type { Settings } from '../../core/precedence.js';
import type { SecretAccess } from '../../providers/common.js';
import type { Store } from '../../store/ports.js';
import { configChecks } from './config.js';
import { healthChecks } from './health.js';
import { secretCheck } from './secret.js';
import type { SmtpCheckOptions } from './smtp.js';
import { fail, pass, skip, type Check } from './types.js';
import { quoted } from '../../core/text.js';

export type { Check, CheckStatus } from './types.js';
export { diagnoseErrorText, diagnoseHistory, type ErrorDiagnosis, type HistoryDiagnosis } from './error.js';

export interface ChecklistOptions {
  store: Store;
  settings: Settings;
  secrets: SecretAccess;
  /** The provider to check; default batch.provider. */
  provider?: ProviderName;
  offline?: boolean;
  /** Also RCPT TO this address (then RSET, QUIT). */
  to?: string;
  clock?: Clock;
  host?: string;
  isPidAlive?: (pid: number) => boolean;
  /** Shorter network timeouts for tests. */
  timeouts?: SmtpCheckOptions['timeouts'];
  /** Called with each group of checks as it is done, for live output. */
  onChecks?: (checks: Check[]) => void;
}

export interface ChecklistResult {
  provider: ProviderName;
  ok: boolean;
  checks: Check[];
}

/** Config checks whose failure makes talking to the server pointless. */
const BLOCKING = new Set(['config.server', 'config.exchange', 'config.smtp']);
/** Config checks whose failure still lets the session run up to EHLO. */
const NO_SIGN_IN = new Set(['config.auth', 'config.security']);

/** The bare address of sender.default, for MAIL FROM; undefined when unset or malformed. */
function senderAddress(sender: string | undefined): string | undefined {
  return sender === undefined ? undefined : parseSender(sender).value?.address;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function providerCheck(s: Settings, provider: ProviderName, explicit: boolean): Check {
  const interactive = s.string('interactive.provider');
  const chosen = explicit ? `--provider ${provider}` : `batch.provider ${provider}`;
  if (interactive && interactive !== 'prompt' && interactive !== provider) {
    return pass(
      'provider',
      `checking ${chosen}; interactive sends use ${interactive} (\`sysemail diagnose --provider ${interactive}\` checks it)`,
    );
  }
  return pass('provider', `checking ${chosen}`);
}

function emlCheck(s: Settings): Check {
  const dir = s.string('eml.outputDir');
  if (!dir) return fail('eml.outputDir', 'eml.outputDir is not set', 'Set it: `sysemail params set eml.outputDir /path/to/outbox`');
  let probe = path.resolve(dir);
  while (!fs.existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe);
  try {
    fs.accessSync(probe, fs.constants.W_OK);
    return pass('eml.outputDir', `${dir} is writable${probe !== path.resolve(dir) ? ` (will be created under ${probe})` : ''}`);
  } catch {
    return fail(
      'eml.outputDir',
      `${dir} cannot be written by this user (${probe})`,
      'Point eml.outputDir at a folder this user may write: `sysemail params set eml.outputDir DIR`',
    );
  }
}

const NETWORK_IDS: Record<ProviderName, string[]> = {
  smtp: ['dns', 'tcp', 'greeting', 'tls', 'ehlo', 'auth', 'sender', 'recipient'],
  exchange: ['exchange.token', 'exchange.permission', 'exchange.mailbox'],
  eml: [],
};

export async function runChecklist(o: ChecklistOptions): Promise<ChecklistResult> {
  const s = o.settings;
  const provider = chooseProvider({ flag: o.provider, settings: s });
  if (o.to !== undefined && !isValidAddress(o.to)) {
    throw new SysemailError('data', 'ADDRESS_INVALID', `--to ${quoted(o.to)} is not a valid address`, {
      fix: 'Give one address, e.g. --to ann@example.com',
    });
  }
  const checks: Check[] = [];
  const add = (group: Check[]) => {
    checks.push(...group);
    o.onChecks?.(group);
  };

  add([providerCheck(s, provider, o.provider !== undefined)]);
  const clock = o.clock ?? systemClock;
  const config = await configChecks(s, provider, clock.now());
  add(config);
  const secret = await secretCheck(s, provider, o.secrets);
  add([secret]);

  const failedConfig = config.filter((c) => c.status === 'fail').map((c) => c.id);
  const networkIds = NETWORK_IDS[provider];
  if (provider === 'eml') {
    add([emlCheck(s)]);
  } else if (o.offline) {
    add(networkIds.map((id) => skip(id, 'skipped: --offline')));
  } else if (failedConfig.some((id) => BLOCKING.has(id))) {
    add(networkIds.map((id) => skip(id, 'not tried: fix the configuration first')));
  } else if (provider === 'exchange') {
    if (secret.status === 'fail') add(networkIds.map((id) => skip(id, 'not tried: the client secret cannot be read')));
    else {
      const { exchangeNetworkChecks } = await import('./exchange.js');
      const from = senderAddress(s.string('sender.default')) ?? s.string('exchange.mailbox') ?? '';
      add(await exchangeNetworkChecks({ settings: s, secrets: o.secrets, from }));
    }
  } else {
    const { smtpNetworkChecks } = await import('./smtp.js');
    const sender = senderAddress(s.string('sender.default'));
    add(
      await smtpNetworkChecks({
        settings: s,
        secrets: o.secrets,
        ...(sender ? { from: sender } : {}),
        ...(o.to ? { to: o.to } : {}),
        noSignIn: secret.status === 'fail' || failedConfig.some((id) => NO_SIGN_IN.has(id)),
        ...(o.timeouts ? { timeouts: o.timeouts } : {}),
        now: clock.now(),
      }),
    );
  }

  add(await healthChecks({ store: o.store, now: clock.now(), host: o.host ?? os.hostname(), isPidAlive: o.isPidAlive ?? pidAlive }));
  return { provider, ok: !checks.some((c) => c.status === 'fail'), checks };
}
