/**
 * The DKIM key record a selector publishes (RFC 6376 3.6.1, RFC 8463 for ed25519): its tags, its key
 * type and size, and whether it is the same key as one sysemail signs with.
 */
import crypto from 'node:crypto';

export type DkimKeyType = 'rsa' | 'ed25519';

export interface DkimKeyRecord {
  keyType: DkimKeyType;
  /** The p= value without spaces; '' = the key was revoked. */
  publicKeyBase64: string;
  /** RSA modulus length in bits. */
  bits?: number;
  /** t=y: the domain is testing DKIM, receivers treat signed mail as unsigned. */
  testing: boolean;
  tags: Record<string, string>;
}

/** A key sysemail signs with for a selector, as the registry knows it (the public half only). */
export interface DkimKeyToCheck {
  selector: string;
  /** The signing domain (d=); the checked domain when absent. */
  domain?: string;
  /** The public key as base64 (SubjectPublicKeyInfo DER for RSA; SPKI or the raw 32 bytes for ed25519), when known. */
  publicKeyBase64?: string;
  /** The TXT value its record must hold ("v=DKIM1; k=...; p=..."), when the key is registered. */
  record?: string;
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The key as a Node KeyObject, or undefined when the bytes are not a key of that type. */
function keyObject(type: DkimKeyType, base64: string): crypto.KeyObject | undefined {
  try {
    let der = Buffer.from(base64, 'base64');
    if (type === 'ed25519' && der.length === 32) der = Buffer.concat([ED25519_SPKI_PREFIX, der]);
    const key = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
    return key.asymmetricKeyType === type ? key : undefined;
  } catch {
    return undefined;
  }
}

export function parseDkimKeyRecord(text: string): { value?: DkimKeyRecord; errors: string[] } {
  const tags: Record<string, string> = {};
  const errors: string[] = [];
  const parts = text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean);
  parts.forEach((part, i) => {
    const eq = part.indexOf('=');
    if (eq === -1) return void errors.push(`"${part}" is not a tag=value pair`);
    const k = part.slice(0, eq).trim().toLowerCase();
    if (k === 'v' && i !== 0) errors.push('v= must be the first tag');
    tags[k] = part.slice(eq + 1).replace(/\s+/g, '');
  });
  if (tags.v !== undefined && tags.v !== 'DKIM1') errors.push(`v=${tags.v} is not DKIM1`);
  const k = (tags.k ?? 'rsa').toLowerCase();
  if (k !== 'rsa' && k !== 'ed25519') errors.push(`k=${k}: only rsa and ed25519 keys are defined`);
  if (tags.p === undefined) errors.push('p= (the public key) is missing');
  if (errors.length) return { errors };
  const keyType = k as DkimKeyType;
  const p = tags.p ?? '';
  const record: DkimKeyRecord = { keyType, publicKeyBase64: p, testing: (tags.t ?? '').split(':').includes('y'), tags };
  if (p === '') return { value: record, errors: [] };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(p)) return { errors: ['p= is not base64'] };
  const key = keyObject(keyType, p);
  if (!key) return { errors: [`p= is not an ${keyType} public key`] };
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined) record.bits = bits;
  return { value: record, errors: [] };
}

/** Whether a published record holds the same key as the one given (compared as SubjectPublicKeyInfo). */
export function sameKey(record: DkimKeyRecord, publicKeyBase64: string): boolean {
  const published = keyObject(record.keyType, record.publicKeyBase64);
  const ours = keyObject(record.keyType, publicKeyBase64.replace(/\s+/g, ''));
  if (!published || !ours) return false;
  return published.export({ format: 'der', type: 'spki' }).equals(ours.export({ format: 'der', type: 'spki' }));
}

/** The `_mta-sts` TXT record (RFC 8461 3.1): `v=STSv1; id=...`. */
export function parseMtaSts(text: string): { id?: string; errors: string[] } {
  if (!/^v=STSv1\s*(;|$)/.test(text)) return { errors: ['the record does not start with "v=STSv1"'] };
  const id = /(?:^|;)\s*id=([^;\s]*)/.exec(text)?.[1];
  if (!id || !/^[A-Za-z0-9]{1,32}$/.test(id)) return { errors: ['id= must be 1 to 32 letters and digits'] };
  return { id, errors: [] };
}

/** The `_smtp._tls` TXT record (RFC 8460 3): `v=TLSRPTv1; rua=mailto:...`. */
export function parseTlsRpt(text: string): { rua: string[]; errors: string[] } {
  if (!/^v=TLSRPTv1\s*(;|$)/.test(text)) return { rua: [], errors: ['the record does not start with "v=TLSRPTv1"'] };
  const rua = (/(?:^|;)\s*rua=([^;]*)/.exec(text)?.[1] ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (rua.length === 0) return { rua, errors: ['rua= (where reports go) is missing'] };
  const bad = rua.filter((u) => !/^(mailto:[^@\s]+@[^@\s]+|https:\/\/\S+)$/i.test(u));
  return { rua, errors: bad.map((u) => `rua "${u}" is not a mailto: or https: URI`) };
}
