/**
 * The operator's hold / release / retry / delete. Listed ids are all checked first and changed
 * together, or none is. A filter is evaluated inside the same write transaction as the change, so what
 * is changed is exactly what matched at that moment. Messages being sent are refused, never changed.
 */
import type { MessageStatus } from '../../core/status.js';
import type { BulkResult, MessageFilter, OperatorAction, OperatorChange, OperatorSelection } from '../ports.js';
import { OPERATOR_RULES } from '../rules.js';
import type { SqliteDatabase } from '../db.js';
import { HAS_RECIPIENT_SQL, attachmentPathsOf } from './rows.js';

export class Operator {
  constructor(private readonly db: SqliteDatabase) {}

  /**
   * Holds, releases, retries or deletes the selected messages in one transaction; with `dryRun` only
   * reports what would change.
   */
  change(action: OperatorAction, selection: OperatorSelection, o: { now: number; dryRun?: boolean }): OperatorChange {
    const rule = OPERATOR_RULES[action];
    const run = this.db.transaction((): OperatorChange => {
      const missing: number[] = [];
      const refused: BulkResult['refused'] = [];
      const chosen: number[] = [];
      if ('ids' in selection) {
        const get = this.db.prepare('SELECT status FROM messages WHERE id = ?').pluck();
        for (const id of selection.ids) {
          const status = get.get(id) as MessageStatus | undefined;
          if (status === undefined) missing.push(id);
          else if (!rule.accepts.includes(status)) refused.push({ id, status });
          else chosen.push(id);
        }
        if (missing.length > 0 || refused.length > 0) return { changed: [], missing, refused, attachmentPaths: [] };
      } else {
        for (const r of this.select(rule.targets, selection.filter)) {
          if (r.status === 'sending') refused.push({ id: r.id, status: r.status });
          else chosen.push(r.id);
        }
      }
      const attachmentPaths = o.dryRun ? [] : this.apply(action, chosen, o.now);
      return { changed: chosen, missing, refused, attachmentPaths };
    });
    // a dry run only reads: it need not wait for, nor block, a distributor's writes
    return o.dryRun ? run.deferred() : run.immediate();
  }

  /** Messages matching the filter among `targets` and those being sent, in id order. */
  private select(targets: readonly MessageStatus[], f: MessageFilter): { id: number; status: MessageStatus }[] {
    const statuses = f.status ? [f.status] : [...targets, 'sending'];
    const args: Record<string, unknown> = Object.fromEntries(statuses.map((st, i) => [`s${i}`, st]));
    const where = [`status IN (${statuses.map((_, i) => `@s${i}`).join(', ')})`];
    if (f.createdBefore !== undefined) {
      where.push('created_at < @before');
      args.before = f.createdBefore;
    }
    if (f.recipient !== undefined) {
      where.push(HAS_RECIPIENT_SQL);
      args.to = f.recipient.toLowerCase();
    }
    return this.db.prepare(`SELECT id, status FROM messages WHERE ${where.join(' AND ')} ORDER BY id`).all(args) as {
      id: number;
      status: MessageStatus;
    }[];
  }

  /** Changes the chosen messages; for a delete, returns their attachments' paths (their spooled copies go too). */
  private apply(action: OperatorAction, ids: readonly number[], now: number): string[] {
    const attachmentPaths: string[] = [];
    switch (action) {
      case 'hold': {
        const stmt = this.db.prepare("UPDATE messages SET status = 'held', updated_at = ? WHERE id = ?");
        for (const id of ids) stmt.run(now, id);
        break;
      }
      case 'release': {
        const stmt = this.db.prepare("UPDATE messages SET status = 'pending', due_at = min(due_at, ?), updated_at = ? WHERE id = ?");
        for (const id of ids) stmt.run(now, now, id);
        break;
      }
      case 'retry': {
        // a fresh start: due now, attempts, deferrals and lifetime reset; the last error stays for reference
        const stmt = this.db.prepare(
          `UPDATE messages SET status = 'pending', due_at = ?, updated_at = ?, attempts = 0, deferrals = 0, forced = 0,
             first_attempt_at = NULL, deferral_reason = NULL WHERE id = ?`,
        );
        for (const id of ids) stmt.run(now, now, id);
        break;
      }
      case 'delete': {
        const stmt = this.db.prepare('DELETE FROM messages WHERE id = ? RETURNING attachments').pluck();
        for (const id of ids) {
          const att = stmt.get(id) as string | undefined;
          if (att && att !== '[]') attachmentPaths.push(...attachmentPathsOf(att));
        }
        break;
      }
    }
    return attachmentPaths;
  }
}
