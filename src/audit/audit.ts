import type { Kysely } from 'kysely';
import type { Clock } from '../lib/clock.ts';
import { iso } from '../lib/clock.ts';
import type { Database } from '../storage/types.ts';
import type { Db } from '../storage/db.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  customerId?: string | null;
  summary?: string | null;
  ip?: string | null;
  meta?: Record<string, unknown>;
}

export interface AuditQuery {
  action?: string;
  actor?: string;
  target?: string;
  customerId?: string;
  since?: number;
  until?: number;
  beforeId?: number;
  limit: number;
}

/** Audit trail of admin and system mutations. Writes can join the caller's transaction. */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async record(entry: AuditEntry, trx: Kysely<Database> = this.db): Promise<void> {
    await trx
      .insertInto('audit_events')
      .values({
        created_at: this.clock.now(),
        actor: entry.actor,
        action: entry.action,
        target: entry.target ?? null,
        customer_id: entry.customerId ?? null,
        summary: entry.summary ?? null,
        ip: entry.ip ?? null,
        meta: entry.meta ? JSON.stringify(entry.meta) : null,
      })
      .execute();
  }

  async list(q: AuditQuery) {
    let query = this.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
    if (q.action) query = query.where('action', '=', q.action);
    if (q.actor) query = query.where('actor', '=', q.actor);
    if (q.target) query = query.where('target', '=', q.target);
    if (q.customerId) query = query.where('customer_id', '=', q.customerId);
    if (q.since !== undefined) query = query.where('created_at', '>=', q.since);
    if (q.until !== undefined) query = query.where('created_at', '<', q.until);
    if (q.beforeId !== undefined) query = query.where('id', '<', q.beforeId);
    const rows = await query.execute();
    const page = rows.slice(0, q.limit);
    return {
      events: page.map((r) => ({
        id: Number(r.id),
        created_at: iso(r.created_at),
        actor: r.actor,
        action: r.action,
        target: r.target,
        customer_id: r.customer_id,
        summary: r.summary,
        ip: r.ip,
        meta: r.meta ? (JSON.parse(r.meta) as Record<string, unknown>) : {},
      })),
      next_before_id: rows.length > q.limit ? Number(page[page.length - 1]!.id) : null,
    };
  }
}
