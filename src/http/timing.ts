/**
 * Where one data-plane request spent its time, on request: a client that sends
 * `x-kaixu-server-timing: 1` gets a W3C `Server-Timing` header (durations in ms, µs resolution)
 * beside `x-kaixu-overhead-ms`. Nothing is measured for other requests.
 *
 * Phases, in order, from the start of the request middleware:
 * - `body`: request bookkeeping, CORS and reading the body (on the fast lane, fast-lane.ts, also
 *   parsing and validating it: the lane validates before authenticating);
 * - `auth`: the virtual key (or session) authenticated;
 * - `parse`: schema validation (the app), normalizing the messages, resolving the model or lane;
 * - `admit`: governance (allowlist, seat, rate limit, cap reservation);
 * - `upstream`: waiting on upstreams (every attempt; as subtracted for x-kaixu-overhead-ms);
 * - `settle`: the usage record and the monthly totals written (absent on streams: they settle
 *   after their headers);
 * - `respond`: the rest up to the headers (building the upstream request, reading and
 *   translating its answer, the response body);
 * - `total`: start to headers; `overhead` = total − upstream.
 *
 * A stream's body outlives its headers, so on a stream that asked the same phases come with the
 * headers (up to the first upstream event) and the rest of it in a `Server-Timing` *trailer*,
 * sent with the end of the chunked body (declared by `Trailer: server-timing`):
 * - `relay`: headers to the start of the settle (the chunks relayed, mostly waiting on the
 *   upstream's pace), or to the end when nothing settled after the headers;
 * - `settle`: the usage record and the monthly totals written after the last upstream event;
 * - `close`: the settle's end to the response's end (the last frames built and written);
 * - `stream`: headers to the response's end (= relay + settle + close).
 * Only streams served onto a Node response carry the trailer (a client over HTTP/1.0, which has
 * no chunked bodies, gets none).
 */

export const SERVER_TIMING_REQUEST_HEADER = 'x-kaixu-server-timing';

export class PhaseTimer {
  private last: number;
  private readonly phases: [string, number][] = [];
  /** When header() was asked for: the headers went out. */
  private headersAt: number | undefined;

  constructor(private readonly t0: number) {
    this.last = t0;
  }

  /** Records the time since the previous mark (or the start) as phase `name`. */
  mark(name: string, now = performance.now()): void {
    this.phases.push([name, now - this.last]);
    this.last = now;
  }

  /** The Server-Timing value at `now` (the headers are about to go out). */
  header(upstreamMs: number, settleMs: number | undefined, now = performance.now()): string {
    this.headersAt = now;
    const total = now - this.t0;
    const parts: [string, number][] = [...this.phases];
    // What follows the last mark: the upstream wait, the settle, and the gateway's own rest.
    const tail = now - this.last;
    if (upstreamMs > 0 || settleMs !== undefined) {
      parts.push(['upstream', upstreamMs]);
      if (settleMs !== undefined) parts.push(['settle', settleMs]);
      parts.push(['respond', Math.max(0, tail - upstreamMs - (settleMs ?? 0))]);
    } else if (tail > 0) parts.push(['respond', tail]);
    parts.push(['total', total], ['overhead', Math.max(0, total - upstreamMs)]);
    return serialize(parts);
  }

  /**
   * A stream's trailer value at `now` (its last frames are about to go out): `settle` is the
   * call's settle when it started after the headers (`settleAt`, performance.now() at its start).
   */
  trailer(settle: { at?: number; ms?: number }, now = performance.now()): string {
    const from = this.headersAt ?? now;
    const { at, ms } = settle;
    const after = at !== undefined && ms !== undefined && at >= from;
    const parts: [string, number][] = after
      ? [
          ['relay', at - from],
          ['settle', ms],
          ['close', Math.max(0, now - at - ms)],
        ]
      : [['relay', now - from]];
    parts.push(['stream', now - from]);
    return serialize(parts);
  }
}

const serialize = (parts: [string, number][]) => parts.map(([n, d]) => `${n};dur=${d.toFixed(3)}`).join(', ');

/** Server-Timing entries as name → ms (entries without a dur are left out). */
export function parseServerTiming(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of value.split(',')) {
    const [name, ...params] = entry.trim().split(';');
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    if (name && dur) out[name] = Number(dur.slice(4));
  }
  return out;
}
