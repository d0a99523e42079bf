/**
 * `db copy`: the whole current database into an empty one (an installation moving from its SQLite
 * file to a PostgreSQL server shared by several hosts), in one transaction of the target. The target
 * keeps its own database id, so the keychain entries of the source do not apply to it: the result
 * names the secrets to set again.
 */
import { SysemailError, isSysemailError } from '../core/errors.js';
import { SECRET_KEYS, type SecretName } from '../core/params.js';
import type { Settings } from '../core/precedence.js';
import { isProviderName } from '../core/providers.js';
import type { Keychain } from '../secrets/index.js';
import { COPY_ORDER, type CopyCounts } from '../store/copy.js';
import type { BackendInfo, Store } from '../store/ports.js';
import { neededSecret } from './diagnose/secret.js';

/** Rows per statement: big enough that 100,000 messages are a few hundred statements. */
export const COPY_BATCH_ROWS = 1000;

export interface CopyOptions {
  source: Store;
  target: Store;
  /** The source's effective settings: which secrets it reads from the keychain. */
  settings: Settings;
  keychain?: Keychain;
  onProgress?: (done: number, total: number) => void;
}

export interface CopyResult {
  /** Rows copied per table. */
  rows: CopyCounts;
  /** Keychain secrets of the source database that the target (its own id) does not have. */
  /** Secret parameters (smtp.password, ...) and DKIM keys (`dkim:SELECTOR._domainkey.DOMAIN`) kept in the source's keychain entries. */
  secretsToSet: string[];
  /** Messages that were in sending when the snapshot was taken (a distributor was running). */
  inFlight: number;
  source: BackendInfo;
  target: BackendInfo;
}

export async function copyDatabase(o: CopyOptions): Promise<CopyResult> {
  const [source, target] = [await o.source.describe(), await o.target.describe()];
  if (o.source.id === o.target.id) {
    throw new SysemailError('usage', 'DB_COPY_SAME_DATABASE', `--to ${target.location} is the database being copied`, {
      fix: 'Give --to the URL of another, empty database',
    });
  }
  if (!o.source.copySource || !o.target.copyTarget) {
    throw new SysemailError(
      'usage',
      'DB_COPY_UNSUPPORTED',
      `db copy cannot copy from ${source.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'} into ${target.backend === 'sqlite' ? 'an SQLite file' : 'PostgreSQL'}`,
      { fix: 'Copy into a PostgreSQL database: --to postgres://USER@HOST:5432/DBNAME' },
    );
  }
  const secretsToSet: string[] = await keychainSecrets(o.settings, o.source.id, o.keychain);
  // DKIM keys kept in the keychain are the source database's entries too (the registry row is copied)
  for (const k of await o.source.dkim.list()) if (k.source === 'keychain') secretsToSet.push(`dkim:${k.selector}._domainkey.${k.domain}`);
  const snapshot = await o.source.copySource();
  try {
    const { counts, nextIds } = await snapshot.survey();
    const total = COPY_ORDER.reduce((n, t) => n + counts[t], 0);
    const inFlight = (await o.source.messages.counts()).sending;
    const done = new Map<string, number>();
    let sum = 0;
    o.onProgress?.(0, total);
    const rows = await o.target.copyTarget().load({ nextIds, batches: snapshot.batches(COPY_BATCH_ROWS) }, (table, n) => {
      sum += n - (done.get(table) ?? 0);
      done.set(table, n);
      o.onProgress?.(sum, total);
    });
    return { rows, secretsToSet, inFlight, source, target };
  } finally {
    await snapshot.close();
  }
}

/**
 * The secrets the source reads from its keychain entries: those not given by a command or a file
 * parameter (those travel with the parameters). When the keychain cannot be asked, the ones the
 * configured providers need are named, to be safe.
 */
async function keychainSecrets(settings: Settings, dbId: string, keychain?: Keychain): Promise<SecretName[]> {
  const { hasSecret, secretSettings } = await import('../secrets/index.js');
  const { commands, files } = secretSettings(settings);
  const needed = new Set(
    (['batch.provider', 'interactive.provider'] as const)
      .map((k) => settings.string(k))
      .filter((p): p is string => p !== undefined && isProviderName(p))
      .map((p) => neededSecret(settings, p as Parameters<typeof neededSecret>[1]))
      .filter((s): s is SecretName => s !== undefined),
  );
  const out: SecretName[] = [];
  for (const name of SECRET_KEYS) {
    if (commands?.[name]?.trim() || files?.[name]?.trim()) continue;
    try {
      if (await hasSecret(name, dbId, keychain)) out.push(name);
    } catch (err) {
      if (!isSysemailError(err) || err.code !== 'KEYCHAIN_UNAVAILABLE') throw err;
      if (needed.has(name)) out.push(name);
    }
  }
  return out;
}
