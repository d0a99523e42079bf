/**
 * The DKIM key registry's use cases: register a key kept in a file, behind a command or (from stdin)
 * in the keychain; make a new one; list; remove; and load every registered key for a command that
 * sends. The private key stays in its source: the registry holds where it is and its public key.
 */
import fs from 'node:fs';
import {
  dkimDnsName,
  dkimDnsValue,
  normalizeDkimDomain,
  normalizeDkimSelector,
  type DkimAlgorithm,
  type DkimKeyFields,
  type DkimKeyRow,
  type DkimKeySource,
  type DkimSigningKey,
} from '../core/dkim.js';
import { SysemailError, isSysemailError } from '../core/errors.js';
import {
  absoluteKeyPath,
  deleteDkimKey,
  generateDkimKey,
  inspectDkimKey,
  loadDkimKey,
  readKeyFile,
  runKeyCommand,
  storeDkimKey,
  type DkimKeyAccess,
} from '../secrets/dkim.js';
import type { Store } from '../store/ports.js';

export type { DkimKeyAccess } from '../secrets/dkim.js';

/** A registered key as `dkim list` and `dkim add` show it: never the private key. */
export interface DkimKeyView {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  source: DkimKeySource;
  /** The key file or the command; null for the keychain. */
  location: string | null;
  dnsName: string;
  dnsValue: string;
  createdAt: string;
  updatedAt: string;
}

export function viewOf(row: DkimKeyRow): DkimKeyView {
  return {
    domain: row.domain,
    selector: row.selector,
    algorithm: row.algorithm,
    source: row.source,
    location: row.location,
    dnsName: dkimDnsName(row.selector, row.domain),
    dnsValue: dkimDnsValue(row.algorithm, row.publicKey),
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}

export type DkimKeyInput = { keyFile: string } | { keyCommand: string } | { stdin: string };

function addError(message: string, fix: string, cause?: unknown): SysemailError {
  const noinput = cause && (cause as NodeJS.ErrnoException).code === 'ENOENT';
  return new SysemailError(noinput ? 'noinput' : 'data', noinput ? 'INPUT_UNREADABLE' : 'DKIM_KEY_INVALID', message, { fix, cause });
}

/**
 * Registers (or replaces) the key of (domain, selector). The key is read from its source now and
 * checked (it parses, it is RSA of 1024 bits or more or Ed25519); a key from stdin goes to this
 * database's keychain entry. Nothing is registered when any of it fails.
 */
export async function addDkimKey(
  store: Store,
  o: { domain: string; selector: string; key: DkimKeyInput },
  access: DkimKeyAccess,
  now: number,
): Promise<DkimKeyView> {
  const domain = normalizeDkimDomain(o.domain);
  const selector = normalizeDkimSelector(o.selector);
  let pem: string;
  let source: DkimKeySource;
  let location: string | null;
  let what: string;
  if ('keyFile' in o.key) {
    location = absoluteKeyPath(o.key.keyFile, access.env);
    pem = await readKeyFile(location, addError);
    source = 'file';
    what = `the key file ${location}`;
  } else if ('keyCommand' in o.key) {
    location = o.key.keyCommand;
    if (location.trim() === '')
      throw addError('--key-command is empty', 'Give a command that prints the PEM private key, e.g. --key-command "pass show dkim/s1"');
    pem = await runKeyCommand(
      location,
      access.env,
      (message, fix, cause) => new SysemailError('data', 'DKIM_KEY_INVALID', message, { fix, cause }),
    );
    source = 'command';
    what = 'the output of --key-command';
  } else {
    pem = o.key.stdin;
    source = 'keychain';
    location = null;
    what = 'the key on stdin';
  }
  const inspected = inspectDkimKey(pem, what);
  const fields: DkimKeyFields = { domain, selector, algorithm: inspected.algorithm, source, location, publicKey: inspected.publicKey };
  return viewOf(await register(store, fields, pem, access, now));
}

/** Keychain first (when the key goes there), then the registry; an old keychain entry it replaces goes. */
async function register(store: Store, fields: DkimKeyFields, pem: string, access: DkimKeyAccess, now: number): Promise<DkimKeyRow> {
  const before = (await store.dkim.list(fields.domain)).find((k) => k.selector === fields.selector);
  if (fields.source === 'keychain') await storeDkimKey(fields, pem, access);
  let row: DkimKeyRow;
  try {
    row = await store.dkim.put(fields, now);
  } catch (err) {
    if (fields.source === 'keychain' && before?.source !== 'keychain') await deleteDkimKey(fields, access).catch(() => false);
    throw err;
  }
  if (before?.source === 'keychain' && fields.source !== 'keychain') await deleteDkimKey(fields, access).catch(() => false);
  return row;
}

export interface KeygenResult {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  dnsName: string;
  dnsValue: string;
  /** Where the private key went: the file of --out, or the keychain. */
  source: DkimKeySource;
  file?: string;
}

/** Makes a key (RSA 2048 or Ed25519), keeps it in a new mode-0600 file or the keychain, and registers it. */
export async function keygenDkimKey(
  store: Store,
  o: { domain: string; selector: string; algorithm: DkimAlgorithm; out?: string },
  access: DkimKeyAccess,
  now: number,
): Promise<KeygenResult> {
  const domain = normalizeDkimDomain(o.domain);
  const selector = normalizeDkimSelector(o.selector);
  const { privateKey, publicKey } = generateDkimKey(o.algorithm);
  const fields: DkimKeyFields = { domain, selector, algorithm: o.algorithm, source: 'keychain', location: null, publicKey };
  let file: string | undefined;
  if (o.out !== undefined) {
    file = absoluteKeyPath(o.out, access.env);
    writeNewKeyFile(file, privateKey);
    fields.source = 'file';
    fields.location = file;
  }
  try {
    await register(store, fields, privateKey, access, now);
  } catch (err) {
    if (file) fs.rmSync(file, { force: true });
    throw err;
  }
  return {
    domain,
    selector,
    algorithm: o.algorithm,
    dnsName: dkimDnsName(selector, domain),
    dnsValue: dkimDnsValue(o.algorithm, publicKey),
    source: fields.source,
    ...(file ? { file } : {}),
  };
}

/** O_EXCL with mode 0600: an existing file (a key of before, perhaps) is never overwritten. */
function writeNewKeyFile(file: string, pem: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new SysemailError('data', 'DKIM_OUT_EXISTS', `${file} exists; a key file is never overwritten`, {
        fix: 'Name a new file with --out, or move the old one away first',
      });
    }
    throw new SysemailError('ioerr', 'DKIM_KEY_WRITE_FAILED', `cannot create the key file ${file} (${code ?? 'error'})`, {
      fix: 'Name a file in a folder you can write to with --out',
      cause: err,
    });
  }
  try {
    fs.writeSync(fd, pem);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw new SysemailError('ioerr', 'DKIM_KEY_WRITE_FAILED', `cannot write the key file ${file}`, {
      fix: 'Check the disk and the folder',
      cause: err,
    });
  }
  fs.closeSync(fd);
}

