/**
 * Secrets as a service account has them: no keychain, the client secrets from a command or a file.
 * The built binary, real files, real commands.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { json, sandbox, type Sandbox } from '../helpers/cli.js';

const sandboxes: Sandbox[] = [];
afterAll(() => {
  for (const sb of sandboxes) sb.cleanup();
});

function box(): Sandbox {
  const sb = sandbox('sysemail-secrets-e2e-');
  sandboxes.push(sb);
  // a session bus that is not there: the keychain is unavailable whatever this machine has
  sb.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent/sysemail-test-bus';
  return sb;
}

describe('without a keychain', () => {
  it('params list warns about the unavailable keychain once, not once per secret', async () => {
    const sb = box();
    const r = await sb.run(['params', 'list']);
    expect(r.exitCode, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => /keychain unavailable/i.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/smtp\.password/);
  });

  it('params list shows where each client secret comes from: its command and its file', async () => {
    const sb = box();
    const file = path.join(sb.dir, 'graph.secret');
    fs.writeFileSync(file, 'graph-secret-value\n', { mode: 0o600 });
    const commandFile = path.join(sb.dir, 'oauth.secret');
    fs.writeFileSync(commandFile, 'oauth-secret-value', { mode: 0o600 });
    const set = await sb.run(['params', 'set', 'exchange.clientSecretFile', file, 'smtp.oauth.clientSecretCommand', `cat ${commandFile}`]);
    expect(set.exitCode, set.stderr).toBe(0);
    const r = await sb.run(['params', 'list', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('graph-secret-value');
    expect(r.stdout + r.stderr).not.toContain('oauth-secret-value');
    const rows = json<{ params: { key: string; source?: string; origin?: string }[] }>(r.stdout).params;
    const byKey = new Map(rows.map((row) => [row.key, row]));
    expect(JSON.stringify(byKey.get('exchange.clientSecret'))).toContain('exchange.clientSecretFile');
    expect(JSON.stringify(byKey.get('smtp.oauth.clientSecret'))).toContain('smtp.oauth.clientSecretCommand');
  });
});
