/**
 * One value, several layers: flag > environment (SYSEMAIL_*) > user config > administrator params > default.
 * Pure: the layers are read elsewhere and handed in.
 */
import {
  MICROSOFT_IDENTITY_TOKEN_URL,
  PARAMS,
  envNameOf,
  isMicrosoft365Host,
  paramDef,
  parseParamValue,
  type ParamDef,
  type ParamKey,
  type ParamValue,
} from './params.js';
import { quoted } from './errors.js';

export type ValueSource = 'default' | 'params' | 'user' | 'env' | 'flag';

export interface EffectiveValue {
  key: string;
  value: ParamValue | undefined;
  source: ValueSource;
  /** Where exactly: the env variable, the user config file, ... */
  origin?: string;
}

export interface Layers {
  params: ReadonlyMap<string, ParamValue>;
  /** User config values already mapped to param keys (`from` → sender.default, `provider` → interactive.provider). */
  user: ReadonlyMap<string, ParamValue>;
  userFile?: string;
  env: Readonly<Record<string, string | undefined>>;
  flags?: ReadonlyMap<string, ParamValue>;
  /**
   * The database's own folder: the spool and the outbox default to folders inside it, so everything a
   * run needs follows the database rather than a home folder.
   */
  dataDir: string;
}

export interface LayerError {
  key: string;
  origin: string;
  message: string;
}

/** Reads the value of a key from the environment, accepting SYSEMAIL_SMTP_PER_MINUTE_LIMIT and SYSEMAIL_SMTP_PERMINUTELIMIT. */
function envValue(env: Layers['env'], key: string): { name: string; raw: string } | undefined {
  const canonical = envNameOf(key);
  const squashed = 'SYSEMAIL_' + key.replace(/\./g, '_').toUpperCase();
  for (const name of canonical === squashed ? [canonical] : [canonical, squashed]) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') return { name, raw };
  }
  return undefined;
}

/** Pure, so no node:path: the folder is absolute already and only needs one separator. */
function joinFolder(folder: string, name: string): string {
  return `${folder.replace(/[\\/]+$/, '')}/${name}`;
}

function computedDefault(def: ParamDef, resolved: (key: string) => ParamValue | undefined, dataDir: string): ParamValue | undefined {
  switch (def.key) {
    case 'smtp.perMinuteLimit':
      return isMicrosoft365Host(resolved('smtp.host') as string | undefined) ? 30 : 0;
    case 'exchange.perMinuteLimit':
      return 30;
    case 'smtp.oauth.tokenUrl': {
      const tenant = resolved('smtp.oauth.tenantId');
      return tenant ? MICROSOFT_IDENTITY_TOKEN_URL.replace('{tenant}', encodeURIComponent(String(tenant))) : undefined;
    }
    case 'exchange.tokenUrl': {
      const tenant = resolved('exchange.tenantId');
      return tenant ? MICROSOFT_IDENTITY_TOKEN_URL.replace('{tenant}', encodeURIComponent(String(tenant))) : undefined;
    }
    case 'eml.outputDir':
      return joinFolder(dataDir, 'outbox');
    case 'queue.spoolDir':
      return joinFolder(dataDir, 'spool');
    default:
      return def.default;
  }
}

export function resolveParams(layers: Layers): { values: Map<string, EffectiveValue>; errors: LayerError[] } {
  const values = new Map<string, EffectiveValue>();
  const errors: LayerError[] = [];
  const layered = (def: ParamDef): EffectiveValue | undefined => {
    const flag = layers.flags?.get(def.key);
    if (flag !== undefined) return { key: def.key, value: flag, source: 'flag' };
    if (def.type.kind !== 'secret') {
      const env = envValue(layers.env, def.key);
      if (env) {
        const parsed = parseParamValue(def, env.raw);
        if (parsed.error === undefined) return { key: def.key, value: parsed.value, source: 'env', origin: env.name };
        errors.push({ key: def.key, origin: env.name, message: `${env.name} ${parsed.error} (got ${quoted(env.raw)})` });
      }
    }
    const user = layers.user.get(def.key);
    if (user !== undefined) return { key: def.key, value: user, source: 'user', origin: layers.userFile };
    const stored = layers.params.get(def.key);
    if (stored !== undefined) return { key: def.key, value: stored, source: 'params' };
    return undefined;
  };
  // Plain values first, then the defaults that depend on them.
  const pendingDefaults: ParamDef[] = [];
  for (const def of PARAMS) {
    const v = layered(def);
    if (v) values.set(def.key, v);
    else pendingDefaults.push(def);
  }
  const resolved = (key: string) => values.get(key)?.value;
  for (const def of pendingDefaults) {
    values.set(def.key, { key: def.key, value: computedDefault(def, resolved, layers.dataDir), source: 'default' });
  }
  return { values, errors };
}

/** Typed read access to effective values, handed to use cases and providers. */
export class Settings {
  constructor(readonly values: ReadonlyMap<string, EffectiveValue>) {}

  static from(layers: Layers): { settings: Settings; errors: LayerError[] } {
    const { values, errors } = resolveParams(layers);
    return { settings: new Settings(values), errors };
  }

  get(key: ParamKey): ParamValue | undefined {
    if (!paramDef(key)) throw new Error(`internal: unknown parameter ${key}`);
    return this.values.get(key)?.value;
  }

  string(key: ParamKey): string | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : String(v);
  }

  number(key: ParamKey): number {
    const v = this.get(key);
    if (typeof v !== 'number') throw new Error(`internal: parameter ${key} has no numeric value`);
    return v;
  }

  boolean(key: ParamKey): boolean {
    return this.get(key) === true;
  }

  source(key: ParamKey): EffectiveValue | undefined {
    return this.values.get(key);
  }
}
