import type { TemplateFields, TemplateRow, TemplatesRepo } from '../ports.js';
import { SYSTEM_ORG } from '../rules.js';
import type { SqliteDatabase } from '../db.js';

interface TemplateDbRow {
  id: string;
  org: string;
  subject: string;
  html_body: string | null;
  text_body: string | null;
  sender: string | null;
  description: string | null;
  created_at: number;
  updated_at: number;
}

function toTemplateRow(r: TemplateDbRow): TemplateRow {
  return {
    id: r.id,
    org: r.org,
    subject: r.subject,
    html: r.html_body,
    text: r.text_body,
    sender: r.sender,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class SqliteTemplatesRepo implements TemplatesRepo {
  constructor(private readonly db: SqliteDatabase) {}

  /** Exactly the template of this scope (no fallback to the system one). */
  async get(id: string, org: string = SYSTEM_ORG): Promise<TemplateRow | undefined> {
    const r = this.db.prepare('SELECT * FROM templates WHERE id = ? AND org = ?').get(id, org) as TemplateDbRow | undefined;
    return r ? toTemplateRow(r) : undefined;
  }

  /**
   * The template an organisation uses: its own if it has one, else the system one.
   * With the system org this is just the system template.
   */
  async resolve(id: string, org: string = SYSTEM_ORG): Promise<TemplateRow | undefined> {
    const r = this.db.prepare("SELECT * FROM templates WHERE id = ? AND org IN (?, '') ORDER BY org = '' LIMIT 1").get(id, org) as
      TemplateDbRow | undefined;
    return r ? toTemplateRow(r) : undefined;
  }

  /** Every template when org is undefined; otherwise the templates of that one scope. */
  async list(org?: string): Promise<TemplateRow[]> {
    const rows =
      org === undefined
        ? (this.db.prepare('SELECT * FROM templates ORDER BY org, id').all() as TemplateDbRow[])
        : (this.db.prepare('SELECT * FROM templates WHERE org = ? ORDER BY id').all(org) as TemplateDbRow[]);
    return rows.map(toTemplateRow);
  }

  /** Inserts or replaces a template of one scope, keeping its creation time. */
  async put(id: string, org: string, fields: TemplateFields, now: number): Promise<TemplateRow> {
    this.db
      .prepare(
        `INSERT INTO templates (id, org, subject, html_body, text_body, sender, description, created_at, updated_at)
         VALUES (@id, @org, @subject, @html, @text, @sender, @description, @now, @now)
         ON CONFLICT (id, org) DO UPDATE SET subject = excluded.subject, html_body = excluded.html_body,
           text_body = excluded.text_body, sender = excluded.sender, description = excluded.description,
           updated_at = excluded.updated_at`,
      )
      .run({
        id,
        org,
        subject: fields.subject,
        html: fields.html ?? null,
        text: fields.text ?? null,
        sender: fields.sender ?? null,
        description: fields.description ?? null,
        now,
      });
    return (await this.get(id, org))!;
  }

  async remove(id: string, org: string = SYSTEM_ORG): Promise<boolean> {
    return this.db.prepare('DELETE FROM templates WHERE id = ? AND org = ?').run(id, org).changes === 1;
  }
}
