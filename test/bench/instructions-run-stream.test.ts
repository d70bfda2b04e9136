import { describe, expect, it } from 'vitest';
import { renderInstructions } from '../../bench/instructions-report.ts';
import { requestDriven, runInstructions, valgrindAvailable } from '../../bench/instructions.ts';
import { TEST_MACHINE } from './fixtures.ts';

/**
 * `npm run bench -- --instructions --instr-stream` end to end under callgrind, with small counts
 * (the non-streaming run: instructions-run.test.ts). Skipped only where valgrind is not installed.
 */

const ROOT = new URL('../..', import.meta.url).pathname;

describe.skipIf(!valgrindAvailable())('instructions per stream under callgrind', () => {
  it('--instr-stream counts whole streams: each counted request a stream read to its [DONE]', { timeout: 300_000 }, async () => {
    const stoppers: (() => Promise<void>)[] = [];
    const settings = { warmup: 60, requests: 30, rounds: 1, idleMs: 200, turnMs: 3_000, streamChunks: 3 };
    try {
      // drive() refuses any answer without `data: [DONE]`: a non-streaming reply would throw here.
      const [gw] = await runInstructions({ root: ROOT, model: 'gpt-4o-mini', settings, targets: ['gw-sqlite'], commit: 'test', log: () => {}, stoppers });
      expect(gw!.rounds).toHaveLength(1);
      // A stream is at least what a non-streaming call costs (its bound in instructions-run.test.ts) and more:
      // seven frames read, parsed and written again.
      expect(requestDriven(gw!, settings.requests)).toBeGreaterThan(300_000);
      expect(requestDriven(gw!, settings.requests)).toBeLessThan(40_000_000);
      const md = renderInstructions(TEST_MACHINE, settings, [gw!]);
      expect(md.split('\n')[0]).toBe('# Kaixu Gateway — instructions per stream (callgrind)');
      expect(md).toContain('3 content chunks sent by the fake upstream back to back');
      expect(md).toContain('## Per stream');
      expect(md).not.toContain('Anthropic');
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });
});
