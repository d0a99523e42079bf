/**
 * Storing and reading messages and their attempts. Status changes of a message being sent go through
 * ./transitions.ts only; claiming through ./claims.ts.
 */
import type { AttemptRow, MessageRow, NewMessage } from '../ports.js';
import type { SqliteDatabase } from '../db.js';
import { BODY_APART_CHARS, fillBodies, toAttemptRow, toMessageRow, type AttemptDbRow, type MessageDbRow } from './rows.js';

export class SqliteMessages {
  private readonly insertStmt;
  private readonly insertBodyStmt;

  constructor(private readonly db: SqliteDatabase) {
    // positional parameters: binding 25 named ones from an object cost a quarter of an import
    this.insertStmt = db.prepare(`
      INSERT INTO messages (status, provider, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject,
        text_body, html_body, attachments, headers, message_id, user_id, template_id, org, size_bytes,
        created_at, due_at, updated_at, lease_owner, lease_expires_at, attempts, first_attempt_at, body_apart)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertBodyStmt = db.prepare('INSERT INTO message_bodies (message_id, text_body, html_body) VALUES (?, ?, ?)');
  }

  /** Inserts one message (and its body apart when it is long); call inside a transaction. */
  private insertOne(m: NewMessage, now: number): number {
    const text = m.text ?? null;
    const html = m.html ?? null;
    const apart = (text?.length ?? 0) + (html?.length ?? 0) > BODY_APART_CHARS;
    // a message sent right away is claimed at insertion: that claim is its first attempt
    const sending = m.status === 'sending';
    const id = Number(
      this.insertStmt.run(
        m.status,
        m.provider,
        m.from,
        JSON.stringify(m.to),
        JSON.stringify(m.cc),
        JSON.stringify(m.bcc),
        m.replyTo ?? null,
        m.subject,
        apart ? null : text,
        apart ? null : html,
        JSON.stringify(m.attachments),
        m.headers ? JSON.stringify(m.headers) : null,
        m.messageId ?? null,
        m.userId ?? null,
        m.templateId ?? null,
        m.org ?? null,
        m.sizeBytes ?? null,
        now,
        m.dueAt ?? now,
        now,
        m.leaseOwner ?? null,
        m.leaseExpiresAt ?? null,
        sending ? 1 : 0,
        sending ? now : null,
        apart ? 1 : 0,
      ).lastInsertRowid,
    );
    if (apart) this.insertBodyStmt.run(id, text, html);
    return id;
  }

  insert(m: NewMessage, now: number): number {
    return this.db.transaction(() => this.insertOne(m, now)).immediate();
  }

  /** Stores many messages in one transaction: all or none. */
  insertMany(messages: readonly NewMessage[], now: number): number[] {
    const ids: number[] = [];
    this.db
      .transaction(() => {
        for (const m of messages) ids.push(this.insertOne(m, now));
      })
      .immediate();
    return ids;
  }

  get(id: number): MessageRow | undefined {
    const r = this.db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as MessageDbRow | undefined;
    return r ? toMessageRow(fillBodies(this.db, [r])[0]) : undefined;
  }

  attempts(messageId: number): AttemptRow[] {
    return (this.db.prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY id').all(messageId) as AttemptDbRow[]).map(toAttemptRow);
  }
}
