import { describe, expect, it } from 'vitest';
import { renderInstructions } from '../../bench/instructions-report.ts';
import { requestDriven, runInstructions, valgrindAvailable } from '../../bench/instructions.ts';
import { TEST_MACHINE } from './fixtures.ts';

/**
 * `npm run bench -- --instructions --instr-stream --instr-provider anthropic` end to end under
 * callgrind, with small counts (the OpenAI runs: instructions-run.test.ts and
 * instructions-run-stream.test.ts). Skipped only where valgrind is not installed.
 */

const ROOT = new URL('../..', import.meta.url).pathname;

describe.skipIf(!valgrindAvailable())('instructions per stream under callgrind, the Anthropic upstream', () => {
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
      const md = renderInstructions(TEST_MACHINE, settings, [floor!, gw!]);
      expect(md).toContain('- **Upstream**: the fake **Anthropic** Messages API (`--instr-provider anthropic`)');
      expect(md).toContain('read to its `message_stop`');
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });
});
