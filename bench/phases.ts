import { parseServerTiming, SERVER_TIMING_REQUEST_HEADER } from '../src/http/timing.ts';
import type { LoadClient } from './load-client.ts';
import type { PhaseRow } from './results.ts';
import { nsToUs, percentile, summarize } from './stats.ts';
import type { Runtime } from './workloads.ts';

/**
 * Where a gateway's time goes, in its own words: one window of non-streaming chat at concurrency 1
 * asking for `Server-Timing` (src/http/timing.ts) on every request, each phase's median over the
 * window. Measured after the chat cells, on the same warm process; asking costs a few
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

export async function runPhases(load: LoadClient, rt: Runtime, windowMs: number): Promise<PhaseRow> {
  const req = { ...rt.chat, headers: { ...rt.chat.headers, [SERVER_TIMING_REQUEST_HEADER]: '1' } };
  const row: PhaseRow = { target: rt.id, concurrency: 1, n: 0, medianUs: [], clientP50Us: 0 };
  const dead = rt.dead();
  if (dead) return { ...row, error: dead };
  try {
    const r = await load.closed({ req, concurrency: 1, durationMs: windowMs, collectHeader: 'server-timing' });
    const m = phaseMedians(r.collected ?? []);
    if (!m.n) return { ...row, error: r.firstError ?? 'no Server-Timing header in the answers' };
    return { ...row, ...m, clientP50Us: nsToUs(summarize(r.latNs).p50) };
  } catch (e) {
    return { ...row, error: (e as Error).message };
  }
}
