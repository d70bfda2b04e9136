import { describe, expect, it } from 'vitest';
import { renderInstructions } from '../../bench/instructions-report.ts';
import { requestDriven, runInstructions, valgrindAvailable } from '../../bench/instructions.ts';

/**
 * `npm run bench -- --instructions` end to end, with small counts: the floor proxy and a real
 * `kaixu serve` on SQLite (full governance) under callgrind, counted from outside with
 * callgrind_control. Skipped only where valgrind is not installed.
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
      const md = renderInstructions({ cpu: 'x', cores: 2, memory: '1 GiB', node: process.version, os: 'Linux', date: '', commit: 'test', loadavg: '' }, settings, [floor!, gw!]);
      expect(md).toMatch(/\| gateway \/ SQLite \| test\s+\|\s+[\d,]+ \|/);
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });

  it('--instr-stream counts whole streams: each counted request a stream read to its [DONE]', { timeout: 300_000 }, async () => {
    const stoppers: (() => Promise<void>)[] = [];
    const settings = { warmup: 60, requests: 30, rounds: 1, idleMs: 200, turnMs: 3_000, streamChunks: 3 };
    try {
      // drive() refuses any answer without `data: [DONE]`: a non-streaming reply would throw here.
      const [gw] = await runInstructions({ root: ROOT, model: 'gpt-4o-mini', settings, targets: ['gw-sqlite'], commit: 'test', log: () => {}, stoppers });
      expect(gw!.rounds).toHaveLength(1);
      // A stream is at least what a non-streaming call costs (its bound in the test above) and more:
      // seven frames read, parsed and written again.
      expect(requestDriven(gw!, settings.requests)).toBeGreaterThan(300_000);
      expect(requestDriven(gw!, settings.requests)).toBeLessThan(40_000_000);
      const md = renderInstructions({ cpu: 'x', cores: 2, memory: '1 GiB', node: process.version, os: 'Linux', date: '', commit: 'test', loadavg: '' }, settings, [gw!]);
      expect(md.split('\n')[0]).toBe('# Kaixu Gateway — instructions per stream (callgrind)');
      expect(md).toContain('3 content chunks sent by the fake upstream back to back');
      expect(md).toContain('## Per stream');
      expect(md).not.toContain('Anthropic');
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });

  it('--instr-provider anthropic: the gateway translates the fake Anthropic upstream’s streams, the floor passes its Messages API through', { timeout: 300_000 }, async () => {
    const stoppers: (() => Promise<void>)[] = [];
    const settings = { warmup: 60, requests: 30, rounds: 1, idleMs: 200, turnMs: 3_000, streamChunks: 3, provider: 'anthropic' as const };
    try {
      // Each answer must hold its end: the floor's an Anthropic `message_stop` (the fake answers
      // /v1/messages only as Anthropic), the gateway's `data: [DONE]` (a Claude model it routes to
      // the Anthropic base URL only). Anything else, or the OpenAI fake, fails drive().
      const [floor, gw] = await runInstructions({ root: ROOT, model: 'claude-haiku-4-5', settings, targets: ['floor', 'gw-sqlite'], commit: 'test', log: () => {}, stoppers });
      for (const t of [floor!, gw!]) {
        expect(t.rounds).toHaveLength(1);
        expect(requestDriven(t, settings.requests)).toBeGreaterThan(150_000);
        expect(requestDriven(t, settings.requests)).toBeLessThan(40_000_000);
      }
      expect(requestDriven(gw!, settings.requests)).toBeGreaterThan(requestDriven(floor!, settings.requests));
      const md = renderInstructions({ cpu: 'x', cores: 2, memory: '1 GiB', node: process.version, os: 'Linux', date: '', commit: 'test', loadavg: '' }, settings, [floor!, gw!]);
      expect(md).toContain('- **Upstream**: the fake **Anthropic** Messages API (`--instr-provider anthropic`)');
      expect(md).toContain('read to its `message_stop`');
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });
});
