import { parseServerTiming, SERVER_TIMING_REQUEST_HEADER } from '../src/http/timing.ts';
import type { LoadClient } from './load-client.ts';
import type { RequestSpec } from './protocol.ts';
import type { PhaseRow } from './results.ts';
import { nsToUs, percentile, summarize } from './stats.ts';
import type { Runtime } from './workloads.ts';

/**
 * Where a gateway's time goes, in its own words: a window at concurrency 1 (non-streaming chat after
 * the chat cells, streams after the stream cell) asking for `Server-Timing` (src/http/timing.ts) on
 * every request, each phase's median over the window, on the same warm process; asking costs a few
 * performance.now() calls per request.
 */

/** Each phase's median (µs) over Server-Timing values, phases in the order first seen. */
export function phaseMedians(values: string[]): { n: number; medianUs: [string, number][] } {
  const byPhase = new Map<string, number[]>();
  for (const v of values) {
    for (const [name, ms] of Object.entries(parseServerTiming(v))) {
      let xs = byPhase.get(name);
      if (!xs) byPhase.set(name, (xs = []));
      xs.push(ms * 1000);
    }
  }
  const medianUs = [...byPhase].map(([name, xs]): [string, number] => [name, Math.round(percentile(Float64Array.from(xs).sort(), 50))]);
  return { n: values.length, medianUs };
}

const asking = (req: RequestSpec): RequestSpec => ({ ...req, headers: { ...req.headers, [SERVER_TIMING_REQUEST_HEADER]: '1' } });

/**
 * One window at concurrency 1 asking for Server-Timing: non-streaming chat (phases to the answer,
 * beside the client's p50), or one stream after another (phases to the headers and, from its
 * trailer, to its end, beside the client's time to first byte; the upstream must be streaming).
 */
export async function runPhases(load: LoadClient, rt: Runtime, workload: 'chat' | 'stream', windowMs: number, expectChunks = 0): Promise<PhaseRow> {
  const row: PhaseRow = { target: rt.id, workload, concurrency: 1, n: 0, medianUs: [], clientP50Us: 0 };
  const dead = rt.dead() ?? (workload === 'stream' && !rt.stream ? 'no stream request' : null);
  if (dead) return { ...row, error: dead };
  try {
    let values: string[];
    let clientNs: number[];
    let firstError: string | null;
    if (workload === 'chat') {
      const r = await load.closed({ req: asking(rt.chat), concurrency: 1, durationMs: windowMs, collectHeader: 'server-timing' });
      [values, clientNs, firstError] = [r.collected ?? [], r.latNs, r.firstError];
    } else {
      const r = await load.stream({ req: asking(rt.stream!.req), format: rt.stream!.format, durationMs: windowMs, expectChunks, collectHeader: 'server-timing' });
      [values, clientNs, firstError] = [r.streams.flatMap((s) => (s.header ? [s.header] : [])), r.streams.map((s) => s.ttfbNs), r.firstError];
    }
    const m = phaseMedians(values);
    if (!m.n) return { ...row, error: firstError ?? 'no Server-Timing header in the answers' };
    return { ...row, ...m, clientP50Us: nsToUs(summarize(clientNs).p50) };
  } catch (e) {
    return { ...row, error: (e as Error).message };
  }
}
