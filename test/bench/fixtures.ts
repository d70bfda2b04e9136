import type { BenchResults, ChatCell, StreamRow, TargetId } from '../../bench/results.ts';

/** Bench results built by hand for the harness tests: a cell, a stream row, a whole run. */

export function cell(target: TargetId, concurrency: number, p50us: number, p99us: number, rps: number, cpu: number | null): ChatCell {
  const lat = { n: 1000, min: p50us * 900, p50: p50us * 1000, p90: p99us * 900, p99: p99us * 1000, max: p99us * 1100, mean: p50us * 1000 };
  return { target, concurrency, status: { ok: true }, n: 1000, errors: 0, rps, lat, cpuUsPerReq: cpu, cpuSysShare: 0.25 };
}
export function streamRow(target: TargetId, ttfbUs: number, totalMs: number, alone: number): StreamRow {
  const sum = (v: number) => ({ n: 50, min: v, p50: v, p90: v, p99: v, max: v, mean: v });
  return { target, status: { ok: true }, n: 50, expectChunks: 20, ttfb: sum(ttfbUs * 1000), ttft: sum(ttfbUs * 1000 + 5e6), last: sum(totalMs * 1e6 - 2e5), finish: sum(totalMs * 1e6 - 1e5), total: sum(totalMs * 1e6), tail: sum(2e5), coalesced: 0, minReads: 20, chunks: 1000, chunksSeparate: alone };
}

export function fixture(gw: { p50: number; p99: number; rps: number; cpu: number; ttfb: number; total: number; alone: number; rssGrowthMB: number; monitorOffRps?: number }): BenchResults {
  const chat: ChatCell[] = [];
  for (const c of [1, 16, 64]) {
    chat.push(cell('direct', c, 200, 400, 4000, 90), cell('floor', c, 350, 700, 3000, 200), cell('gw-sqlite', c, gw.p50, gw.p99, gw.rps, gw.cpu), cell('gw-pg', c, gw.p50 + 300, gw.p99 + 1000, gw.rps * 0.6, gw.cpu * 1.3));
  }
  return {
    machine: { cpu: 'Test CPU', cores: 2, memory: '1 GiB', node: 'v20', os: 'Linux', date: '2026-01-01T00:00:00Z', commit: 'abc1234', loadavg: '0.1 0.1 0.1' },
    settings: { windowMs: 1500, warmupMs: 400, rounds: 3, concurrencies: [1, 16, 64], streamChunks: 20, streamChunkDelayMs: 5, manyStreams: 1000, manyChunkDelayMs: 100, pinning: 'pinned', model: 'gpt-4o-mini', monitorConcurrencies: [16, 64], monitorRounds: 6, monitorWindowMs: 1000, monitorWarmupMs: 2000, steadyWarmupMs: 4000, streamWarmupMs: 3000 },
    chat,
    stream: [streamRow('direct', 300, 110, 990), streamRow('gw-sqlite', gw.ttfb, gw.total, gw.alone)],
    monitorCost: {
      cells: [16, 64].flatMap((c) => [cell('gw-sqlite-mon', c, gw.p50, gw.p99, gw.rps, gw.cpu), cell('gw-sqlite-nomon', c, gw.p50, gw.p99, gw.monitorOffRps ?? gw.rps * 1.05, gw.cpu * 0.95)]),
      written: { on: 12_000, off: 0 },
    },
    many: [{ target: 'gw-sqlite', status: { ok: true }, firstError: null, n: 1000, completed: 1000, failed: 0, peakOpen: 1000, elapsedMs: 2500, rss: { before: 100e6, peak: 100e6 + gw.rssGrowthMB * 1e6, after: 110e6 } }],
    failures: [],
    notes: [],
    durationMs: 100_000,
  };
}

/** A machine description for rendering reports in tests. */
export const TEST_MACHINE = { cpu: 'x', cores: 2, memory: '1 GiB', node: process.version, os: 'Linux', date: '', commit: 'test', loadavg: '' };
