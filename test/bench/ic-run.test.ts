import { describe, expect, it } from 'vitest';
import { missesPerRequest } from '../../bench/ic-log.ts';
import { renderIc, runIc } from '../../bench/ic.ts';

/**
 * `npm run bench -- --ic` end to end, small: a real `kaixu serve` on SQLite (full governance) under
 * `node --log-ic`. Also the guard for the request path's object shapes (src/lib/shape.ts): with
 * its objects built spread-first, every chat call missed V8's inline caches ≈ 21–24 times (a body
 * without max_tokens 4 more) and every stream ≈ 51 times; built field by field, a warmed-up call
 * misses less than once.
 */

const ROOT = new URL('../..', import.meta.url).pathname;

describe('IC misses per request under node --log-ic', () => {
  it('reads each workload’s window off the log, and the warmed-up request path misses V8’s caches less than once per call', { timeout: 240_000 }, async () => {
    const stoppers: (() => Promise<void>)[] = [];
    const lines: string[] = [];
    const settings = { warmup: 500, requests: 200, top: 5 };
    try {
      const [tree] = await runIc({ root: ROOT, model: 'gpt-4o-mini', settings, log: (s) => lines.push(s), stoppers }, 'this tree');
      expect(tree!.workloads.map((w) => [w.label, w.requests])).toEqual([
        ['POST /v1/chat/completions', 200],
        ['POST /v1/chat/completions, model and messages only', 200],
        ['POST /.netlify/functions/gateway-chat', 200],
        ['POST /v1/chat/completions, stream', 40],
      ]);
      expect(lines).toContain('this tree: POST /v1/chat/completions: 500 requests of warm-up, then 200 read off the log');
      for (const w of tree!.workloads) {
        const perRequest = missesPerRequest(w);
        const worst = w.sites.slice(0, 3).map((s) => `${s.count} × ${s.ic} .${s.key} in ${s.fn}`);
        expect(perRequest, `${w.label}: ${worst.join('; ')}`).toBeLessThan(1);
        // Every site is named by the code that holds it, and counted in the window only.
        expect(w.sites.every((s) => s.count > 0 && s.fn !== '')).toBe(true);
      }
      const md = renderIc([tree!], settings, '- test');
      expect(md).toContain('| tree | POST /v1/chat/completions | POST /v1/chat/completions, model and messages only | POST /.netlify/functions/gateway-chat | POST /v1/chat/completions, stream |');
      expect(md).toMatch(/\| this tree \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|/);
    } finally {
      for (const s of stoppers.reverse()) await s().catch(() => {});
    }
  });
});
