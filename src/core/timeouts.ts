/**
 * Every network and subprocess time limit, by name: its default and, where the administrator may
 * change it, the parameter that does. `diagnose` uses the same table with shorter values for a few
 * names (DIAGNOSE_TIMEOUTS); tests hand in their own by name.
 */
import { paramDef, type ParamKey } from './params.js';
import type { Settings } from './precedence.js';

interface TimeoutDef {
  /** Default in milliseconds. */
  readonly ms: number;
  /** The parameter (in seconds) that overrides the default. */
  readonly param?: ParamKey;
  readonly description: string;
}

/** The default of a parameter given in seconds, in milliseconds. */
function paramSeconds(key: ParamKey): number {
  const v = paramDef(key)?.default;
  if (typeof v !== 'number') throw new Error(`internal: ${key} has no numeric default`);
  return v * 1000;
}

export const TIMEOUTS = {
  connectionMs: { ms: 15_000, description: 'opening the TCP (and, for implicit TLS, the TLS) connection to the SMTP server' },
  greetingMs: { ms: 15_000, description: 'from connecting to the 220 greeting, and for the STARTTLS upgrade' },
  socketMs: { ms: 60_000, description: 'silence allowed in mid-session, e.g. while the server checks a large message after DATA' },
  probeMs: { ms: 4_000, description: 'a TLS handshake tried after a silent greeting, to recognise a port that expects implicit TLS' },
  quitMs: { ms: 2_000, description: 'how long QUIT may take before the socket is simply closed' },
  sessionMs: {
    ms: paramSeconds('smtp.sessionTimeoutSec'),
    param: 'smtp.sessionTimeoutSec',
    description: 'one whole SMTP session, connection to the end of DATA',
  },
  requestMs: {
    ms: paramSeconds('exchange.requestTimeoutSec'),
    param: 'exchange.requestTimeoutSec',
    description: 'one whole Microsoft Graph send',
  },
  httpMs: { ms: 30_000, description: 'one HTTP request to a token endpoint or Microsoft Graph' },
  uploadMs: { ms: 120_000, description: 'one Microsoft Graph request that carries a whole MIME message' },
  dnsMs: { ms: 5_000, description: 'the DNS lookup of the server (diagnose)' },
  dnsQueryMs: {
    ms: 2_500,
    description: 'one try of one DNS query of `diagnose sender` and `--bulk` (two tries; cancelled after four times this)',
  },
  tcpMs: { ms: 5_000, description: 'a bare TCP connection to the server (diagnose)' },
  passwordCommandMs: { ms: 10_000, description: 'a password command (smtp.passwordCommand, *.clientSecretCommand)' },
  secretCheckMs: { ms: 30_000, description: 'reading a secret in diagnose: a command may prompt a vault or an agent' },
} as const satisfies Record<string, TimeoutDef>;

export type TimeoutName = keyof typeof TIMEOUTS;
export type Timeouts = Record<TimeoutName, number>;
/** Values that replace the table's, by name (tests, diagnose). */
export type TimeoutOverrides = Partial<Timeouts>;

/** A checklist should answer sooner than a send waits: diagnose's own values for the SMTP session. */
export const DIAGNOSE_TIMEOUTS: TimeoutOverrides = {
  connectionMs: 10_000,
  greetingMs: 10_000,
  /** Each reply: EHLO, AUTH, MAIL FROM, RCPT TO. */
  socketMs: 20_000,
};

/** The default of one timeout, before any parameter or override. */
export function defaultTimeout(name: TimeoutName): number {
  return TIMEOUTS[name].ms;
}

/**
 * Every timeout in effect: the table's default, else the parameter's value, else the overrides
 * (later ones win), by name.
 */
export function resolveTimeouts(settings: Pick<Settings, 'number'> | undefined, ...overrides: (TimeoutOverrides | undefined)[]): Timeouts {
  const out = {} as Timeouts;
  for (const name of Object.keys(TIMEOUTS) as TimeoutName[]) {
    const def: TimeoutDef = TIMEOUTS[name];
    out[name] = def.param && settings ? settings.number(def.param) * 1000 : def.ms;
  }
  for (const o of overrides) {
    if (!o) continue;
    for (const [name, ms] of Object.entries(o) as [TimeoutName, number | undefined][]) if (ms !== undefined) out[name] = ms;
  }
  return out;
}
