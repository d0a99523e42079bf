/** History and retention, templates, users and the diagnosis reads on PostgreSQL. */
import type { FailureInfo, ProviderName } from '../../core/failure.js';
import type {
  DiagnosisReads,
  ExpiredLeases,
  FailureGroup,
  HistoryQuery,
  HistoryRepo,
  HistoryRow,
  StoredAttachment,
  TemplateFields,
  TemplateRow,
  TemplatesRepo,
  UserFields,
  UserRow,
  UsersRepo,
} from '../ports.js';
import { PURGE_BATCH, SYSTEM_ORG } from '../rules.js';
import { DB_NOW_MS, type PgDatabase } from './db.js';
import { attachmentPathsOf, hasRecipient, type PgMessageRow } from './rows.js';
import { templateFromColumns, type TemplateColumns } from '../columns.js';

type HistoryDbRow = Pick<
  PgMessageRow,
  | 'id'
  | 'status'
  | 'provider'
  | 'sent_provider'
  | 'from_addr'
  | 'to_addrs'
  | 'subject'
  | 'attempts'
  | 'created_at'
  | 'sent_at'
  | 'due_at'
  | 'last_error'
  | 'diagnosis'
  | 'deferral_reason'
>;

export class PgHistoryRepo implements HistoryRepo {
  constructor(private readonly db: PgDatabase) {}

  async list(q: HistoryQuery): Promise<HistoryRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const status = q.failed ? 'failed' : q.status;
    if (status) {
      args.push(status);
      where.push(`status = $${args.length}`);
    }
    if (q.since !== undefined) {
      args.push(q.since);
      where.push(`created_at >= $${args.length}`);
    }
    if (q.to) {
      args.push(q.to.toLowerCase());
      where.push(hasRecipient(`$${args.length}::text`));
    }
    let limit = '';
    if (q.limit > 0) {
      args.push(q.limit);
      limit = `LIMIT $${args.length}`;
    }
    const rows = await this.db.query<HistoryDbRow>(
      `SELECT id, status, provider, sent_provider, from_addr, to_addrs, subject, attempts, created_at, sent_at, due_at, last_error, diagnosis, deferral_reason
       FROM messages ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id DESC ${limit}`,
      args,
    );
    return rows.map((r) => ({
      id: r.id,
      status: r.status,
      provider: r.sent_provider ?? r.provider,
      from: r.from_addr,
      to: r.to_addrs,
      subject: r.subject,
      attempts: r.attempts,
      createdAt: r.created_at,
      sentAt: r.sent_at,
      dueAt: r.due_at,
      lastError: r.last_error,
      diagnosis: r.diagnosis,
      deferralReason: r.deferral_reason,
    }));
  }

  async purgeable(cutoff: number): Promise<number[]> {
    return (
      await this.db.query<{ id: number }>("SELECT id FROM messages WHERE status IN ('sent','failed') AND created_at < $1 ORDER BY id", [
        cutoff,
      ])
    ).map((r) => r.id);
  }

  /** One short transaction per batch; rows another host holds locked are left for the next pass. */
  async purgeBatch(cutoff: number, batch = PURGE_BATCH): Promise<{ deleted: number; attachmentPaths: string[] }> {
    const rows = await this.db.query<{ attachments: StoredAttachment[] }>(
      `DELETE FROM messages WHERE id IN (
         SELECT id FROM messages WHERE status IN ('sent','failed') AND created_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING attachments`,
      [cutoff, batch],
    );
    return { deleted: rows.length, attachmentPaths: rows.flatMap((r) => attachmentPathsOf(r.attachments)) };
  }
}

export class PgTemplatesRepo implements TemplatesRepo {
  constructor(private readonly db: PgDatabase) {}

  async get(id: string, org: string = SYSTEM_ORG): Promise<TemplateRow | undefined> {
    const [r] = await this.db.query<TemplateColumns>('SELECT * FROM templates WHERE id = $1 AND org = $2', [id, org]);
    return r ? templateFromColumns(r) : undefined;
  }

  async resolve(id: string, org: string = SYSTEM_ORG): Promise<TemplateRow | undefined> {
    const [r] = await this.db.query<TemplateColumns>(
      "SELECT * FROM templates WHERE id = $1 AND org IN ($2, '') ORDER BY org = '' LIMIT 1",
      [id, org],
    );
    return r ? templateFromColumns(r) : undefined;
  }

  async list(org?: string): Promise<TemplateRow[]> {
    // COLLATE "C": the same order as SQLite's byte order, whatever the database's locale
    const rows =
      org === undefined
        ? await this.db.query<TemplateColumns>('SELECT * FROM templates ORDER BY org COLLATE "C", id COLLATE "C"')
        : await this.db.query<TemplateColumns>('SELECT * FROM templates WHERE org = $1 ORDER BY id COLLATE "C"', [org]);
    return rows.map(templateFromColumns);
  }

