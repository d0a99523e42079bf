/**
 * DKIM private keys: checked when they are registered (parses, RSA of 1024 bits or more or Ed25519,
 * the algorithm asked for), and read from their source at the moment of signing: a file that only
 * its owner may read, a command's stdout, or this database's keychain entry. No key, nor any part of
 * one, goes into an error's message, fix or data.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  DKIM_RSA_KEYGEN_BITS,
  DKIM_RSA_MIN_BITS,
  dkimDnsName,
  dkimKeychainAccount,
  type DkimAlgorithm,
  type DkimKeyRow,
  type DkimSigningKey,
} from '../core/dkim.js';
import { SysemailError, isSysemailError } from '../core/errors.js';
import { keychainUnavailable, systemKeychain, type Keychain } from './keychain.js';
import { runPasswordCommand } from './sources.js';

/** A PEM private key is a few kilobytes; anything much bigger is not one. */
const KEY_FILE_MAX_BYTES = 64 * 1024;
/** The SubjectPublicKeyInfo of an Ed25519 key is this prefix and the 32 key bytes (RFC 8410). */
const ED25519_SPKI_PREFIX_BYTES = 12;

export interface InspectedKey {
  algorithm: DkimAlgorithm;
  /** The p= value of the DNS record, base64. */
  publicKey: string;
  /** RSA modulus length; undefined for Ed25519. */
  bits?: number;
}

function invalid(message: string, fix: string): SysemailError {
  return new SysemailError('data', 'DKIM_KEY_INVALID', message, { fix });
}

/** The p= tag for a public key: SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519 (RFC 8463). */
export function dnsPublicKey(key: KeyObject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return (key.asymmetricKeyType === 'ed25519' ? spki.subarray(ED25519_SPKI_PREFIX_BYTES) : spki).toString('base64');
}

/**
 * What a private key is, or DKIM_KEY_INVALID (65) saying why it cannot sign: not a key, a public key,
 * another key type, an RSA key too short, or not the algorithm asked for. `what` names the source.
 */
export function inspectDkimKey(pem: string, what: string, expected?: DkimAlgorithm): InspectedKey {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    let isPublic = false;
    try {
      createPublicKey(pem);
      isPublic = true;
    } catch {
      // neither
    }
    throw isPublic
      ? invalid(
          `${what} holds a public key; signing needs the private key`,
          'Give the private key (PEM, "BEGIN PRIVATE KEY"); the public one goes into DNS',
        )
      : invalid(
          `${what} is not a PEM private key`,
          'Give an RSA or Ed25519 private key in PEM form, or make one: sysemail dkim keygen --domain D --selector S',
        );
  }
  const type = key.asymmetricKeyType;
  let inspected: InspectedKey;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < DKIM_RSA_MIN_BITS) {
      throw invalid(
        `${what} is an RSA key of ${bits} bits; receivers refuse DKIM keys under ${DKIM_RSA_MIN_BITS} bits`,
        `Make a ${DKIM_RSA_KEYGEN_BITS}-bit key: sysemail dkim keygen --domain D --selector S`,
      );
    }
    inspected = { algorithm: 'rsa-sha256', publicKey: dnsPublicKey(key), bits };
  } else if (type === 'ed25519') {
    inspected = { algorithm: 'ed25519-sha256', publicKey: dnsPublicKey(key) };
  } else {
    throw invalid(
      `${what} is an ${type ?? 'unknown'} key; DKIM signs with RSA or Ed25519`,
      'Give an RSA (2048-bit) or Ed25519 private key',
    );
  }
  if (expected && expected !== inspected.algorithm) {
    throw invalid(
      `${what} is an ${inspected.algorithm === 'rsa-sha256' ? 'RSA' : 'Ed25519'} key, not ${expected}`,
      `Register it as ${inspected.algorithm}, or give a key of the algorithm you meant`,
    );
  }
  return inspected;
}

/** A new key pair: RSA 2048 or Ed25519, the private key as PKCS#8 PEM. */
export function generateDkimKey(algorithm: DkimAlgorithm): { privateKey: string; publicKey: string } {
  const pair =
    algorithm === 'rsa-sha256' ? generateKeyPairSync('rsa', { modulusLength: DKIM_RSA_KEYGEN_BITS }) : generateKeyPairSync('ed25519');
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: dnsPublicKey(pair.privateKey),
  };
}

function errnoOf(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function unavailable(row: Pick<DkimKeyRow, 'domain' | 'selector'>, message: string, fix: string, cause?: unknown): SysemailError {
  return new SysemailError('config', 'DKIM_KEY_UNAVAILABLE', message, {
    fix,
    cause,
    data: { domain: row.domain, selector: row.selector },
  });
}

/**
 * Reads a key file: a regular file neither group nor others may read (checked on the open file).
 * `onError` turns each problem into the caller's error (65 when adding, 78 when signing).
 */
export async function readKeyFile(
  file: string,
  onError: (message: string, fix: string, cause?: unknown) => SysemailError,
): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const errno = errnoOf(err);
    const why =
      errno === 'ENOENT'
        ? 'does not exist'
        : errno === 'EACCES'
          ? 'is not readable by this user'
          : `cannot be opened (${errno ?? 'error'})`;
    throw onError(
      `the DKIM key file ${file} ${why}`,
      'Check the path, or register the key again: sysemail dkim add --domain D --selector S --key-file FILE',
      err,
    );
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile())
      throw onError(`the DKIM key file ${file} is not a regular file`, 'Point --key-file at the PEM file of the private key');
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw onError(
        `the DKIM key file ${file} is readable by group or others (mode ${mode}), so it is not used`,
        `Restrict it: chmod 600 ${file}`,
      );
    }
    if (stat.size > KEY_FILE_MAX_BYTES)
      throw onError(`the DKIM key file ${file} is over 64 KB: not a private key`, 'Point --key-file at the PEM file of the private key');
    return (await handle.readFile()).toString('utf8');
  } catch (err) {
    if (isSysemailError(err)) throw err;
    throw onError(`the DKIM key file ${file} cannot be read (${errnoOf(err) ?? 'error'})`, 'Check the file and its permissions', err);
  } finally {
    await handle.close();
  }
}

