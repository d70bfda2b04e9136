import { describe, expect, it } from 'vitest';
import { renderReport } from '../../bench/report.ts';
import { evaluateTargets } from '../../bench/targets.ts';
import { cell, fixture } from './fixtures.ts';

/**
 * The unpaced-streams cell in the report: its table, its place in the CPU target and its line in
 * `--baseline`'s section (its load, end to end, is in stream-warmup.test.ts).
 */

const good = { p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 };

describe('streams at full speed in the report', () => {
  const withUnpaced = (gwCpu: number) => {
    const r = fixture(good);
    r.settings.unpacedConcurrency = 16;
    r.settings.unpacedWindowMs = 750;
    r.unpaced = [cell('direct', 16, 4000, 6000, 3000, 150), cell('floor', 16, 6000, 9000, 2000, 400), cell('gw-sqlite', 16, 7000, 11000, 1800, gwCpu), cell('gw-pg', 16, 9000, 15000, 1200, 900)];
    return r;
  };

  it('renders a table per target: streams/s, chunks/s, a stream’s p50 and what the proxy adds, CPU per stream beside the floor’s', () => {
    const md = renderReport(withUnpaced(800));
    expect(md).toContain('## Streams at full speed — 20 chunks unpaced, 16 at a time');
    expect(md).toContain('3 interleaved rounds × 750 ms per target');
    expect(md).toMatch(/\| gateway \/ SQLite +\| +1800 \| +36000 \| +7000 \| +11000 \| +\+3000 \| +800 \(25 % sys\) \| +2\.00× \| +1000\/0 \|/);
    expect(md).toMatch(/\| direct +\| +3000 \| +60000 \| +4000 \| +6000 \| +\| +150 \(25 % sys\) upstream \| +\| +1000\/0 \|/);
    const older = fixture(good); // results from before the cell: no section
    expect(renderReport(older)).not.toContain('Streams at full speed');
  });

  it('holds the CPU target to a whole stream too: listed beside the chat cells, the worst first; missed past 3 ×', () => {
    const cpu = (r: ReturnType<typeof withUnpaced>) => evaluateTargets(r).find((c) => c.id === 'cpu')!;
    expect(cpu(withUnpaced(800))).toMatchObject({ verdict: 'met', measured: '2.50 × at c=1 (500 vs 200 µs); 2.50 × at c=16, 2.50 × at c=64, 2.00 × at streams at full speed' });
    expect(cpu(withUnpaced(1201))).toMatchObject({ verdict: 'missed', measured: expect.stringMatching(/^3\.00 × at streams at full speed \(1201 vs 400 µs\)/) });
    const failed = withUnpaced(1201);
    failed.unpaced = failed.unpaced!.map((c) => (c.target === 'gw-sqlite' ? { ...c, status: { ok: false, error: 'process exited' }, n: 0 } : c));
    expect(cpu(failed)).toMatchObject({ verdict: 'met', measured: '2.50 × at c=1 (500 vs 200 µs); 2.50 × at c=16, 2.50 × at c=64' });
    expect(renderReport(failed)).toContain('FAILED: process exited');
  });

  it('puts the cell in --baseline’s section: streams/s, CPU per stream and p50, before → after with each round’s change', () => {
    const r = fixture(good);
    r.settings.unpacedConcurrency = 16;
    const before = cell('gw-before', 16, 8000, 12000, 1500, 700);
    const after = cell('gw-after', 16, 7000, 11000, 1650, 620);
    Object.assign(before, { roundRps: [1500, 1500, 1500], roundP50: [8000e3, 8000e3, 8000e3], roundCpuUs: [700, 700, 700] });
    Object.assign(after, { roundRps: [1650, 1600, 1520], roundP50: [7000e3, 7500e3, 8100e3], roundCpuUs: [620, 640, 690] });
    r.baseline = { ref: 'HEAD~1', commit: 'abc1234', cells: [], stream: [], unpaced: [before, after] };
    expect(renderReport(r)).toContain(
      'Streams at full speed (20 chunks unpaced, 16 at a time, 6 rounds × 1000 ms): streams/s 1500 → 1650 (+10.0 %; rounds +1.3 … +10.0 %, 3/3), CPU µs per stream 700 → 620 (rounds −80 … −10 µs, 3/3), stream p50 8000 → 7000 µs (rounds −1000 … +100 µs, 2/3) (1000 · 1000 streams).',
    );
    r.baseline.unpaced = [{ ...before, status: { ok: false, error: 'HTTP 500: boom' }, n: 0 }, after];
    expect(renderReport(r)).toContain('Streams at full speed (20 chunks unpaced, 16 at a time, 6 rounds × 1000 ms): not measured (HTTP 500: boom).');
  });
});
