import type { TemplateFields, TemplateRow, TemplatesRepo } from '../ports.js';
import { SYSTEM_ORG } from '../rules.js';
import type { SqliteDatabase } from '../db.js';
import { templateFromColumns, type TemplateColumns } from '../columns.js';

export class SqliteTemplatesRepo implements TemplatesRepo {
  constructor(private readonly db: SqliteDatabase) {}

  /** Exactly the template of this scope (no fallback to the system one). */
  async get(id: string, org: string = SYSTEM_ORG): Promise<TemplateRow | undefined> {
    const r = this.db.prepare('SELECT * FROM templates WHERE id = ? AND org = ?').get(id, org) as TemplateColumns | undefined;
    return r ? templateFromColumns(r) : undefined;
  }

  /**
   * The template an organisation uses: its own if it has one, else the system one.
   * With the system org this is just the system template.
   */
  async resolve(id: string, org: string = SYSTEM_ORG): Promise<TemplateRow | undefined> {
    const r = this.db.prepare("SELECT * FROM templates WHERE id = ? AND org IN (?, '') ORDER BY org = '' LIMIT 1").get(id, org) as
      TemplateColumns | undefined;
    return r ? templateFromColumns(r) : undefined;
  }

  /** Every template when org is undefined; otherwise the templates of that one scope. */
  async list(org?: string): Promise<TemplateRow[]> {
    const rows =
      org === undefined
        ? (this.db.prepare('SELECT * FROM templates ORDER BY org, id').all() as TemplateColumns[])
        : (this.db.prepare('SELECT * FROM templates WHERE org = ? ORDER BY id').all(org) as TemplateColumns[]);
    return rows.map(templateFromColumns);
  }

  /** Inserts or replaces a template of one scope, keeping its creation time. */
  async put(id: string, org: string, fields: TemplateFields, now: number): Promise<TemplateRow> {
    this.db
      .prepare(
        `INSERT INTO templates (id, org, subject, html_body, text_body, sender, description, bulk, unsubscribe_url,
           unsubscribe_mailto, priority, created_at, updated_at)
         VALUES (@id, @org, @subject, @html, @text, @sender, @description, @bulk, @unsubscribeUrl, @unsubscribeMailto, @priority, @now, @now)
         ON CONFLICT (id, org) DO UPDATE SET subject = excluded.subject, html_body = excluded.html_body,
           text_body = excluded.text_body, sender = excluded.sender, description = excluded.description,
           bulk = excluded.bulk, unsubscribe_url = excluded.unsubscribe_url, unsubscribe_mailto = excluded.unsubscribe_mailto,
           priority = excluded.priority, updated_at = excluded.updated_at`,
      )
      .run({
        id,
        org,
        subject: fields.subject,
        html: fields.html ?? null,
        text: fields.text ?? null,
        sender: fields.sender ?? null,
        description: fields.description ?? null,
        bulk: fields.bulk ? 1 : 0,
        unsubscribeUrl: fields.unsubscribeUrl ?? null,
        unsubscribeMailto: fields.unsubscribeMailto ?? null,
        priority: fields.priority ?? null,
        now,
      });
    return (await this.get(id, org))!;
  }

  async remove(id: string, org: string = SYSTEM_ORG): Promise<boolean> {
    return this.db.prepare('DELETE FROM templates WHERE id = ? AND org = ?').run(id, org).changes === 1;
  }
}
