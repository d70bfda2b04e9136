/**
 * Latency statistics for the benchmark. Samples are nanoseconds (from process.hrtime.bigint(),
 * carried as numbers: 2^53 ns is 104 days, far beyond any request); every reported figure keeps
 * microsecond resolution.
 */
export interface Summary {
  n: number;
  /** All in nanoseconds. */
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in (0, 100]); NaN for an empty array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** Summary of a set of nanosecond samples (any order; the input is not modified). */
export function summarize(samplesNs: ArrayLike<number>): Summary {
  const s = Float64Array.from(samplesNs).sort();
  const n = s.length;
  if (n === 0) return { n: 0, min: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return { n, min: s[0], p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[n - 1], mean: sum / n };
}

/** Nanoseconds → whole microseconds (the unit every table shows). */
export const nsToUs = (ns: number): number => Math.round(ns / 1_000);

/** What a proxy adds over the direct call, for one statistic. */
export interface Overhead {
  addedNs: number;
  ratio: number;
}

export function overhead(targetNs: number, directNs: number): Overhead {
  return { addedNs: targetNs - directNs, ratio: directNs > 0 ? targetNs / directNs : Number.NaN };
}

/**
 * CPU time a process spent per completed request over a measured window, from two readings of
 * its cumulative CPU time (µs). Null when it cannot be computed (no requests, or no readings).
 */
export function cpuPerRequestUs(before: number | null, after: number | null, requests: number): number | null {
  if (before == null || after == null || requests <= 0 || after < before) return null;
  return (after - before) / requests;
}

/**
 * The database's CPU (µs) between two readings of Gateway.dbCpu (bench/gateway.ts): each
 * backend's growth, and all of a backend that started in between (its connection setup included).
 * A backend that ended in between is lost with its time; the gateway's pool keeps its connections
 * while it is busy (a connection goes after 30 s idle), so under load that does not happen. null
 * if either reading is null.
 */
export function dbCpuDeltaUs(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (!before || !after) return null;
  let us = 0;
  for (const [pid, t] of after) us += t - (before.get(pid) ?? 0);
  return us;
}

/** Concatenate sample arrays from several rounds (interleaved measurement windows). */
export function mergeSamples(parts: ArrayLike<number>[]): Float64Array {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Float64Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * One figure per round from two targets' windows of that round (adjacent in time, so the
 * machine's drift between rounds cancels): `f(a[i], b[i])`. Empty unless both ran every round.
 */
export function byRound(a: number[] | undefined, b: number[] | undefined, f: (x: number, y: number) => number): number[] {
  if (!a?.length || !b || a.length !== b.length) return [];
  return a.map((x, i) => f(x, b[i]!));
}
