/**
 * DKIM (RFC 6376) vocabulary: the two signing algorithms, where a private key lives, the registry's
 * rows, the names that must be valid in DNS, and the TXT record a key is published as. Pure: the
 * keys themselves are read by src/secrets/dkim.ts and used by src/providers/dkim.ts.
 */
import { SysemailError, quoted } from './errors.js';

export const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];

/** Where a private key is read from at the moment of use; the key itself is never stored. */
export type DkimKeySource = 'file' | 'command' | 'keychain';

/** One registered signing key: what the registry holds (no private key). */
export interface DkimKeyRow {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  source: DkimKeySource;
  /** The absolute file path or the command; null for the keychain. */
  location: string | null;
  /** The public key as it goes into the DNS record's p= tag (base64), for comparing with what is published. */
  publicKey: string;
  createdAt: number;
  updatedAt: number;
}

export type DkimKeyFields = Omit<DkimKeyRow, 'createdAt' | 'updatedAt'>;

/** A key ready to sign with (in memory only, for the time of one command). */
export interface DkimSigningKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PEM (PKCS#8 or PKCS#1). Never printed, logged or stored. */
  privateKey: string;
}

/** The smallest RSA key sysemail signs with (RFC 8301: verifiers must refuse keys under 1024 bits). */
export const DKIM_RSA_MIN_BITS = 1024;
export const DKIM_RSA_KEYGEN_BITS = 2048;

/**
 * The header fields every signature covers when the message has them: RFC 6376 §5.4.1's list with the
 * one-click unsubscribe field (RFC 8058 §4 requires List-Unsubscribe-Post to be signed).
 */
export const DKIM_SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Help',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Subscribe',
  'List-Post',
  'List-Owner',
  'List-Archive',
].join(':');

export function isDkimAlgorithm(value: string): value is DkimAlgorithm {
  return (DKIM_ALGORITHMS as readonly string[]).includes(value);
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A domain as DKIM's d= takes it: lower case, at least two labels, no trailing dot. */
export function normalizeDkimDomain(input: string): string {
  const d = input.trim().toLowerCase().replace(/\.$/, '');
  const labels = d.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l)) || d.length > 253) {
    throw new SysemailError('data', 'DKIM_DOMAIN_INVALID', `${quoted(input)} is not a domain name such as example.com`, {
      fix: 'Give the domain of the From address: sysemail dkim add --domain example.com --selector s1 --key-file KEY',
    });
  }
  return d;
}

/** A selector: one or more DNS labels (RFC 6376 §3.1). */
export function normalizeDkimSelector(input: string): string {
  const s = input.trim().toLowerCase();
  if (!s || !s.split('.').every((l) => LABEL.test(l)) || s.length > 63) {
    throw new SysemailError('data', 'DKIM_SELECTOR_INVALID', `${quoted(input)} is not a DKIM selector (letters, digits and - only)`, {
      fix: 'Pick a selector such as s2026 or mail1: sysemail dkim keygen --domain example.com --selector s2026',
    });
  }
  return s;
}

export function parseDkimAlgorithm(input: string): DkimAlgorithm {
  if (!isDkimAlgorithm(input)) {
    throw new SysemailError('usage', 'DKIM_ALGORITHM_INVALID', `unknown DKIM algorithm ${quoted(input)}`, {
      fix: `Use one of ${DKIM_ALGORITHMS.join(', ')}`,
    });
  }
  return input;
}

/** Where the key's record is published. */
export function dkimDnsName(selector: string, domain: string): string {
  return `${selector}._domainkey.${domain}`;
}

/** The TXT record's value: `v=DKIM1; k=rsa; p=...` (RFC 6376 §3.6.1, RFC 8463 for k=ed25519). */
export function dkimDnsValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519'}; p=${publicKey}`;
}

/** The domain of an address (`Name <a@b.example>` included), lower case; '' when there is none. */
export function domainOfAddress(address: string): string {
  const m = /<([^<>]*)>\s*$/.exec(address);
  const addr = (m ? m[1] : address).trim();
  const at = addr.lastIndexOf('@');
  return at < 0
    ? ''
    : addr
        .slice(at + 1)
        .toLowerCase()
        .replace(/\.$/, '');
}

/** The keys that sign a message from `from`: every key registered for its domain. */
export function dkimKeysFor<K extends { domain: string }>(keys: readonly K[], from: string): K[] {
  const domain = domainOfAddress(from);
  return domain ? keys.filter((k) => k.domain === domain) : [];
}

/** The keychain account of a key kept there: per database, domain and selector. */
export function dkimKeychainAccount(dbId: string, domain: string, selector: string): string {
  return `${dbId}:dkim:${selector}._domainkey.${domain}`;
}
