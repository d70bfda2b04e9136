import { describe, expect, it } from 'vitest';
import { renderInstructions } from '../../bench/instructions-report.ts';
import { requestDriven, runInstructions, valgrindAvailable } from '../../bench/instructions.ts';
import { TEST_MACHINE } from './fixtures.ts';

/**
 * `npm run bench -- --instructions` end to end, with small counts: the floor proxy and a real
 * `kaixu serve` on SQLite (full governance) under callgrind, counted from outside with
 * callgrind_control. Skipped only where valgrind is not installed. The streaming and Anthropic
 * runs are in instructions-run-stream.test.ts and instructions-run-anthropic.test.ts: one
 * callgrind run per file, so the suite's two workers share them.
 */

const ROOT = new URL('../..', import.meta.url).pathname;

describe.skipIf(!valgrindAvailable())('instructions per request under callgrind', () => {
  it('counts the floor and the gateway per request, by part, and reports them', { timeout: 400_000 }, async () => {
    const stoppers: (() => Promise<void>)[] = [];
    // The warm-up waits for a turn of a 3 s clock instead of the minute (what it is for: bench/instructions.ts).
    const settings = { warmup: 100, requests: 60, rounds: 2, idleMs: 300, turnMs: 3_000 };
    const lines: string[] = [];
    try {
      const [floor, gw] = await runInstructions({ root: ROOT, model: 'gpt-4o-mini', settings, targets: ['floor', 'gw-sqlite'], commit: 'test', log: (s) => lines.push(s), stoppers });
      expect(lines).toContain('gw-sqlite: 100 requests of warm-up (not counted)');
      // Then on past the clock's turn, in steps of 100, unless the warm-up itself outlasted it.
      for (const l of lines.filter((x) => x.includes('more requests of warm-up'))) expect(l).toMatch(/^(floor|gw-sqlite): [1-9]\d*00 more requests of warm-up, past a turn of the 3 s clock$/);
      for (const t of [floor!, gw!]) {
        expect(t.rounds).toHaveLength(2);
        expect(t.roundMs.every((ms) => ms > 0)).toBe(true);
        // A proxied chat call is hundreds of thousands of instructions; a dump of nothing (counters
        // never switched on, or a stale dump) would be near zero, a run left on near billions.
        expect(requestDriven(t, settings.requests)).toBeGreaterThan(150_000);
        expect(requestDriven(t, settings.requests)).toBeLessThan(20_000_000);
        expect(t.mean.jit).toBeGreaterThan(10_000);
        expect(t.mean.runtime).toBeGreaterThan(10_000);
        expect(t.idlePerSecond).toBeGreaterThanOrEqual(0);
        expect(t.top.length).toBeGreaterThan(0);
      }
      expect(gw!.idlePerSecond).toBeGreaterThan(0); // its pollers tick every 250 ms; the floor has no timer
      // Only the gateway has SQLite in it, and it does more per request than a bare pass-through.
      expect(floor!.mean.sqlite).toBe(0);
      expect(gw!.mean.sqlite).toBeGreaterThan(10_000);
      expect(gw!.top).toHaveLength(15);
      expect(gw!.top.every((f, i) => i === 0 || f.perRequest <= gw!.top[i - 1]!.perRequest)).toBe(true);
      // Compiled JavaScript named from node's perf map: the gateway's own code among it.
      expect(gw!.topJs.length).toBeGreaterThan(0);
      expect(gw!.topJs.every((f) => f.part === 'jit')).toBe(true);
      // Named from the perf map (JS: …), at least one. Not most of them: with 100 requests of warm-up
      // on a slow host with the whole suite beside it (stop 33; at 526f567 too) only 2–4 functions ran
      // as compiled code in the counted rounds, and one of those was an address no perf map covers
      // (undici's WebAssembly HTTP parser).
      expect(gw!.topJs.some((f) => /^JS:/.test(f.fn)), JSON.stringify(gw!.topJs.map((f) => f.fn))).toBe(true);
      expect(requestDriven(gw!, settings.requests)).toBeGreaterThan(requestDriven(floor!, settings.requests));
      const md = renderInstructions(TEST_MACHINE, settings, [floor!, gw!]);
      expect(md).toMatch(/\| gateway \/ SQLite \| test\s+\|\s+[\d,]+ \|/);
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });
});
