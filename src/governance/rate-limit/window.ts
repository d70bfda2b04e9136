/**
 * Sliding-window counters (the two-fixed-windows approximation): the estimate at time t is
 * floor(prev × (W − elapsed) / W) + cur, where cur counts the current fixed window and prev the
 * one before. A hit is allowed iff estimate < limit, written in exact integer form
 *   prev × wnum < (limit − cur) × wden        (wnum = W − elapsed, wden = W)
 * so the memory, PostgreSQL (kaixu_rate_hit) and Redis (Lua) backends decide identically.
 * A refused hit is not counted, so a client that keeps retrying is not locked out for longer.
 */
export type RateScope = 'minute' | 'day';

export interface WindowSpec {
  /** Who is limited (the key id); Redis keys hash-tag it so a subject's windows share a slot. */
  subject: string;
  scope: RateScope;
  /** `<scope>:<subject>`: the row / map key of the PostgreSQL and memory backends. */
  bucket: string;
  windowMs: number;
  limit: number;
  start: number;
  prevStart: number;
  elapsed: number;
  wnum: number;
  wden: number;
  /** Keep counters until the window can no longer be anyone's "previous" window. */
  expiresAt: number;
}

export interface WindowCounts {
  prev: number;
  cur: number;
}

export const WINDOW_MS: Record<RateScope, number> = { minute: 60_000, day: 86_400_000 };

export function windowSpec(subject: string, scope: RateScope, limit: number, now: number): WindowSpec {
  const windowMs = WINDOW_MS[scope];
  const start = Math.floor(now / windowMs) * windowMs;
  const elapsed = now - start;
  return {
    subject,
    scope,
    bucket: `${scope}:${subject}`,
    windowMs,
    limit,
    start,
    prevStart: start - windowMs,
    elapsed,
    wnum: windowMs - elapsed,
    wden: windowMs,
    expiresAt: start + 2 * windowMs,
  };
}

export const allows = (s: WindowSpec, c: WindowCounts): boolean => c.prev * s.wnum < (s.limit - c.cur) * s.wden;

export interface WindowReport {
  scope: RateScope;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends (RateLimit-Reset). */
  resetS: number;
  /** When refused: ms until a hit would be allowed again. */
  retryAfterMs: number;
}

/** Describe a window after a hit (`c` are the counts after counting, if it was counted). */
export function report(s: WindowSpec, c: WindowCounts, allowed: boolean): WindowReport {
  const estimate = Math.floor((c.prev * s.wnum) / s.wden) + c.cur;
  const resetS = Math.max(1, Math.ceil((s.windowMs - s.elapsed) / 1000));
  return {
    scope: s.scope,
    limit: s.limit,
    remaining: Math.max(0, s.limit - estimate),
    resetS,
    retryAfterMs: allowed ? 0 : retryAfterMs(s, c),
  };
}

function retryAfterMs(s: WindowSpec, c: WindowCounts): number {
  const W = s.windowMs;
  if (c.cur >= s.limit) {
    // Wait for the next window, then until this window's count (now "prev") has decayed enough.
    const into = Math.max(0, Math.floor(W - (s.limit * W) / c.cur) + 1);
    return W - s.elapsed + into;
  }
  if (c.prev === 0) return 1;
  const needElapsed = Math.floor(W - ((s.limit - c.cur) * W) / c.prev) + 1;
  return Math.max(1, needElapsed - s.elapsed);
}
