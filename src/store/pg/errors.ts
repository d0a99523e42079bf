/**
 * What a PostgreSQL failure means for the user, by code: the driver's network errors (errno codes),
 * the server's SQLSTATE, TLS verification codes; the message text only as the last resort. The
 * password is never part of a message: the server never echoes it, and every message is scrubbed of
 * the passwords this process was given all the same.
 */
import { SysemailError, isSysemailError, type ErrorCode } from '../../core/errors.js';

const secrets = new Set<string>();

/** A password this process uses: scrubbed from every message made here. */
export function rememberSecret(secret: string | undefined): void {
  if (secret) secrets.add(secret);
}

export function scrub(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/** Where the CA for each database URL (its printable label) came from, for the fix of an untrusted certificate. */
const trustSources = new Map<string, string>();

/** Notes which CA checks the certificate of the database `label`: `sslrootcert=FILE`, the system's CAs, ... */
export function rememberTrust(label: string, source: string): void {
  trustSources.set(label, source);
}

/** Node's certificate verification codes, and what each says about the certificate. */
const TLS_PROBLEMS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'is signed by a CA that is not trusted (a self-signed certificate in its chain)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'is signed by a CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'is signed by a CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'is signed by a CA that is not trusted',
  CERT_HAS_EXPIRED: 'has expired',
  CERT_NOT_YET_VALID: 'is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'is not valid for this host name',
};

export function isTlsCertCode(code: string | undefined): boolean {
  return !!code && Object.hasOwn(TLS_PROBLEMS, code);
}

/**
 * What is wrong with the server's certificate and what to do, for a verification error `err` of code
 * `code`: the host name and the names the certificate carries for a mismatch, the CA it was checked
 * against otherwise. `at` names the server; `label` is the database URL as printed.
 */
export function tlsCertProblem(err: unknown, code: string, at: string, label: string): { message: string; fix: string } {
  const trust = trustSources.get(label);
  const against = trust ? `${code}; checked against ${trust}` : code;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const e = err as { host?: unknown; cert?: { subjectaltname?: unknown } };
    const host = typeof e?.host === 'string' ? e.host : undefined;
    const sans = typeof e?.cert?.subjectaltname === 'string' ? e.cert.subjectaltname.replace(/\b(DNS|IP Address):/g, '') : undefined;
    return {
      message: `the certificate of ${at} is not valid for ${host ?? 'the host name in the URL'}${sans ? ` (it names ${sans})` : ''}; sslmode=verify-full checks the name (${code})`,
      fix: 'Connect with a host name the certificate carries, or give the server a certificate for this name; sslmode=verify-ca checks the CA only',
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return {
      message: `the certificate of ${at} ${TLS_PROBLEMS[code]} (${code})`,
      fix: "Renew the server's certificate (ssl_cert_file in postgresql.conf), and check the clocks of this host and the server",
    };
  }
  const given = trust?.startsWith('sslrootcert=') || trust?.startsWith('PGSSLROOTCERT=') || trust?.startsWith('~/');
  return {
    message: `the certificate of ${at} ${TLS_PROBLEMS[code] ?? 'is not trusted'} (${against})`,
    fix: given
      ? `The CA in ${trust} did not sign the server's certificate: give the CA that did (or that certificate itself) with sslrootcert=FILE in the URL, or have the server use a certificate signed by this CA`
      : "Give the CA that signed the server's certificate (or that certificate itself) with sslrootcert=FILE in the URL (or PGSSLROOTCERT, ~/.postgresql/root.crt)",
  };
}

/** SQLSTATE classes after which trying again later may work: connection, resources, shutdown, conflicts. */
const TEMPORARY_SQLSTATE = /^(08|53|57P|40)/;

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: { code?: unknown }[] };
  if (typeof e?.code === 'string') return e.code;
  // Node's happy-eyeballs connect reports every address's failure in an AggregateError
  const inner = e?.errors?.find((x) => typeof x?.code === 'string');
  return inner?.code as string | undefined;
}

