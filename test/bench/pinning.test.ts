import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { planPinning } from '../../bench/procs.ts';
import { startUpstream } from '../../bench/targets-setup.ts';

/**
 * Where the bench's processes run (bench/procs.ts planPinning): the servers under test on cores of
 * their own, the fake upstream with the load generator by default (`--upstream-core servers`: the
 * layout until 2026-12-07). Checked on the real fake upstream process, from the kernel's view.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const pinnable = cpus().length >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
const allowed = (pid: number) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];

describe.skipIf(!pinnable)('pinning (bench/procs.ts)', () => {
  it('by default the fake upstream shares the load generator’s cores and the servers under test have theirs alone', async () => {
    const p = planPinning();
    expect(p.upstream).toBe(p.load);
    expect(p.servers).not.toBe(p.load);
    expect(p.note).toMatch(/^load generator and fake upstream on cores? \S+, the servers under test \(floor proxy, gateways\) on cores? \S+ \(taskset\)$/);
    const up = await startUpstream(ROOT, p.upstream);
    try {
      expect(allowed(up.child.pid)).toBe(p.load);
    } finally {
      await up.child.stop();
    }
  });

  it('--upstream-core servers puts it beside the servers under test, and says so', async () => {
    const p = planPinning('servers');
    expect(p.upstream).toBe(p.servers);
    expect(p.note).toContain('servers (upstream, proxy, gateway) on core');
    expect(p.note).toContain('--upstream-core servers');
    const up = await startUpstream(ROOT, p.upstream);
    try {
      expect(allowed(up.child.pid)).toBe(p.servers);
    } finally {
      await up.child.stop();
    }
  });
});
