/**
 * The network part of the checklist for Exchange Online: the application token, its Mail.Send
 * permission and the sending mailbox, through the provider's own test (no message is sent).
 */
import { catalogueEntry } from '../../core/diagnosis/index.js';
import type { Settings } from '../../core/precedence.js';
import type { SecretAccess } from '../../providers/common.js';
import type { PhaseResult } from '../../providers/types.js';
import { failedStep } from './smtp.js';
import { fail, pass, skip, warn, type Check } from './types.js';

// Each Graph request (token, mailbox) is bounded by the provider's own HTTP_TIMEOUT_MS.
const SEND_ROLES = ['Mail.Send'];

function permissionCheck(token: PhaseResult, mailbox: PhaseResult | undefined): Check {
  const roles = token.info?.roles;
  const refused =
    mailbox?.info?.httpStatus === 403
      ? ` (reading the mailbox was refused: 403${mailbox.info.graphCode ? ` ${mailbox.info.graphCode}` : ''})`
      : '';
  if (roles === undefined) {
    return refused
      ? warn(
          'exchange.permission',
          `the token does not list its permissions${refused}`,
          catalogueEntry('EXCHANGE_UNAUTHORIZED').fix,
          'EXCHANGE_UNAUTHORIZED',
        )
      : skip('exchange.permission', 'the token does not list its permissions (not a JWT); a real send will tell');
  }
  if (!roles.some((r) => SEND_ROLES.includes(r))) {
    return fail(
      'exchange.permission',
      `the application's token carries no Mail.Send permission (roles: ${roles.join(', ') || 'none'})${refused}`,
      'In Microsoft Entra admin center, give the application the Microsoft Graph application permission Mail.Send and grant admin consent; then run `sysemail diagnose` again',
      'EXCHANGE_UNAUTHORIZED',
    );
  }
  return pass('exchange.permission', `Mail.Send granted (roles: ${roles.join(', ')})`);
}

export async function exchangeNetworkChecks(o: { settings: Settings; secrets: SecretAccess; from: string }): Promise<Check[]> {
  const { createProvider } = await import('../../providers/index.js');
  const provider = await createProvider('exchange', { settings: o.settings, secrets: o.secrets });
  let result: Awaited<ReturnType<typeof provider.test>>;
  try {
    // quitAfter stops the provider's test before its real send: token and mailbox only
    result = await provider.test({ from: o.from, quitAfter: 'rcpt' });
  } finally {
    await provider.close();
  }
  const token = result.phases.find((p) => p.phase === 'token');
  const mailbox = result.phases.find((p) => p.phase === 'mailbox');
  const failedWith = (id: string) => failedStep(id, result.error, result.failure, 'failed');
  if (!token?.ok) {
    return [
      failedWith('exchange.token'),
      skip('exchange.permission', 'not checked: no token'),
      skip('exchange.mailbox', 'not checked: no token'),
    ];
  }
  const checks: Check[] = [pass('exchange.token', token.detail), permissionCheck(token, mailbox)];
  if (!mailbox) checks.push(skip('exchange.mailbox', 'not reached'));
  else if (!mailbox.ok) checks.push(failedWith('exchange.mailbox'));
  else if (mailbox.info?.httpStatus === 403)
    checks.push(
      warn(
        'exchange.mailbox',
        mailbox.detail,
        'Nothing to do if sending works; to let `diagnose` check the mailbox, grant the application User.Read.All',
      ),
    );
  else checks.push(pass('exchange.mailbox', mailbox.detail));
  return checks;
}