/** The SysemailError a driver or server error stands for; a SysemailError passes through. */
export function pgFailure(err: unknown, label: string): SysemailError {
  if (isSysemailError(err)) return err;
  const code = codeOf(err);
  const raw = scrub(String((err as Error)?.message || code || err));
  const at = `database ${label}`;
  const make = (kind: ConstructorParameters<typeof SysemailError>[0], id: ErrorCode, message: string, fix: string) =>
    new SysemailError(kind, id, scrub(message), {
      fix,
      cause: err,
      data: code ? { [/^[0-9A-Z]{5}$/.test(code) ? 'sqlstate' : 'errno']: code } : undefined,
    });
  switch (code) {
    case 'ECONNREFUSED':
      return make(
        'tempfail',
        'PG_UNAVAILABLE',
        `cannot connect to ${at}: connection refused`,
        'Start the PostgreSQL server or check the host and port in --db; retrying later may work',
      );
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return make(
        'tempfail',
        'PG_UNAVAILABLE',
        `cannot reach ${at} (${code})`,
        'Check that the server is up and reachable from this host; retrying later may work',
      );
    case 'ENOTFOUND':
      return make('config', 'PG_HOST_NOT_FOUND', `the host of ${at} does not resolve`, 'Correct the host name in --db (or SYSEMAIL_DB)');
    case '28P01':
      return make(
        'noperm',
        'PG_AUTH_FAILED',
        `${at} refused the password (${raw})`,
        'Give the right password in the URL, PGPASSWORD or ~/.pgpass (mode 0600)',
      );
    case '28000':
      // a hostssl-only rule: libpq words it "no pg_hba.conf entry for host ..., no encryption"
      if (/no pg_hba\.conf entry.*no encryption/i.test(raw))
        return make(
          'noperm',
          'PG_TLS_REQUIRED',
          `${at} accepts only TLS connections from this host (${raw})`,
          'Use sslmode=verify-full in the URL (with sslrootcert=FILE for a private CA)',
        );
      return make(
        'noperm',
        'PG_AUTH_FAILED',
        `${at} refused the connection (${raw})`,
        "Check the user name and the server's pg_hba.conf rules for this host",
      );
    case '42501':
      return make(
        'noperm',
        'PG_NO_PRIVILEGE',
        `${at}: permission denied (${raw})`,
        'Grant the database user the privileges sysemail needs (owner of its database, or CREATE and read/write on its tables)',
      );
    case '3D000':
      return make(
        'config',
        'PG_NO_DATABASE',
        `${at} does not exist`,
        'Create it first (createdb NAME, or CREATE DATABASE NAME) or correct the name in --db',
      );
    default:
      break;
  }
  // the server asked for a password and none was found (node-postgres says so before sending anything)
  if (!code && /password must be a string|password must be a non-empty string|no password supplied/i.test(raw)) {
    return make(
      'noperm',
      'PG_NO_PASSWORD',
      `${at} wants a password and none was given`,
      'Give it in the URL, in PGPASSWORD or in ~/.pgpass (a line host:port:database:user:password, mode 0600)',
    );
  }
  if (code && isTlsCertCode(code)) {
    const problem = tlsCertProblem(err, code, at, label);
    return make('config', 'PG_TLS_UNTRUSTED', problem.message, problem.fix);
  }
  if (/does not support SSL/i.test(raw)) {
    return make(
      'config',
      'PG_TLS_UNSUPPORTED',
      `${at} does not accept TLS connections`,
      'Enable ssl on the server, or use sslmode=disable or prefer in the URL',
    );
  }
  if (/timeout|terminated/i.test(raw) && !code) {
    return make(
      'tempfail',
      'PG_UNAVAILABLE',
      `lost or could not open the connection to ${at} (${raw})`,
      'Check that the server is up and reachable; retrying later may work',
    );
  }
  if (code && TEMPORARY_SQLSTATE.test(code)) {
    return make('tempfail', 'PG_TEMPORARY', `${at}: ${raw}`, 'Retrying later may work');
  }
  return make('ioerr', 'PG_QUERY_FAILED', `${at}: ${raw}`, 'Check the server log; if it persists, report it with `sysemail --verbose`');
}