  async put(id: string, org: string, fields: TemplateFields, now: number): Promise<TemplateRow> {
    const [r] = await this.db.query<TemplateColumns>(
      `INSERT INTO templates (id, org, subject, html_body, text_body, sender, description, bulk, unsubscribe_url, unsubscribe_mailto,
         created_at, updated_at, priority)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $8, $8, $12)
       ON CONFLICT (id, org) DO UPDATE SET subject = excluded.subject, html_body = excluded.html_body, text_body = excluded.text_body,
         sender = excluded.sender, description = excluded.description, bulk = excluded.bulk, unsubscribe_url = excluded.unsubscribe_url,
         unsubscribe_mailto = excluded.unsubscribe_mailto, updated_at = excluded.updated_at, priority = excluded.priority
       RETURNING *`,
      [
        id,
        org,
        fields.subject,
        fields.html ?? null,
        fields.text ?? null,
        fields.sender ?? null,
        fields.description ?? null,
        now,
        !!fields.bulk,
        fields.unsubscribeUrl ?? null,
        fields.unsubscribeMailto ?? null,
        fields.priority ?? null,
      ],
    );
    return templateFromColumns(r);
  }

  async remove(id: string, org: string = SYSTEM_ORG): Promise<boolean> {
    return (await this.db.query<{ id: string }>('DELETE FROM templates WHERE id = $1 AND org = $2 RETURNING id', [id, org])).length === 1;
  }
}

interface PgUserRow {
  id: string;
  email: string;
  sender_email: string | null;
  provider: string | null;
  notify_email: boolean;
  name: string | null;
  created_at: number;
  updated_at: number;
}

const toUserRow = (r: PgUserRow): UserRow => ({
  id: r.id,
  email: r.email,
  senderEmail: r.sender_email,
  provider: r.provider as ProviderName | null,
  notifyEmail: r.notify_email,
  name: r.name,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class PgUsersRepo implements UsersRepo {
  constructor(private readonly db: PgDatabase) {}

  async get(id: string): Promise<UserRow | undefined> {
    const [r] = await this.db.query<PgUserRow>('SELECT * FROM users WHERE id = $1', [id]);
    return r ? toUserRow(r) : undefined;
  }

  async list(): Promise<UserRow[]> {
    return (await this.db.query<PgUserRow>('SELECT * FROM users ORDER BY id COLLATE "C"')).map(toUserRow);
  }

  async put(id: string, fields: UserFields, now: number): Promise<UserRow> {
    const [r] = await this.db.query<PgUserRow>(
      `INSERT INTO users (id, email, sender_email, provider, notify_email, name, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (id) DO UPDATE SET email = excluded.email, sender_email = excluded.sender_email, provider = excluded.provider,
         notify_email = excluded.notify_email, name = excluded.name, updated_at = excluded.updated_at
       RETURNING *`,
      [id, fields.email, fields.senderEmail ?? null, fields.provider ?? null, fields.notifyEmail !== false, fields.name ?? null, now],
    );
    return toUserRow(r);
  }

  async remove(id: string): Promise<boolean> {
    return (await this.db.query<{ id: string }>('DELETE FROM users WHERE id = $1 RETURNING id', [id])).length === 1;
  }
}

export class PgDiagnosisReads implements DiagnosisReads {
  constructor(private readonly db: PgDatabase) {}

  async expiredLeases(): Promise<ExpiredLeases> {
    const [r] = await this.db.query<{ n: number; oldest: number | null; owners: string[] | null }>(
      `SELECT count(*) AS n, min(lease_expires_at) AS oldest, array_agg(DISTINCT lease_owner) FILTER (WHERE lease_owner IS NOT NULL) AS owners
       FROM messages WHERE status = 'sending' AND lease_expires_at < ${DB_NOW_MS}`,
    );
    return { count: r.n, oldestExpiredAt: r.oldest, owners: r.owners ?? [] };
  }

  async failuresSince(since: number): Promise<FailureGroup[]> {
    const rows = await this.db.query<{
      diagnosis: string | null;
      n: number;
      messages: number;
      last_at: number;
      last_failure: FailureInfo | null;
    }>(
      `SELECT diagnosis, count(*) AS n, count(DISTINCT message_id) AS messages, max(started_at) AS last_at,
         (SELECT a2.failure FROM attempts a2
            WHERE a2.diagnosis IS NOT DISTINCT FROM a.diagnosis AND a2.failure IS NOT NULL AND a2.started_at >= $1
              AND a2.outcome IN ('failed', 'deferred')
            ORDER BY a2.started_at DESC, a2.id DESC LIMIT 1) AS last_failure
       FROM attempts a
       WHERE started_at >= $1 AND failure IS NOT NULL AND outcome IN ('failed', 'deferred')
       GROUP BY diagnosis
       ORDER BY n DESC, last_at DESC`,
      [since],
    );
    return rows.map((r) => ({ diagnosis: r.diagnosis, count: r.n, messages: r.messages, lastAt: r.last_at, lastFailure: r.last_failure }));
  }
}
