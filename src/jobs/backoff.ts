/**
 * Exponential backoff with "equal jitter": the n-th retry waits in [d/2, d) where
 * d = min(max, base · 2^(n−1)). Half the delay is guaranteed (delays grow attempt over attempt
 * until the cap), half is random (nodes retrying the same failure do not stampede together).
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const half = d / 2;
  return Math.floor(half + random() * half);
}
