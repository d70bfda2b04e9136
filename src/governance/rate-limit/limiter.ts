import type { Logger } from '../../lib/logger.ts';
import type { Storage } from '../../storage/db.ts';
import { MemoryRateBackend } from './memory.ts';
import { PostgresRateBackend } from './postgres.ts';
import { RedisRateBackend } from './redis.ts';
import type { RateDecision, RateLimitBackend, RateLimitInfo } from './types.ts';
import { report, windowSpec, type WindowCounts, type WindowReport, type WindowSpec } from './window.ts';

export interface RateLimits {
  /** Requests per minute; ≤ 0 or null = off. */
  rpm: number | null;
  /** Requests per UTC day window; ≤ 0 or null = off. */
  rpd: number | null;
}

const WARN_EVERY_MS = 60_000;

/**
 * Per-key RPM/RPD: builds the windows, asks the backend to check-and-count atomically, and turns
 * the counts into RateLimit-* numbers. When the primary backend (Redis) fails, it falls back to
 * the database-backed one — never to per-process memory while several nodes share PostgreSQL —
 * and logs a warning at most once a minute.
 */
export class RateLimiter {
  private lastWarn = 0;

  constructor(
    readonly backend: RateLimitBackend,
    private readonly fallback: RateLimitBackend | null,
    private readonly log: Logger,
  ) {}

  /** The windows a call of `subject` is counted in (none when both limits are off). */
  windows(subject: string, limits: RateLimits, now: number): WindowSpec[] {
    const windows: WindowSpec[] = [];
    if (limits.rpm != null && limits.rpm > 0) windows.push(windowSpec(subject, 'minute', limits.rpm, now));
    if (limits.rpd != null && limits.rpd > 0) windows.push(windowSpec(subject, 'day', limits.rpd, now));
    return windows;
  }

  /** True when no fallback is configured: the primary backend's answer is final. */
  get single(): boolean {
    return !this.fallback;
  }

  async hit(subject: string, limits: RateLimits, now: number): Promise<RateDecision | null> {
    const windows = this.windows(subject, limits, now);
    return windows.length ? this.check(windows, now) : null;
  }

  /** Check-and-count `windows` (non-empty) in the backend, falling back when it fails. */
  async check(windows: WindowSpec[], now: number): Promise<RateDecision> {
    let res;
    try {
      res = await this.backend.hit(windows);
    } catch (e) {
      if (!this.fallback) throw e;
      if (now - this.lastWarn > WARN_EVERY_MS) {
        this.lastWarn = now;
        this.log.warn({ err: e, backend: this.backend.name, fallback: this.fallback.name }, 'rate-limit backend failed; using fallback');
      }
      res = await this.fallback.hit(windows);
    }
    return this.decide(windows, res);
  }

  /** Turn a backend's counts (after counting, if the hit was allowed) into the decision and headers. */
  decide(windows: WindowSpec[], res: { allowed: boolean; counts: WindowCounts[] }): RateDecision {
    const reports = windows.map((s, i) => report(s, res.counts[i]!, res.allowed));
    return decide(windows, reports, res.allowed);
  }

  async prune(now: number): Promise<number> {
    let n = 0;
    for (const b of [this.backend, this.fallback]) if (b?.prune) n += await b.prune(now);
    return n;
  }

  async start(): Promise<void> {
    await this.backend.start?.();
  }

  async close(): Promise<void> {
    await this.backend.close?.();
    await this.fallback?.close?.();
  }
}

function decide(windows: WindowSpec[], reports: WindowReport[], allowed: boolean): RateDecision {
  // Report the binding window: when refused the one that refuses longest, else the one with least room.
  let pick = 0;
  for (let i = 1; i < reports.length; i++) {
    const a = reports[pick]!;
    const b = reports[i]!;
    if (allowed ? b.remaining < a.remaining : b.retryAfterMs > a.retryAfterMs) pick = i;
  }
  const r = reports[pick]!;
  const info: RateLimitInfo = {
    scope: r.scope,
    limit: r.limit,
    remaining: r.remaining,
    reset: allowed ? r.resetS : Math.max(1, Math.ceil(r.retryAfterMs / 1000)),
    policy: windows.map((w) => `${w.limit};w=${w.windowMs / 1000}`).join(', '),
  };
  return { allowed, info, retryAfterS: allowed ? 0 : Math.max(1, Math.ceil(r.retryAfterMs / 1000)) };
}

export type RateBackendChoice = 'auto' | 'memory' | 'postgres' | 'redis';

/**
 * RATE_LIMIT_BACKEND=auto: Redis when REDIS_URL is set, memory on SQLite (one node), else
 * PostgreSQL. `memory` on PostgreSQL is honoured only because it was asked for, with a warning:
 * several nodes would each allow the full limit.
 */
export function createRateLimiter(
  opts: { backend: RateBackendChoice; redisUrl?: string; redisPrefix: string },
  storage: Storage,
  log: Logger,
): RateLimiter {
  const dbBackend = (): RateLimitBackend =>
    storage.dialect === 'postgres' && storage.pool ? new PostgresRateBackend(storage.pool, storage.db) : new MemoryRateBackend();
  let choice = opts.backend;
  if (choice === 'auto') choice = opts.redisUrl ? 'redis' : storage.dialect === 'postgres' ? 'postgres' : 'memory';
  switch (choice) {
    case 'redis':
      if (!opts.redisUrl) throw new Error('RATE_LIMIT_BACKEND=redis requires REDIS_URL');
      return new RateLimiter(new RedisRateBackend(opts.redisUrl, opts.redisPrefix), dbBackend(), log);
    case 'postgres':
      if (storage.dialect !== 'postgres') throw new Error('RATE_LIMIT_BACKEND=postgres requires a PostgreSQL DATABASE_URL');
      return new RateLimiter(dbBackend(), null, log);
    default:
      if (storage.dialect === 'postgres') {
        log.warn('RATE_LIMIT_BACKEND=memory with PostgreSQL: rate limits are counted per process, so N nodes allow N × the limit');
      }
      return new RateLimiter(new MemoryRateBackend(), null, log);
  }
}
