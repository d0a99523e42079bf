import type { ProviderName } from '../../core/failure.js';
import type { UserFields, UserRow, UsersRepo } from '../ports.js';
import type { SqliteDatabase } from '../db.js';

interface UserDbRow {
  id: string;
  email: string;
  sender_email: string | null;
  provider: string | null;
  notify_email: number;
  name: string | null;
  created_at: number;
  updated_at: number;
}

function toUserRow(r: UserDbRow): UserRow {
  return {
    id: r.id,
    email: r.email,
    senderEmail: r.sender_email,
    provider: r.provider as ProviderName | null,
    notifyEmail: r.notify_email === 1,
    name: r.name,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class SqliteUsersRepo implements UsersRepo {
  constructor(private readonly db: SqliteDatabase) {}

  async get(id: string): Promise<UserRow | undefined> {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserDbRow | undefined;
    return r ? toUserRow(r) : undefined;
  }

  async list(): Promise<UserRow[]> {
    return (this.db.prepare('SELECT * FROM users ORDER BY id').all() as UserDbRow[]).map(toUserRow);
  }

  /** Inserts or replaces every field of a user, keeping its creation time. */
  async put(id: string, fields: UserFields, now: number): Promise<UserRow> {
    this.db
      .prepare(
        `INSERT INTO users (id, email, sender_email, provider, notify_email, name, created_at, updated_at)
         VALUES (@id, @email, @senderEmail, @provider, @notifyEmail, @name, @now, @now)
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, sender_email = excluded.sender_email,
           provider = excluded.provider, notify_email = excluded.notify_email, name = excluded.name,
           updated_at = excluded.updated_at`,
      )
      .run({
        id,
        email: fields.email,
        senderEmail: fields.senderEmail ?? null,
        provider: fields.provider ?? null,
        notifyEmail: fields.notifyEmail === false ? 0 : 1,
        name: fields.name ?? null,
        now,
      });
    return (await this.get(id))!;
  }

  async remove(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM users WHERE id = ?').run(id).changes === 1;
  }
}
