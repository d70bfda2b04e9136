import type { Selectable } from 'kysely';
import { iso } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { MonitorEventsTable } from '../storage/types.ts';
import type { MonitorFilter } from './types.ts';

export type MonitorRow = Selectable<MonitorEventsTable>;

export function monitorView(r: MonitorRow) {
  return {
    id: Number(r.id),
    created_at: iso(r.created_at)!,
    level: r.level,
    kind: r.kind,
    operation: r.operation,
    method: r.method,
    path: r.path,
    status: r.status == null ? null : Number(r.status),
    duration_ms: r.duration_ms == null ? null : Number(r.duration_ms),
    request_id: r.request_id,
    app: r.app,
    build: r.build,
    customer_id: r.customer_id,
    api_key_id: r.api_key_id,
    provider: r.provider,
    model: r.model,
    upstream_status: r.upstream_status == null ? null : Number(r.upstream_status),
    error_code: r.error_code,
    error_message: r.error_message,
    body_preview: r.body_preview,
    ip: r.ip,
    user_agent: r.user_agent,
    node_id: r.node_id,
    extra: r.extra ? (JSON.parse(r.extra) as Record<string, unknown>) : {},
  };
}
export type MonitorEventView = ReturnType<typeof monitorView>;

/** Reads over monitor_events: ascending by id, so `after_id` paging and live tails share one query. */
export class MonitorStore {
  constructor(private readonly db: Db) {}

  async list(f: MonitorFilter, limit: number): Promise<{ events: MonitorEventView[]; next_after_id: number; has_more: boolean }> {
    let q = this.db.selectFrom('monitor_events').selectAll().orderBy('id', 'asc').limit(limit + 1);
    if (f.afterId !== undefined) q = q.where('id', '>', f.afterId);
    if (f.level) q = q.where('level', '=', f.level);
    if (f.kind) q = q.where('kind', '=', f.kind);
    if (f.operation) q = q.where('operation', '=', f.operation);
    if (f.app) q = q.where('app', '=', f.app);
    if (f.requestId) q = q.where('request_id', '=', f.requestId);
    if (f.customerId) q = q.where('customer_id', '=', f.customerId);
    if (f.since !== undefined) q = q.where('created_at', '>=', f.since);
    const rows = await q.execute();
    const page = rows.slice(0, limit).map(monitorView);
    const last = page[page.length - 1];
    return { events: page, next_after_id: last ? last.id : (f.afterId ?? 0), has_more: rows.length > limit };
  }

  /** Highest id written so far (a live tail without after_id starts here). */
  async maxId(): Promise<number> {
    const r = await this.db
      .selectFrom('monitor_events')
      .select((eb) => eb.fn.max('id').as('m'))
      .executeTakeFirst();
    return Number(r?.m ?? 0);
  }
}
