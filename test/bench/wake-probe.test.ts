import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planPinning } from '../../bench/procs.ts';
import { probeWakeups } from '../../bench/wake-probe.ts';

/** The wake probe, for real: two processes, pinned as the bench pins them when it can. */

const ROOT = resolve(import.meta.dirname, '../..');

describe('wake probe', () => {
  it('measures round trips between the load generator’s core and the servers’, back to back and after idleness', async () => {
    const pin = planPinning('load');
    // A long pause, so that "the pause is not counted" holds with margin even when the rest of the
    // suite loads both cores (a 2 ms pause against a 2 ms bound failed once at p50 3.0 ms that way).
    const p = await probeWakeups({ root: ROOT, loadCores: pin.load, serverCores: pin.servers, n: 200, idleN: 20, idleMs: 25 });
    expect(p.n).toBe(200);
    expect(p.idleN).toBe(20);
    expect(p.idleMs).toBe(25);
    for (const s of [p.backToBack, p.afterIdle]) {
      expect(s.p50).toBeGreaterThan(0);
      expect(s.p90).toBeGreaterThanOrEqual(s.p50);
      // A round trip that waited on the idle timer would take ≥ 25 ms: the pause is not counted.
      expect(s.p50).toBeLessThan(25_000);
    }
    if (pin.load && pin.servers) expect(p.between).toMatch(new RegExp(`^cores? ${pin.load} and cores? ${pin.servers}$`));
    else expect(p.between).toBeUndefined();
  }, 60_000);
});
