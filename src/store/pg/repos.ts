/** Parameters, distributor runs and the operator's actions on PostgreSQL. */
import { runFromColumns, type RunColumns } from '../columns.js';
import type { ParamValue } from '../../core/params.js';
import type { MessageStatus } from '../../core/status.js';
import type {
  BulkResult,
  MessageFilter,
  NewRun,
  OperatorAction,
  OperatorChange,
  OperatorRepo,
  OperatorSelection,
  ParamsRepo,
  RunRow,
  RunsRepo,
} from '../ports.js';
import { OPERATOR_RULES } from '../rules.js';
import { DB_NOW_MS, type PgDatabase } from './db.js';
import { attachmentPathsOf, hasRecipient } from './rows.js';
import type { StoredAttachment } from '../ports.js';

type Tx = Parameters<Parameters<PgDatabase['tx']>[0]>[0];

export class PgParamsRepo implements ParamsRepo {
  constructor(private readonly db: PgDatabase) {}

  async all(): Promise<Map<string, ParamValue>> {
    const rows = await this.db.query<{ key: string; value: ParamValue }>('SELECT key, value FROM params');
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  async apply(set: readonly { key: string; value: ParamValue }[], unset: readonly string[] = []): Promise<void> {
    const now = Date.now();
    await this.db.tx(async (c) => {
      if (unset.length > 0) await c.query('DELETE FROM params WHERE key = ANY($1::text[])', [unset]);
      for (const { key, value } of set) {
        await c.query(
          'INSERT INTO params (key, value, updated_at) VALUES ($1, $2::jsonb, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
          [key, JSON.stringify(value), now],
        );
      }
    });
  }
}

export class PgRunsRepo implements RunsRepo {
  constructor(private readonly db: PgDatabase) {}

  async startRun(r: NewRun): Promise<number> {
    const [row] = await this.db.query<{ id: number }>(
      `INSERT INTO distributor_runs (owner, host, pid, started_at, heartbeat_at, lease_ms, interval_ms) VALUES ($1, $2, $3, $4, ${DB_NOW_MS}, $5, $6) RETURNING id`,
      [r.owner, r.host, r.pid, r.now, r.leaseMs ?? null, r.intervalMs ?? null],
    );
    return row.id;
  }

  async finishRun(runId: number, now: number, error?: { code: string; message: string }): Promise<void> {
    await this.db.query('UPDATE distributor_runs SET ended_at = $1, error_code = $2, error_message = $3 WHERE id = $4', [
      now,
      error?.code ?? null,
      error?.message ?? null,
      runId,
    ]);
  }

  async lastRunPerHost(limit = 50): Promise<RunRow[]> {
    const rows = await this.db.query<RunColumns>(
      `SELECT * FROM (SELECT DISTINCT ON (host) * FROM distributor_runs ORDER BY host, started_at DESC, id DESC) AS latest
       ORDER BY started_at DESC, id DESC LIMIT $1`,
      [limit],
    );
    return rows.map(runFromColumns);
  }

  async lastRun(): Promise<RunRow | null> {
    const [r] = await this.db.query<RunColumns>('SELECT * FROM distributor_runs ORDER BY started_at DESC, id DESC LIMIT 1');
    return r ? runFromColumns(r) : null;
  }
}

/**
 * Hold / release / retry / delete. The selected rows are locked (FOR UPDATE) in the transaction that
 * changes them, so a distributor cannot claim one between the check and the change; listed ids are
 * all checked first and changed together, or none is.
 */
export class PgOperatorRepo implements OperatorRepo {
  constructor(private readonly db: PgDatabase) {}

  async change(action: OperatorAction, selection: OperatorSelection, o: { now: number; dryRun?: boolean }): Promise<OperatorChange> {
    const rule = OPERATOR_RULES[action];
    return this.db.tx(async (c): Promise<OperatorChange> => {
      const missing: number[] = [];
      const refused: BulkResult['refused'] = [];
      const chosen: number[] = [];
      const lock = o.dryRun ? '' : 'FOR UPDATE';
      if ('ids' in selection) {
        const rows = (
          await c.query<{ id: number; status: MessageStatus }>(`SELECT id, status FROM messages WHERE id = ANY($1::bigint[]) ${lock}`, [
            selection.ids,
          ])
        ).rows;
        const byId = new Map(rows.map((r) => [r.id, r.status]));
        for (const id of selection.ids) {
          const status = byId.get(id);
          if (status === undefined) missing.push(id);
          else if (!rule.accepts.includes(status)) refused.push({ id, status });
          else chosen.push(id);
        }
        if (missing.length > 0 || refused.length > 0) return { changed: [], missing, refused, attachmentPaths: [] };
      } else {
        for (const r of await this.select(c, rule.targets, selection.filter, lock)) {
          if (r.status === 'sending') refused.push({ id: r.id, status: r.status });
          else chosen.push(r.id);
        }
      }
      const attachmentPaths = o.dryRun ? [] : await this.apply(c, action, chosen, o.now);
      return { changed: chosen, missing, refused, attachmentPaths };
    });
  }

  private async select(
    c: Tx,
    targets: readonly MessageStatus[],
    f: MessageFilter,
    lock: string,
  ): Promise<{ id: number; status: MessageStatus }[]> {
    const statuses = f.status ? [f.status] : [...targets, 'sending'];
    const args: unknown[] = [statuses];
    const where = ['status = ANY($1::text[])'];
    if (f.createdBefore !== undefined) {
      args.push(f.createdBefore);
      where.push(`created_at < $${args.length}`);
    }
    if (f.recipient !== undefined) {
      args.push(f.recipient.toLowerCase());
      where.push(hasRecipient(`$${args.length}::text`));
    }
    return (
      await c.query<{ id: number; status: MessageStatus }>(
        `SELECT id, status FROM messages WHERE ${where.join(' AND ')} ORDER BY id ${lock}`,
        args,
      )
    ).rows;
  }

  private async apply(c: Tx, action: OperatorAction, ids: readonly number[], now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    switch (action) {
      case 'hold':
        await c.query("UPDATE messages SET status = 'held', updated_at = $1 WHERE id = ANY($2::bigint[])", [now, ids]);
        return [];
      case 'release':
        await c.query("UPDATE messages SET status = 'pending', due_at = least(due_at, $1), updated_at = $1 WHERE id = ANY($2::bigint[])", [
          now,
          ids,
        ]);
        return [];
      case 'retry':
        await c.query(
          `UPDATE messages SET status = 'pending', due_at = $1, updated_at = $1, attempts = 0, deferrals = 0, forced = false,
             first_attempt_at = NULL, deferral_reason = NULL WHERE id = ANY($2::bigint[])`,
          [now, ids],
        );
        return [];
      case 'delete': {
        const rows = (
          await c.query<{ attachments: StoredAttachment[] }>('DELETE FROM messages WHERE id = ANY($1::bigint[]) RETURNING attachments', [
            ids,
          ])
        ).rows;
        return rows.flatMap((r) => attachmentPathsOf(r.attachments));
      }
    }
  }
}
