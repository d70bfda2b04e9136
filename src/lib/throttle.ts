import { sql } from 'kysely';
import type { Db } from '../storage/db.ts';
import type { Clock } from './clock.ts';

/**
 * Fixed-window counters in the database, shared by every node: login throttling,
 * self-service abuse guards. Not the data-plane rate limiter (see governance/).
 */
export class Throttle {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  private window(windowMs: number) {
    const now = this.clock.now();
    const start = Math.floor(now / windowMs) * windowMs;
    return { start, retryAfterS: Math.max(1, Math.ceil((start + windowMs - now) / 1000)) };
  }

  /** Current count in this window (without counting). */
  async count(scope: string, key: string, windowMs: number): Promise<{ count: number; retryAfterS: number }> {
    const w = this.window(windowMs);
    const row = await this.db
      .selectFrom('throttle_counters')
      .select('count')
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('window_start', '=', w.start)
      .executeTakeFirst();
    return { count: row ? Number(row.count) : 0, retryAfterS: w.retryAfterS };
  }

  /** Count one hit atomically and return the new count (and the window it landed in). */
  async hit(scope: string, key: string, windowMs: number): Promise<{ count: number; retryAfterS: number; windowStart: number }> {
    const w = this.window(windowMs);
    const row = await this.db
      .insertInto('throttle_counters')
      .values({ scope, key, window_start: w.start, count: 1 })
      .onConflict((oc) => oc.columns(['scope', 'key', 'window_start']).doUpdateSet({ count: sql`throttle_counters.count + 1` }))
      .returning('count')
      .executeTakeFirstOrThrow();
    return { count: Number(row.count), retryAfterS: w.retryAfterS, windowStart: w.start };
  }

  /** Take back one hit counted by `hit` (an attempt that turned out not to count, e.g. a successful login). */
  async undo(scope: string, key: string, windowStart: number): Promise<void> {
    await this.db
      .updateTable('throttle_counters')
      .set({ count: sql`count - 1` })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('window_start', '=', windowStart)
      .where('count', '>', 0)
      .execute();
  }

  async prune(olderThanMs: number): Promise<void> {
    await this.db.deleteFrom('throttle_counters').where('window_start', '<', this.clock.now() - olderThanMs).execute();
  }
}
