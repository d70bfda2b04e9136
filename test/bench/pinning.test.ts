import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { planPinning } from '../../bench/procs.ts';
import { startGateway } from '../../bench/gateway.ts';
import { startUpstream, UPSTREAM_KEY, type Upstream } from '../../bench/targets-setup.ts';

/**
 * Where the bench's processes run (bench/procs.ts planPinning): the servers under test on cores of
 * their own, the fake upstream with the load generator by default (`--upstream-core servers`: the
 * layout until 2026-12-07). Checked on the real fake upstream process, from the kernel's view.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const pinnable = cpus().length >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
const allowed = (pid: number, tid = pid) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1];

/** The real fake upstream on `cores` for the length of `use`. */
async function withUpstream(cores: string | null, use: (up: Upstream) => Promise<void>): Promise<void> {
  const up = await startUpstream(ROOT, cores);
  try {
    await use(up);
  } finally {
    await up.child.stop();
  }
}

describe.skipIf(!pinnable)('pinning (bench/procs.ts)', () => {
  it('by default the fake upstream shares the load generator’s cores and the servers under test have theirs alone', async () => {
    const p = planPinning();
    expect(p.upstream).toBe(p.load);
    expect(p.servers).not.toBe(p.load);
    expect(p.note).toMatch(/^load generator and fake upstream on cores? \S+, the servers under test \(floor proxy, gateways\) on cores? \S+ \(taskset\)$/);
    await withUpstream(p.upstream, async (up) => expect(allowed(up.child.pid)).toBe(p.load));
  });

  it('--upstream-core servers puts it beside the servers under test, and says so', async () => {
    const p = planPinning('servers');
    expect(p.upstream).toBe(p.servers);
    expect(p.note).toContain('servers (upstream, proxy, gateway) on core');
    expect(p.note).toContain('--upstream-core servers');
    await withUpstream(p.upstream, async (up) => expect(allowed(up.child.pid)).toBe(p.servers));
  });

  it('a gateway boots on every core, then runs on the servers’ cores with all its threads', async () => {
    const p = planPinning();
    await withUpstream(p.upstream, async (up) => {
      const gw = await startGateway({ kind: 'sqlite', root: ROOT, cores: p.servers, upstreamBase: `${up.url}/v1`, upstreamKey: UPSTREAM_KEY, model: 'gpt-4o-mini', pgAdminUrl: '' });
      try {
        const threads = readdirSync(`/proc/${gw.child.pid}/task`).map(Number);
        // Node's own threads (V8 platform, libuv) and the WAL checkpoint worker.
        expect(threads.length).toBeGreaterThan(4);
        expect(threads.map((t) => allowed(gw.child.pid, t))).toEqual(threads.map(() => p.servers));
      } finally {
        await gw.stop();
      }
    });
  }, 90_000);
});
