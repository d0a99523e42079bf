/**
 * Keychain tests talk to the real OS keychain. Where no Secret Service answers they skip, unless
 * SYSEMAIL_REQUIRE_KEYCHAIN=1 (CI, or `bash scripts/with-keychain.sh ...`), where they fail instead.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe } from 'vitest';
import { openKeychain } from '../../src/secrets/keychain.js';

const PROBE_TIMEOUT_MS = 5_000;

export interface KeychainStatus {
  available: boolean;
  /** Why not, when not available. */
  problem?: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the keychain within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A set/get/delete round trip under a throwaway service name, so no real entry is touched. */
async function probe(): Promise<KeychainStatus> {
  const keychain = openKeychain(`sysemail-probe-${randomUUID()}`);
  const account = 'probe';
  const token = randomUUID();
  try {
    await withTimeout(keychain.set(account, token), PROBE_TIMEOUT_MS);
    const read = await withTimeout(keychain.get(account), PROBE_TIMEOUT_MS);
    await withTimeout(keychain.delete(account), PROBE_TIMEOUT_MS);
    if (read !== token) return { available: false, problem: 'the keychain returned something else than was stored' };
    return { available: true };
  } catch (err) {
    return { available: false, problem: err instanceof Error ? err.message : String(err) };
  }
}

let status: Promise<KeychainStatus> | undefined;

export function keychainStatus(): Promise<KeychainStatus> {
  status ??= probe();
  return status;
}

/** True when a Secret Service (or the platform keychain) answers a real round trip. */
export async function keychainAvailable(): Promise<boolean> {
  return (await keychainStatus()).available;
}

export function keychainRequired(): boolean {
  const flag = process.env.SYSEMAIL_REQUIRE_KEYCHAIN;
  return flag !== undefined && flag !== '' && flag !== '0';
}

// Suites are declared synchronously, so the probe result has to be known when this module loads.
const known = await keychainStatus();

/**
 * `describe` for tests that need the real keychain: runs them when it answers; otherwise skips them,
 * or, with SYSEMAIL_REQUIRE_KEYCHAIN=1, fails every one of them saying why.
 */
export function describeKeychain(name: string, fn: () => void): void {
  if (known.available) {
    describe(name, fn);
    return;
  }
  if (!keychainRequired()) {
    describe.skip(`${name} (no keychain: ${known.problem ?? 'unavailable'})`, fn);
    return;
  }
  describe(name, () => {
    beforeAll(() => {
      throw new Error(
        `SYSEMAIL_REQUIRE_KEYCHAIN=1 but no keychain answers (${known.problem ?? 'unavailable'}). ` +
          'Run the tests inside: bash scripts/with-keychain.sh npx vitest run ...',
      );
    });
    fn();
  });
}
