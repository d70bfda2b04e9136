import type { SelectQueryBuilder } from 'kysely';
import { iso } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { Database } from '../storage/types.ts';

export const TIMELINE_SOURCES = ['audit', 'monitor', 'job'] as const;
export type TimelineSource = (typeof TIMELINE_SOURCES)[number];

/** Tie-break order between sources that share a millisecond (higher first). */
const RANK: Record<TimelineSource, number> = { audit: 2, monitor: 1, job: 0 };

export interface TimelineQuery {
  sources: TimelineSource[];
  since?: number;
  until?: number;
  customerId?: string;
  limit: number;
  /** Opaque cursor from a previous page (`next_cursor`). */
  cursor?: string;
}

export interface TimelineItem {
  id: string;
  time: string;
  source: TimelineSource;
  actor: string;
  action: string;
  target: string | null;
  status: string;
  summary: string | null;
  customer_id: string | null;
}

interface Keyed {
  t: number;
  rank: number;
  id: number;
  item: TimelineItem;
}

export const CURSOR_RE = /^\d{1,15}\.[0-2]\.\d{1,15}$/;

interface Cursor {
  t: number;
  rank: number;
  id: number;
}

function parseCursor(c: string): Cursor {
  const [t, rank, id] = c.split('.').map(Number) as [number, number, number];
  return { t, rank, id };
}

/**
 * The filters every source shares (created_at, id, customer_id exist in all three tables):
 * the time window, the customer, and "strictly after the cursor" in (time desc, rank desc,
 * id desc) order. The source's rank is a constant, so the tuple comparison folds to a simple
 * condition. Typed against audit_events (a structural stand-in for the three tables).
 */
function common<QB>(qb: QB, q: TimelineQuery, rank: number, cursor: Cursor | undefined, n: number): QB {
  let s = qb as unknown as SelectQueryBuilder<Database, 'audit_events', object>;
  s = s.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(n);
  if (q.since !== undefined) s = s.where('created_at', '>=', q.since);
  if (q.until !== undefined) s = s.where('created_at', '<', q.until);
  if (q.customerId) s = s.where('customer_id', '=', q.customerId);
  if (cursor) {
    const c = cursor;
    if (rank < c.rank) s = s.where('created_at', '<=', c.t);
    else if (rank > c.rank) s = s.where('created_at', '<', c.t);
    else s = s.where((eb) => eb.or([eb('created_at', '<', c.t), eb.and([eb('created_at', '=', c.t), eb('id', '<', c.id)])]));
  }
  return s as unknown as QB;
}

/**
 * The platform timeline: audit events, monitor warnings/errors and job events merged newest
 * first. Each source is read with the same filters and at most `limit + 1` rows in time order
 * (indexed on created_at), then the sources are merged, so a page costs three bounded queries
 * and is exactly the newest `limit` items across them. Pages continue with `next_cursor`.
 */
export class Timeline {
  constructor(private readonly db: Db) {}

  async list(q: TimelineQuery): Promise<{ items: TimelineItem[]; next_cursor: string | null }> {
    const cursor = q.cursor ? parseCursor(q.cursor) : undefined;
    const n = q.limit + 1;
    const parts = await Promise.all(q.sources.map((s) => this.read(s, q, cursor, n)));
    const merged = parts.flat().sort((a, b) => b.t - a.t || b.rank - a.rank || b.id - a.id);
    const page = merged.slice(0, q.limit);
    const last = page[page.length - 1];
    return { items: page.map((k) => k.item), next_cursor: merged.length > q.limit && last ? `${last.t}.${last.rank}.${last.id}` : null };
  }

  private async read(source: TimelineSource, q: TimelineQuery, cursor: Cursor | undefined, n: number): Promise<Keyed[]> {
    const rank = RANK[source];
    const key = (t: number, id: number, item: Omit<TimelineItem, 'id' | 'time' | 'source'>): Keyed => ({
      t,
      rank,
      id,
      item: { id: `${source}:${id}`, time: iso(t)!, source, ...item },
    });
    if (source === 'audit') {
      const rows = await common(this.db.selectFrom('audit_events').selectAll(), q, rank, cursor, n).execute();
      return rows.map((r) =>
        key(Number(r.created_at), Number(r.id), { actor: r.actor, action: r.action, target: r.target, status: 'ok', summary: r.summary, customer_id: r.customer_id }),
      );
    }
    if (source === 'monitor') {
      const base = this.db.selectFrom('monitor_events').selectAll().where('level', 'in', ['warn', 'error']);
      const rows = await common(base, q, rank, cursor, n).execute();
      return rows.map((r) =>
        key(Number(r.created_at), Number(r.id), {
          actor: r.api_key_id ? `key:${r.api_key_id}` : (r.app ?? r.ip ?? 'anonymous'),
          action: r.kind === 'client_error' ? 'CLIENT_ERROR' : (r.operation ?? `${r.method ?? ''} ${r.path ?? ''}`.trim()),
          target: r.path,
          status: r.status != null ? String(r.status) : r.level,
          summary: [r.error_code, r.error_message].filter(Boolean).join(': ') || null,
          customer_id: r.customer_id,
        }),
      );
    }
    const rows = await common(this.db.selectFrom('job_events').selectAll(), q, rank, cursor, n).execute();
    return rows.map((r) =>
      key(Number(r.created_at), Number(r.id), {
        actor: r.node_id ? `node:${r.node_id}` : 'system',
        action: `JOB_${r.event.toUpperCase()}`,
        target: `job:${r.job_id}`,
        status: r.event,
        summary: `${r.kind} attempt ${r.attempt}${r.error ? `: ${r.error}` : ''}`,
        customer_id: r.customer_id,
      }),
    );
  }
}
