/**
 * Use cases of `users`: the application's users, where their notifications go, whom they send as
 * (their sender override replaces their email as From) and whether they want workflow email at all.
 */
import { formatMailbox, isValidAddress, parseSender } from '../core/address.js';
import { SysemailError } from '../core/errors.js';
import { PROVIDER_NAMES, isProviderName, type ProviderName } from '../core/providers.js';
import type { Store } from '../store/ports.js';
import type { UserFields, UserRow } from '../store/ports.js';
import { senderOf } from '../store/rules.js';
import { quoted, requireOneLine } from '../core/text.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export interface UserView {
  id: string;
  email: string;
  senderEmail: string | null;
  /** The From this user sends as. */
  sendsAs: string;
  provider: ProviderName | null;
  notifyEmail: boolean;
  name: string | null;
  createdAt: string;
  updatedAt: string;
}

export function userView(u: UserRow): UserView {
  return {
    id: u.id,
    email: u.email,
    senderEmail: u.senderEmail,
    sendsAs: senderOf(u),
    provider: u.provider,
    notifyEmail: u.notifyEmail,
    name: u.name,
    createdAt: new Date(u.createdAt).toISOString(),
    updatedAt: new Date(u.updatedAt).toISOString(),
  };
}

/**
 * Options as given on the command line. For the optional fields, undefined = not given (keep) and
 * '' = clear.
 */
export interface UserInput {
  email?: string;
  senderEmail?: string;
  provider?: string;
  notifyEmail?: string;
  name?: string;
}

function checkId(id: string): void {
  if (!ID.test(id)) {
    throw new SysemailError('data', 'USER_ID_INVALID', `${quoted(id)} is not a usable user id`, {
      fix: 'Use letters, digits, dot, dash, underscore and @, starting with a letter or digit, e.g. ada or ada@example.com',
    });
  }
}

function address(value: string, flag: string): string {
  const v = value.trim();
  if (!isValidAddress(v)) {
    throw new SysemailError('data', 'ADDRESS_INVALID', `${flag} ${quoted(value)} is not a valid email address`, {
      fix: `Give ${flag} as a bare address, e.g. ${flag} ada@example.com`,
    });
  }
  return v;
}

/** The address the user sends as: one mailbox, a name allowed (it becomes the From header). */
function senderMailbox(value: string): string {
  const r = parseSender(value);
  if (!r.value) {
    throw new SysemailError('data', 'ADDRESS_INVALID', `--sender-email ${quoted(value)} ${r.error}`, {
      fix: 'Give --sender-email as one address, optionally with a name, e.g. --sender-email finance@example.com or --sender-email "Finance <finance@example.com>"',
    });
  }
  return formatMailbox(r.value);
}

function yesNo(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['yes', 'y', 'true', '1', 'on'].includes(v)) return true;
  if (['no', 'n', 'false', '0', 'off'].includes(v)) return false;
  throw new SysemailError('data', 'NOTIFY_EMAIL_INVALID', `--notify-email takes yes or no (got ${quoted(value)})`, {
    fix: 'Use --notify-email yes or --notify-email no',
  });
}

/** A --provider value: one of PROVIDER_NAMES (65 otherwise). */
export function parseProviderName(value: string): ProviderName {
  const v = value.trim().toLowerCase();
  if (!isProviderName(v)) {
    throw new SysemailError('data', 'PROVIDER_INVALID', `--provider must be one of ${PROVIDER_NAMES.join(', ')} (got ${quoted(value)})`, {
      fix: `Use --provider ${PROVIDER_NAMES.join(', ')}, or --provider '' to clear it`,
    });
  }
  return v;
}

/** Checks every option before anything is written; returns the fields to store over `base`. */
function merge(base: UserFields | undefined, input: UserInput): UserFields {
  const email = input.email !== undefined ? address(input.email, '--email') : base?.email;
  if (email === undefined) {
    throw new SysemailError('usage', 'USER_EMAIL_REQUIRED', 'a new user needs an email address', { fix: 'Add --email ADDR' });
  }
  const clearOr = <T>(v: string | undefined, keep: T | null | undefined, parse: (s: string) => T): T | null =>
    v === undefined ? (keep ?? null) : v.trim() === '' ? null : parse(v);
  return {
    email,
    senderEmail: clearOr(input.senderEmail, base?.senderEmail, senderMailbox),
    provider: clearOr(input.provider, base?.provider, parseProviderName),
    notifyEmail: input.notifyEmail === undefined ? (base?.notifyEmail ?? true) : yesNo(input.notifyEmail),
    name: clearOr(input.name, base?.name, (s) => requireOneLine(s.trim(), '--name')),
  };
}

function notFound(id: string): SysemailError {
  return new SysemailError('data', 'USER_NOT_FOUND', `there is no user ${id}`, { fix: 'See the users with `sysemail users list`' });
}

/** Creates a user; 65 if the id is taken. */
export async function addUser(store: Store, id: string, input: UserInput, now: number): Promise<UserView> {
  checkId(id);
  const fields = merge(undefined, input);
  if (await store.users.get(id)) {
    throw new SysemailError('data', 'USER_EXISTS', `user ${id} already exists`, { fix: `Change it with \`sysemail users set ${id} ...\`` });
  }
  return userView(await store.users.put(id, fields, now));
}

/** Changes the given fields of a user, creating the user when it does not exist yet (then --email is required). */
export async function setUser(store: Store, id: string, input: UserInput, now: number): Promise<{ user: UserView; created: boolean }> {
  checkId(id);
  const existing = await store.users.get(id);
  const fields = merge(existing, input);
  return { user: userView(await store.users.put(id, fields, now)), created: !existing };
}

export async function listUsers(store: Store): Promise<UserView[]> {
  return (await store.users.list()).map(userView);
}

/** A user by id; 65 naming `sysemail users list` when unknown. */
export async function requireUser(store: Store, id: string): Promise<UserRow> {
  const u = await store.users.get(id);
  if (!u) throw notFound(id);
  return u;
}

export async function showUser(store: Store, id: string): Promise<UserView> {
  return userView(await requireUser(store, id));
}

export async function removeUser(store: Store, id: string): Promise<{ id: string }> {
  if (!(await store.users.remove(id))) throw notFound(id);
  return { id };
}
