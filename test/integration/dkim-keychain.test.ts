/**
 * DKIM keys kept in the real OS keychain (`dkim add --stdin`, `dkim keygen` without --out): stored
 * under this database's account, read back to sign, deleted with `dkim remove`, and never in the
 * database file. Skips without a Secret Service unless SYSEMAIL_REQUIRE_KEYCHAIN=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { addDkimKey, keygenDkimKey, loadSigningKeys, removeDkimKeys } from '../../src/app/dkim.js';
import { dkimKeychainAccount } from '../../src/core/dkim.js';
import { systemKeychain } from '../../src/secrets/keychain.js';
import { generateDkimKey } from '../../src/secrets/dkim.js';
import { SqliteStore } from '../../src/store/index.js';
import { keyFragments, keyLeaks } from '../helpers/dkim.js';
import { describeKeychain } from '../helpers/keychain.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-dkim-keychain-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describeKeychain('DKIM keys in the OS keychain', () => {
  it('stdin and keygen keys go to the keychain, sign, and leave it with dkim remove', async () => {
    const file = path.join(dir, 'k.db');
    const store = (await SqliteStore.open(file))!;
    const access = { dbId: store.id, env: { HOME: dir } };
    const kc = systemKeychain();
    try {
      const { privateKey } = generateDkimKey('ed25519-sha256');
      const added = await addDkimKey(store, { domain: 'example.org', selector: 'kc1', key: { stdin: privateKey } }, access, 1);
      expect(added).toMatchObject({ source: 'keychain', location: null, algorithm: 'ed25519-sha256' });
      expect(await kc.get(dkimKeychainAccount(store.id, 'example.org', 'kc1'))).toBe(privateKey);
      const made = await keygenDkimKey(store, { domain: 'example.org', selector: 'kc2', algorithm: 'rsa-sha256' }, access, 2);
      expect(made).toMatchObject({ source: 'keychain', dnsName: 'kc2._domainkey.example.org' });
      expect(made.dnsValue).toMatch(/^v=DKIM1; k=rsa; p=MII/);

      const keys = await loadSigningKeys(store, access);
      expect(keys.map((k) => `${k.selector}:${k.algorithm}`)).toEqual(['kc1:ed25519-sha256', 'kc2:rsa-sha256']);
      expect(keys[0].privateKey).toBe(privateKey);
      // the database file holds no part of either key
      const bytes = Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
      for (const k of keys) expect(keyLeaks(bytes, keyFragments(k.privateKey))).toEqual([]);

      await removeDkimKeys(store, { domain: 'example.org' }, access);
      expect(await kc.get(dkimKeychainAccount(store.id, 'example.org', 'kc1'))).toBeNull();
      expect(await kc.get(dkimKeychainAccount(store.id, 'example.org', 'kc2'))).toBeNull();
      expect(await loadSigningKeys(store, access)).toEqual([]);
    } finally {
      for (const s of ['kc1', 'kc2']) await kc.delete(dkimKeychainAccount(store.id, 'example.org', s)).catch(() => false);
      await store.close();
    }
  });

  it('a database copied elsewhere (another id) finds no entry: 78 naming what to do', async () => {
    const file = path.join(dir, 'c.db');
    const store = (await SqliteStore.open(file))!;
    try {
      const { privateKey } = generateDkimKey('ed25519-sha256');
      await addDkimKey(store, { domain: 'example.org', selector: 'cp1', key: { stdin: privateKey } }, { dbId: store.id, env: {} }, 1);
      await expect(loadSigningKeys(store, { dbId: 'another-database-id', env: {} })).rejects.toMatchObject({
        code: 'DKIM_KEY_UNAVAILABLE',
        kind: 'config',
      });
      await removeDkimKeys(store, { domain: 'example.org' }, { dbId: store.id, env: {} });
    } finally {
      await store.close();
    }
  });
});
