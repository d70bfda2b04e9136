import type pg from 'pg';
import type { Db } from '../../storage/db.ts';
import type { RateLimitBackend } from './types.ts';
import type { WindowCounts, WindowSpec } from './window.ts';

/**
 * Counters in PostgreSQL shared by every node: one call of kaixu_rate_hit (migration 003) per
 * request, which locks the window rows, decides and counts in one statement.
 */
export class PostgresRateBackend implements RateLimitBackend {
  readonly name = 'postgres' as const;

  constructor(
    private readonly pool: pg.Pool,
    private readonly db: Db,
  ) {}

  async hit(windows: WindowSpec[]): Promise<{ allowed: boolean; counts: WindowCounts[] }> {
    const res = await this.pool.query<{ o_allowed: boolean; o_prev: (string | number)[]; o_cur: (string | number)[] }>({
      name: 'kaixu_rate_hit',
      text: 'select o_allowed, o_prev, o_cur from kaixu_rate_hit($1, $2, $3, $4, $5, $6, $7)',
      values: windowArgs(windows),
    });
    const row = res.rows[0]!;
    return { allowed: row.o_allowed, counts: windows.map((_, i) => ({ prev: Number(row.o_prev[i]), cur: Number(row.o_cur[i]) })) };
  }

  async prune(now: number): Promise<number> {
    const r = await this.db.deleteFrom('rate_limit_windows').where('expires_at', '<', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/** kaixu_rate_hit's seven window arguments, one array each (also the tail of kaixu_admit's). */
export function windowArgs(windows: WindowSpec[]): unknown[][] {
  return [
    windows.map((w) => w.bucket),
    windows.map((w) => w.start),
    windows.map((w) => w.prevStart),
    windows.map((w) => w.wnum),
    windows.map((w) => w.wden),
    windows.map((w) => w.limit),
    windows.map((w) => w.expiresAt),
  ];
}
