/**
 * Use cases of the `params` command family. They take a store and the other layers, check everything
 * before changing anything, and return data for the CLI to render.
 */
import { absolutePath, type PathBase } from '../config/paths.js';
import { SysemailError } from '../core/errors.js';
import {
  PARAMS,
  envNameOf,
  formatParamValue,
  isSecretKey,
  paramDef,
  validateAssignments,
  type Assignment,
  type ParamValue,
  type ValidatedAssignment,
  type ValidationError,
} from '../core/params.js';
import type { EffectiveValue, Settings } from '../core/precedence.js';
import type { Store } from '../store/ports.js';

export interface ParamRow {
  key: string;
  value: ParamValue | null;
  source: EffectiveValue['source'] | 'keychain' | 'command' | 'file' | 'unset';
  origin?: string;
  secret: boolean;
  default: ParamValue | null;
  defaultNote?: string;
  description: string;
  env: string;
}

export const SECRET_MASK = '***';

/** How a secret is supplied, without ever reading its value. Filled by the caller (it may need the keychain). */
export type SecretPresence = { source: 'env' | 'command' | 'file' | 'keychain'; origin?: string } | undefined;

export function paramRows(settings: Settings, secrets: ReadonlyMap<string, SecretPresence>): ParamRow[] {
  return PARAMS.map((def) => {
    const base = {
      key: def.key,
      secret: def.type.kind === 'secret',
      default: def.default ?? null,
      defaultNote: def.defaultNote,
      description: def.description,
      env: envNameOf(def.key),
    };
    if (def.type.kind === 'secret') {
      const presence = secrets.get(def.key);
      return presence
        ? { ...base, value: SECRET_MASK, source: presence.source, origin: presence.origin }
        : { ...base, value: null, source: 'unset' as const };
    }
    const eff = settings.source(def.key);
    return {
      ...base,
      value: eff?.value ?? null,
      source: eff?.value === undefined ? ('unset' as const) : (eff?.source ?? 'default'),
      origin: eff?.origin,
    };
  });
}

export function requireKnownKey(key: string): void {
  if (!paramDef(key)) {
    const { errors } = validateAssignments([{ key, raw: '' }], new Map());
    throw dataError(errors);
  }
}

export function dataError(errors: readonly ValidationError[]): SysemailError {
  const first = errors[0];
  const more =
    errors.length > 1
      ? ` (and ${errors.length - 1} more: ${errors
          .slice(1)
          .map((e) => e.message)
          .join('; ')})`
      : '';
  return new SysemailError(
    'data',
    first.message.startsWith('unknown parameter') ? 'PARAM_UNKNOWN' : 'PARAM_INVALID',
    `${first.message}${more}`,
    {
      fix: first.hint ?? 'Nothing was changed; correct the value and run the command again',
      data: { errors },
    },
  );
}

/**
 * Path parameters are stored absolute: cron or a service runs in another folder than the one where
 * the administrator typed `params set smtp.passwordFile secret.txt`.
 */
function withAbsolutePaths(values: readonly ValidatedAssignment[], base: PathBase): ValidatedAssignment[] {
  return values.map((v) =>
    paramDef(v.key)?.type.kind === 'path' && typeof v.value === 'string' ? { ...v, value: absolutePath(v.value, base) } : v,
  );
}

/** `params set a 1 b 2`: every pair is checked first; then all are written in one transaction. */
export async function setParams(
  store: Store,
  assignments: readonly Assignment[],
  base: PathBase,
): Promise<{ key: string; value: ParamValue; previous: ParamValue | null }[]> {
  const current = await store.params.all();
  const validated = validateAssignments(assignments, current);
  if (validated.errors.length > 0) throw dataError(validated.errors);
  const value = withAbsolutePaths(validated.value, base);
  await store.params.apply(value);
  return value.map((v) => ({ key: v.key, value: v.value, previous: current.get(v.key) ?? null }));
}

export async function unsetParams(store: Store, keys: readonly string[]): Promise<{ key: string; previous: ParamValue | null }[]> {
  for (const k of keys) requireKnownKey(k);
  const current = await store.params.all();
  const plain = keys.filter((k) => !isSecretKey(k));
  await store.params.apply([], plain);
  return plain.map((k) => ({ key: k, previous: current.get(k) ?? null }));
}

export const EXPORT_FORMAT = 'sysemail-params';
export const EXPORT_VERSION = 1;

export interface ParamsExport {
  format: typeof EXPORT_FORMAT;
  version: number;
  exportedAt: string;
  params: Record<string, ParamValue>;
}

/** The administrator layer only (what `params set` stored), never a secret. */
export async function exportParams(store: Store, now: Date): Promise<ParamsExport> {
  const current = await store.params.all();
  const params: Record<string, ParamValue> = {};
  for (const def of PARAMS) {
    const v = current.get(def.key);
    if (v !== undefined && def.type.kind !== 'secret') params[def.key] = v;
  }
  return { format: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: now.toISOString(), params };
}

export interface ImportChange {
  key: string;
  from: ParamValue | null;
  to: ParamValue | null;
}

/** Reads an export document (or a plain `{key: value}` object), validates all of it, then applies it in one transaction. */
export async function importParams(
  store: Store,
  doc: unknown,
  options: { dryRun: boolean; replace: boolean; file: string; base: PathBase },
): Promise<{ changes: ImportChange[]; applied: boolean }> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SysemailError('data', 'IMPORT_INVALID', `${options.file} is not a params export (expected a JSON object)`, {
      fix: 'Create the file with `sysemail params export --file F`',
    });
  }
  const obj = doc as Record<string, unknown>;
  let entries: Record<string, unknown>;
  if ('format' in obj || 'params' in obj) {
    if (obj.format !== EXPORT_FORMAT || typeof obj.params !== 'object' || obj.params === null) {
      throw new SysemailError('data', 'IMPORT_INVALID', `${options.file} is not a sysemail params export`, {
        fix: 'Create the file with `sysemail params export --file F`',
      });
    }
    if (typeof obj.version === 'number' && obj.version > EXPORT_VERSION) {
      throw new SysemailError('data', 'IMPORT_TOO_NEW', `${options.file} was written by a newer sysemail (format ${obj.version})`, {
        fix: 'Upgrade sysemail to import it',
      });
    }
    entries = obj.params as Record<string, unknown>;
  } else {
    entries = obj;
  }
  const assignments = Object.entries(entries).map(([key, raw]) => ({ key, raw }));
  const current = await store.params.all();
  const validated = validateAssignments(assignments, options.replace ? new Map() : current);
  if (validated.errors.length > 0) throw dataError(validated.errors);
  const value = withAbsolutePaths(validated.value, options.base);
  const incoming = new Map(value.map((v) => [v.key, v.value]));
  const unset = options.replace ? [...current.keys()].filter((k) => !incoming.has(k)) : [];
  const changes: ImportChange[] = [];
  for (const [key, to] of incoming) {
    const from = current.get(key) ?? null;
    if (from !== to) changes.push({ key, from, to });
  }
  for (const key of unset) changes.push({ key, from: current.get(key) ?? null, to: null });
  if (!options.dryRun && changes.length > 0) {
    await store.params.apply(
      value.filter((v) => current.get(v.key) !== v.value),
      unset,
    );
  }
  return { changes, applied: !options.dryRun };
}

export { formatParamValue };
