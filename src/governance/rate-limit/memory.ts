import type { RateLimitBackend } from './types.ts';
import { allows, type WindowCounts, type WindowSpec } from './window.ts';

interface Counter {
  start: number;
  cur: number;
  prev: number;
  expiresAt: number;
}

/**
 * In-process counters: one node (SQLite) only. Check-and-count is atomic because it runs
 * synchronously on the event loop.
 */
export class MemoryRateBackend implements RateLimitBackend {
  readonly name = 'memory' as const;
  private counters = new Map<string, Counter>();
  private hits = 0;

  async hit(windows: WindowSpec[]): Promise<{ allowed: boolean; counts: WindowCounts[] }> {
    return this.hitSync(windows);
  }

  /** The same check-and-count, synchronously (so it can run inside another atomic step: caps/sqlite.ts). */
  hitSync(windows: WindowSpec[]): { allowed: boolean; counts: WindowCounts[] } {
    const entries = windows.map((s) => this.roll(s));
    const counts = entries.map((e) => ({ prev: e.prev, cur: e.cur }));
    const allowed = windows.every((s, i) => allows(s, counts[i]!));
    if (allowed) {
      for (let i = 0; i < entries.length; i++) counts[i]!.cur = ++entries[i]!.cur;
    }
    if (++this.hits % 10_000 === 0) void this.prune(windows[0]?.start ?? 0);
    return { allowed, counts };
  }

  private roll(s: WindowSpec): Counter {
    let e = this.counters.get(s.bucket);
    if (!e) {
      e = { start: s.start, cur: 0, prev: 0, expiresAt: s.expiresAt };
      this.counters.set(s.bucket, e);
    } else if (e.start !== s.start) {
      e.prev = e.start === s.prevStart ? e.cur : 0;
      e.start = s.start;
      e.cur = 0;
      e.expiresAt = s.expiresAt;
    }
    return e;
  }

  async prune(now: number): Promise<number> {
    let n = 0;
    for (const [k, e] of this.counters) {
      if (e.expiresAt < now) {
        this.counters.delete(k);
        n++;
      }
    }
    return n;
  }
}
