/**
 * The `test-email` use case: a real transaction through one provider, phase by phase, stopping where
 * asked, with the failure (if any) classified and matched against the diagnosis catalogue.
 */
import { SysemailError, isSysemailError } from '../core/errors.js';
import type { FailureInfo, ProviderName } from '../core/failure.js';
import { parseMailbox } from '../core/message.js';
import type { Settings } from '../core/precedence.js';
import type { ProviderOptions, SecretAccess } from '../providers/common.js';
import type { ConnectionTestOptions, PhaseResult, Provider } from '../providers/types.js';
import type { Store } from '../store/ports.js';
import type { DkimReport } from './dkim-check.js';
import { resolveSender, signingKeysFor } from './send.js';
import { quoted } from '../core/text.js';

export type QuitAfter = NonNullable<ConnectionTestOptions['quitAfter']>;
export const QUIT_AFTER: readonly QuitAfter[] = ['connect', 'tls', 'ehlo', 'auth', 'mail', 'rcpt'];

export interface TestEmailRequest {
  provider: ProviderName;
  to?: string;
  from?: string;
  userId?: string;
  quitAfter?: QuitAfter;
  onPhase?: (p: PhaseResult) => void;
  /** The DNS server the DKIM check asks (HOST[:PORT]); the system's resolver when absent. */
  dnsServer?: string;
}

export interface DiagnosisView {
  id: string;
  title: string;
  explanation: string;
  fix: string;
  retryable: boolean;
}

export interface TestEmailResult {
  ok: boolean;
  provider: ProviderName;
  phases: PhaseResult[];
  diagnosis: DiagnosisView[];
  failure?: FailureInfo;
  error?: SysemailError;
  /** Whether the test message is signed and its signatures verify against DNS. */
  dkim: DkimReport;
}

export interface TestEmailDeps {
  store: Store;
  settings: Settings;
  secrets: SecretAccess;
  createProvider?: (name: ProviderName, options: ProviderOptions) => Promise<Provider>;
}

function needsRecipient(provider: ProviderName, quitAfter: QuitAfter | undefined): boolean {
  if (provider === 'eml') return false;
  return quitAfter === undefined || quitAfter === 'rcpt';
}

export async function testEmail(req: TestEmailRequest, deps: TestEmailDeps): Promise<TestEmailResult> {
  if (req.to !== undefined && !parseMailbox(req.to)) {
    throw new SysemailError('data', 'ADDRESS_INVALID', `--to ${quoted(req.to)} is not a valid email address`, {
      fix: 'Write it as user@example.com',
    });
  }
  if (!req.to && needsRecipient(req.provider, req.quitAfter)) {
    throw new SysemailError(
      'usage',
      'TEST_NEEDS_RECIPIENT',
      `test-email${req.quitAfter ? ` --quit-after ${req.quitAfter}` : ''} needs a recipient`,
      {
        fix: 'Give --to ADDR, or --quit-after auth for a connection and sign-in test that sends nothing',
      },
    );
  }
  let from: string;
  try {
    from = await resolveSender(deps.store, deps.settings, { from: req.from, userId: req.userId });
  } catch (err) {
    // before MAIL FROM no sender is needed; the account's own address stands in
    const early = req.quitAfter !== undefined && ['connect', 'tls', 'ehlo', 'auth'].includes(req.quitAfter);
    const stand = req.provider === 'exchange' ? deps.settings.string('exchange.mailbox') : deps.settings.string('smtp.username');
    if (!(isSysemailError(err) && err.code === 'SENDER_MISSING' && (early || (req.provider === 'exchange' && stand)))) throw err;
    from = stand && parseMailbox(stand) ? stand : 'postmaster@localhost';
  }
  if (!parseMailbox(from)) {
    throw new SysemailError('data', 'ADDRESS_INVALID', `the sender ${quoted(from)} is not a valid email address`, {
      fix: 'Give --from user@example.com',
    });
  }

  // the message it would send, signed as it will be, checked against the published keys
  const keys = await signingKeysFor(req.provider, deps.store, deps.secrets);
  const { buildTestMessage } = await import('../providers/smtp/session.js');
  const { checkDkim } = await import('./dkim-check.js');
  const { signed, report } = await checkDkim(await buildTestMessage(from, req.to ?? from), {
    provider: req.provider,
    from,
    keys,
    ...(req.dnsServer ? { dnsServer: req.dnsServer } : {}),
  });

  const create = deps.createProvider ?? (await import('../providers/index.js')).createProvider;
  const provider = await create(req.provider, {
    settings: deps.settings,
    secrets: deps.secrets,
    ...(keys.length > 0 ? { dkim: keys } : {}),
  });
  try {
    const r = await provider.test({
      from,
      ...(report.signed ? { message: signed } : {}),
      ...(req.to ? { to: req.to } : {}),
      ...(req.quitAfter ? { quitAfter: req.quitAfter } : {}),
      ...(req.onPhase ? { onPhase: req.onPhase } : {}),
    });
    let diagnosis: DiagnosisView[] = [];
    if (!r.ok && r.failure) {
      const { diagnose } = await import('../core/diagnosis/index.js');
      const { scope: _scope, ...failure } = r.failure as FailureInfo & { scope?: unknown };
      diagnosis = diagnose(failure).map((m) => ({
        id: m.id,
        title: m.title,
        explanation: m.explanation,
        fix: m.fix,
        retryable: m.retryable,
      }));
    }
    return {
      ok: r.ok,
      provider: req.provider,
      phases: r.phases,
      diagnosis,
      ...(r.failure ? { failure: r.failure } : {}),
      ...(r.error ? { error: r.error } : {}),
      dkim: report,
    };
  } finally {
    await provider.close();
  }
}