/** Runs a key command; its stdout is the key. Failures are re-worded for DKIM (the status only, never the output). */
export async function runKeyCommand(
  command: string,
  env: NodeJS.ProcessEnv,
  onError: (message: string, fix: string, cause?: unknown) => SysemailError,
): Promise<string> {
  try {
    return await runPasswordCommand(command, env, undefined, 'the DKIM key command');
  } catch (err) {
    if (!isSysemailError(err)) throw err;
    throw onError(err.message, 'Run the command yourself: it must print the PEM private key on stdout and exit 0', err);
  }
}

export interface DkimKeyAccess {
  dbId: string;
  env: NodeJS.ProcessEnv;
  /** Defaults to the OS keychain. */
  keychain?: Keychain;
}

const keychainFix = (row: Pick<DkimKeyRow, 'domain' | 'selector'>): string =>
  `Keep the key in a file instead: sysemail dkim keygen --domain ${row.domain} --selector ${row.selector} --out FILE (or dkim add ... --key-file FILE)`;

/** Stores a key in this database's keychain entry for (domain, selector). */
export async function storeDkimKey(row: Pick<DkimKeyRow, 'domain' | 'selector'>, pem: string, access: DkimKeyAccess): Promise<void> {
  const kc = access.keychain ?? systemKeychain();
  try {
    await kc.set(dkimKeychainAccount(access.dbId, row.domain, row.selector), pem);
  } catch (err) {
    throw keychainUnavailable(isSysemailError(err) ? err.cause : err, keychainFix(row), { domain: row.domain, selector: row.selector });
  }
}

/** Removes the keychain entry of a key kept there (false when there was none). */
export async function deleteDkimKey(row: Pick<DkimKeyRow, 'domain' | 'selector'>, access: DkimKeyAccess): Promise<boolean> {
  const kc = access.keychain ?? systemKeychain();
  try {
    return await kc.delete(dkimKeychainAccount(access.dbId, row.domain, row.selector));
  } catch (err) {
    throw keychainUnavailable(isSysemailError(err) ? err.cause : err, keychainFix(row), { domain: row.domain, selector: row.selector });
  }
}

/**
 * A registered key ready to sign with, read from its source now and checked against the registry
 * (the algorithm and public key it was registered with). DKIM_KEY_UNAVAILABLE (78) or
 * KEYCHAIN_UNAVAILABLE otherwise: a message is never sent unsigned because its key went missing.
 */
export async function loadDkimKey(row: DkimKeyRow, access: DkimKeyAccess): Promise<DkimSigningKey> {
  const name = dkimDnsName(row.selector, row.domain);
  const fail = (message: string, fix: string, cause?: unknown) => unavailable(row, message, fix, cause);
  let pem: string;
  if (row.source === 'file') {
    pem = await readKeyFile(row.location ?? '', fail);
  } else if (row.source === 'command') {
    pem = await runKeyCommand(row.location ?? '', access.env, fail);
  } else {
    const kc = access.keychain ?? systemKeychain();
    let stored: string | null;
    try {
      stored = await kc.get(dkimKeychainAccount(access.dbId, row.domain, row.selector));
    } catch (err) {
      throw keychainUnavailable(isSysemailError(err) ? err.cause : err, keychainFix(row), { domain: row.domain, selector: row.selector });
    }
    if (!stored) {
      throw fail(
        `the DKIM key ${name} is registered in the keychain, but this database (id ${access.dbId}) has no keychain entry for it, as happens when the database was copied from another machine`,
        `Register it again here: sysemail dkim add --domain ${row.domain} --selector ${row.selector} --stdin < KEY, or make a new one with dkim keygen`,
      );
    }
    pem = stored;
  }
  let inspected: InspectedKey;
  try {
    inspected = inspectDkimKey(pem, `the DKIM key of ${name}`);
  } catch (err) {
    throw fail(
      (err as Error).message,
      `Register a valid key: sysemail dkim add --domain ${row.domain} --selector ${row.selector} ...`,
      err,
    );
  }
  if (inspected.algorithm !== row.algorithm || inspected.publicKey !== row.publicKey) {
    throw fail(
      `the DKIM key of ${name} is not the key registered (its public key or algorithm changed), so its signatures would not match DNS`,
      `Register it again to publish its record: sysemail dkim add --domain ${row.domain} --selector ${row.selector} ...`,
    );
  }
  return { domain: row.domain, selector: row.selector, algorithm: row.algorithm, privateKey: pem };
}

/** `~/x` → `$HOME/x`, then absolute: the registry keeps absolute paths. */
export function absoluteKeyPath(file: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  const expanded = file === '~' || file.startsWith('~/') ? (env.HOME ?? '') + file.slice(1) : file;
  return path.resolve(cwd, expanded);
}
