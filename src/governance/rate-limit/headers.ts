import type { RateDecision, RateLimitInfo } from './types.ts';

/** RateLimit-* response headers (IETF draft fields; Reset in delta-seconds). */
export function rateLimitHeaders(info: RateLimitInfo): Record<string, string> {
  return {
    'RateLimit-Limit': String(info.limit),
    'RateLimit-Remaining': String(info.remaining),
    'RateLimit-Reset': String(info.reset),
    'RateLimit-Policy': info.policy,
  };
}

/** Set the RateLimit-* headers on a response's Headers (no-op when the key has no limit). */
export function applyRateLimitHeaders(headers: Headers, info: RateLimitInfo | null | undefined): void {
  if (!info) return;
  for (const [k, v] of Object.entries(rateLimitHeaders(info))) headers.set(k, v);
}

/** Headers for a 429: RateLimit-* plus Retry-After. */
export function refusalHeaders(d: RateDecision): Record<string, string> {
  // The literal first, then the spread: one object shape for every refusal (lib/shape.ts).
  return { 'Retry-After': String(d.retryAfterS), ...rateLimitHeaders(d.info) };
}