export async function listDkimKeys(store: Store, domain?: string): Promise<DkimKeyView[]> {
  return (await store.dkim.list(domain === undefined ? undefined : normalizeDkimDomain(domain))).map(viewOf);
}

/** Unregisters the domain's keys (one selector, or all); keys kept in the keychain leave it too. */
export async function removeDkimKeys(
  store: Store,
  o: { domain: string; selector?: string },
  access: DkimKeyAccess,
): Promise<DkimKeyView[]> {
  const domain = normalizeDkimDomain(o.domain);
  const selector = o.selector === undefined ? undefined : normalizeDkimSelector(o.selector);
  const removed = await store.dkim.remove(domain, selector);
  if (removed.length === 0) {
    throw new SysemailError(
      'data',
      'DKIM_KEY_NOT_FOUND',
      `no DKIM key is registered for ${selector ? dkimDnsName(selector, domain) : domain}`,
      {
        fix: 'See the registered keys with: sysemail dkim list',
      },
    );
  }
  for (const row of removed) if (row.source === 'keychain') await deleteDkimKey(row, access).catch(() => false);
  return removed.map(viewOf);
}

/**
 * Every registered key, read from its source now: what a command that sends signs with. A key that
 * cannot be read is an error (78) before anything is sent, never a message sent unsigned.
 */
export async function loadSigningKeys(store: Store, access: DkimKeyAccess): Promise<DkimSigningKey[]> {
  const rows = await store.dkim.list();
  const keys: DkimSigningKey[] = [];
  for (const row of rows) {
    try {
      keys.push(await loadDkimKey(row, access));
    } catch (err) {
      if (isSysemailError(err)) throw err;
      throw new SysemailError('config', 'DKIM_KEY_UNAVAILABLE', `the DKIM key of ${dkimDnsName(row.selector, row.domain)} cannot be read`, {
        fix: 'Run `sysemail dkim list` and register the key again',
        cause: err,
      });
    }
  }
  return keys;
}
