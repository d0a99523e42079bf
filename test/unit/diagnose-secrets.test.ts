/**
 * sysemail's own secret errors (src/secrets) must diagnose as SECRET_UNAVAILABLE: by their code when
 * stored as a FailureInfo of the 'secret' phase, and by their words when an admin pastes the line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diagnose, diagnoseText } from '../../src/core/diagnosis/index.js';
import { isSysemailError, type SysemailError } from '../../src/core/errors.js';
import { resolveSecret, type Keychain } from '../../src/secrets/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-secret-diag-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const emptyKeychain: Keychain = { get: async () => null, set: async () => undefined, delete: async () => false };
const brokenKeychain: Keychain = {
  get: async () => {
    throw new Error('Cannot autolaunch D-Bus without X11 $DISPLAY');
  },
  set: async () => undefined,
  delete: async () => false,
};

async function errorOf(work: Promise<unknown>): Promise<SysemailError> {
  try {
    await work;
  } catch (err) {
    if (isSysemailError(err)) return err;
    throw err;
  }
  throw new Error('expected a SysemailError');
}

const openFile = path.join(dir, 'too-open');
fs.writeFileSync(openFile, 'pw');
fs.chmodSync(openFile, 0o644);

const cases: [string, () => Promise<unknown>, string?][] = [
  ['no keychain entry for this database', () => resolveSecret('smtp.password', { dbId: 'db1', env: {}, keychain: emptyKeychain })],
  ['the keychain cannot be reached', () => resolveSecret('exchange.clientSecret', { dbId: 'db1', env: {}, keychain: brokenKeychain })],
  [
    'a password file that does not exist',
    () => resolveSecret('smtp.password', { dbId: 'db1', env: {}, passwordFile: path.join(dir, 'missing') }),
  ],
  ['a password file others may read', () => resolveSecret('smtp.password', { dbId: 'db1', env: {}, passwordFile: openFile })],
  [
    'a password command that fails',
    () => resolveSecret('smtp.password', { dbId: 'db1', env: { PATH: process.env.PATH }, passwordCommand: 'exit 3' }),
  ],
  [
    'an Exchange client secret command that fails',
    () =>
      resolveSecret('exchange.clientSecret', {
        dbId: 'db1',
        env: { PATH: process.env.PATH },
        commands: { 'exchange.clientSecret': 'exit 3' },
      }),
    'exchange.clientSecretCommand exited with status 3',
  ],
  [
    'an SMTP OAuth client secret file others may read',
    () => resolveSecret('smtp.oauth.clientSecret', { dbId: 'db1', env: {}, files: { 'smtp.oauth.clientSecret': openFile } }),
    'smtp.oauth.clientSecretFile',
  ],
];

describe.each(cases)('%s', (_name, make, names) => {
  it('diagnoses as SECRET_UNAVAILABLE by its code and by its words', async () => {
    const err = await errorOf(make());
    if (names) expect(err.message).toContain(names);
    expect(['SECRET_UNAVAILABLE', 'KEYCHAIN_UNAVAILABLE']).toContain(err.code);
    expect(diagnose({ phase: 'secret', code: err.code, response: err.message })[0]?.id).toBe('SECRET_UNAVAILABLE');
    // the code alone, as a stored attempt without words would carry it
    expect(diagnose({ code: err.code })[0]?.id).toBe('SECRET_UNAVAILABLE');
    expect(diagnoseText(`sysemail: ${err.line}`)[0]?.id).toBe('SECRET_UNAVAILABLE');
  });
});
