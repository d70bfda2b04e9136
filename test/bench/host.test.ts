import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostGauge, hostLine, readRecordHost } from '../../bench/host.ts';
import { describeIdle, idleSummary } from '../../bench/machine.ts';
import { renderReport } from '../../bench/report.ts';
import type { BenchResults, IdlePolicy } from '../../bench/results.ts';
import { fixture } from './fixtures.ts';

/** The host line: how steady and how fast the machine was, from direct and the floor proxy. */

const run = () => fixture({ p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 });
/** Gives every direct and floor cell its rounds (req/s); the gateway's rounds must not count. */
function withRounds(r: BenchResults, rounds: Record<string, number[]>): BenchResults {
  for (const c of r.chat) c.roundRps = rounds[`${c.target}@${c.concurrency}`] ?? [c.rps, c.rps, c.rps];
  return r;
}

describe('host steadiness', () => {
  it('takes the widest round spread of direct and floor under load, never c=1 or a gateway', () => {
    const r = withRounds(run(), {
      'direct@1': [1000, 5000, 9000], // c=1 moves a lot even on a quiet host: left out
      'direct@16': [3800, 4000, 4200], // 10 %
      'floor@64': [2700, 3000, 3300], // 20 %: the widest
      'gw-sqlite@16': [100, 2000, 9000], // the code under test: left out
    });
    const g = hostGauge(r.chat);
    expect(g.spreadPct).toBeCloseTo(20, 6);
    expect(g.worst).toBe('floor proxy c=64');
    expect(g.directRps16).toBe(4000);
    // An even number of rounds: the median is the nearest-rank one, as for every p50 in the report.
    r.chat.find((c) => c.target === 'floor' && c.concurrency === 64)!.roundRps = [2000, 2900, 3100, 3000];
    expect(hostGauge(r.chat).spreadPct).toBeCloseTo((1100 / 2900) * 100, 6);
  });

  it('is in the report header, with the record’s host beside it and how fast direct ran against it', () => {
    const r = withRounds(run(), { 'direct@16': [3800, 4000, 4200] });
    expect(renderReport(r)).toContain(
      '- **Host steadiness**: between rounds, the targets no gateway change touches (direct, floor proxy; c=16 and 64) varied by up to 10.0 % (direct c=16); direct served 4000 req/s at c=16. Compare two runs',
    );
    r.recordHost = { commit: 'def5678', date: '2026-12-01', cpu: 'Record CPU', directRps16: 16000, spreadPct: 4.2, worst: 'direct c=64', idle: null, wakeP50: null, pinning: null };
    expect(renderReport(r)).toContain("The record's run (def5678, 2026-12-01, Record CPU): up to 4.2 %, 16000 req/s; direct ran at 25 % of its speed here.");
    expect(renderReport(r)).toContain("**Another CPU model** (Test CPU here): the gateway's cost per call can differ");
    r.recordHost.cpu = r.machine.cpu;
    expect(renderReport(r)).toContain('direct ran at 25 % of its speed here. Compare two runs');
    expect(renderReport(r)).not.toContain('Another CPU model');
  });

  it('does not compare direct’s speed with a record measured in another layout', () => {
    // Direct under load is the load generator plus the fake upstream: sharing one core (the layout
    // since 2026-12-07) it serves a third of what it did on two, on the same host.
    const r = withRounds(run(), { 'direct@16': [3900, 4000, 4100] });
    const rec = (r.recordHost = { commit: 'def5678', date: '2026-12-01', cpu: r.machine.cpu, directRps16: 12_000, spreadPct: 4.2, worst: 'direct c=64', idle: null, wakeP50: null, pinning: 'load generator on core 0, servers (upstream, proxy, gateway) on core 1 (taskset)' as string | null });
    const line = hostLine(r)!;
    expect(line).toContain("**another layout** (the record's: load generator on core 0, servers (upstream, proxy, gateway) on core 1 (taskset)), so direct's req/s under load does not say how fast this host was");
    expect(line).not.toContain('% of its speed here');
    rec.pinning = r.settings.pinning; // the same layout: the comparison stands
    expect(hostLine(r)).toContain('direct ran at 33 % of its speed here');
    expect(hostLine(r)).not.toContain('another layout');
    rec.pinning = null; // a record that did not say: as before
    expect(hostLine(r)).toContain('direct ran at 33 % of its speed here');
    delete (rec as { pinning?: unknown }).pinning; // recordHost written by an older bench
    expect(hostLine(r)).toContain('direct ran at 33 % of its speed here');
  });

  it('is left out when neither direct nor the floor ran under load', () => {
    const r = run();
    r.chat = r.chat.filter((c) => c.target !== 'direct' && c.target !== 'floor');
    expect(hostLine(r)).toBeNull();
    expect(renderReport(r)).not.toContain('Host steadiness');
  });

  const dir = mkdtempSync(join(tmpdir(), 'kaixu-bench-host-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the record’s host from a results JSON; none, an old shape or a damaged file give null', () => {
    const r = withRounds(run(), { 'floor@16': [2850, 3000, 3150] });
    r.machine.commit = 'abc1234';
    r.machine.date = '2026-12-06T00:22:00Z';
    const file = join(dir, 'latest.json');
    writeFileSync(file, JSON.stringify(r));
    expect(readRecordHost(file)).toEqual({ commit: 'abc1234', date: '2026-12-06', cpu: 'Test CPU', directRps16: 4000, spreadPct: 10, worst: 'floor proxy c=16', idle: null, wakeP50: null, pinning: 'pinned' });
    r.machine.idle = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0 };
    writeFileSync(file, JSON.stringify(r));
    expect(readRecordHost(file)?.idle).toEqual({ driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0 });
    r.machine.wake = { backToBack: { p50: 117.6, p90: 140 }, afterIdle: { p50: 160, p90: 200 }, n: 2000, idleN: 200, idleMs: 1 };
    writeFileSync(file, JSON.stringify(r));
    expect(readRecordHost(file)?.wakeP50).toBe(117.6);
    delete r.machine.wake;
    for (const idle of [{ summary: 'another shape' }, { driver: 5, governor: null, haltPollNs: 0 }, { driver: 'haltpoll', governor: [], haltPollNs: 0 }, 'haltpoll']) {
      writeFileSync(file, JSON.stringify({ ...r, machine: { ...r.machine, idle } }));
      expect(readRecordHost(file)?.idle).toBeNull();
    }
    expect(readRecordHost(join(dir, 'missing.json'))).toBeNull();
    writeFileSync(file, '{"machine": {"commit": "x"');
    expect(readRecordHost(file)).toBeNull();
    writeFileSync(file, JSON.stringify({ machine: r.machine, chat: [] }));
    expect(readRecordHost(file)).toBeNull();
  });

  it('reads the committed record itself', () => {
    const rec = readRecordHost(new URL('../../bench/results/latest.json', import.meta.url).pathname);
    expect(rec).not.toBeNull();
    expect(rec!.directRps16).toBeGreaterThan(0);
    expect(rec!.commit).toMatch(/^[0-9a-f]{7}/);
  });

  it('names another idle policy than the record’s, and says nothing when either is not known', () => {
    const r = withRounds(run(), { 'direct@16': [3800, 4000, 4200] });
    const off: IdlePolicy = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0 };
    const on: IdlePolicy = { driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 200_000 };
    const rec = (r.recordHost = { commit: 'def5678', date: '2026-12-01', cpu: r.machine.cpu, directRps16: 4000, spreadPct: 4.2, worst: 'direct c=64', idle: off as IdlePolicy | null, wakeP50: null, pinning: null });
    r.machine.idle = on;
    expect(renderReport(r)).toContain('- **Idle cores**: cpuidle haltpoll, guest halt polling up to 200 µs (guest_halt_poll_ns=200000)\n');
    expect(hostLine(r)).toContain("**Another idle policy** (the record's: cpuidle haltpoll, guest halt polling off (guest_halt_poll_ns=0: an idle core halts at once)): every proxy's added latency");
    r.machine.idle = { ...off };
    expect(hostLine(r)).not.toContain('Another idle policy');
    r.machine.idle = { ...off, governor: 'menu' };
    expect(hostLine(r)).toContain('Another idle policy');
    r.machine.idle = { driver: null, governor: null, haltPollNs: null }; // unreadable here
    expect(hostLine(r)).not.toContain('Another idle policy');
    rec.idle = null; // a record written before the policy was noted
    r.machine.idle = on;
    expect(hostLine(r)).not.toContain('Another idle policy');
    delete r.machine.idle; // results of an older bench
    expect(renderReport(r)).not.toContain('Idle cores');
  });

  it('describes how idle cores wait from the cpuidle and haltpoll files', () => {
    const sys = join(dir, 'sys');
    const put = (rel: string, text: string) => {
      mkdirSync(join(sys, rel, '..'), { recursive: true });
      writeFileSync(join(sys, rel), `${text}\n`);
    };
    const said = () => idleSummary(describeIdle(sys));
    expect(describeIdle(sys)).toEqual({ driver: null, governor: null, haltPollNs: null });
    expect(said()).toBe('not readable (no cpuidle driver, or not Linux)');
    put('devices/system/cpu/cpuidle/current_driver', 'haltpoll');
    put('devices/system/cpu/cpuidle/current_governor_ro', 'haltpoll');
    put('module/haltpoll/parameters/guest_halt_poll_ns', '0');
    expect(describeIdle(sys)).toEqual({ driver: 'haltpoll', governor: 'haltpoll', haltPollNs: 0 });
    expect(said()).toBe('cpuidle haltpoll, guest halt polling off (guest_halt_poll_ns=0: an idle core halts at once)');
    put('module/haltpoll/parameters/guest_halt_poll_ns', '200000');
    expect(said()).toBe('cpuidle haltpoll, guest halt polling up to 200 µs (guest_halt_poll_ns=200000)');
    expect(describeIdle(sys).haltPollNs).toBe(200_000);
    put('module/haltpoll/parameters/guest_halt_poll_ns', 'garbage');
    expect(describeIdle(sys).haltPollNs).toBeNull();
    expect(said()).toBe('cpuidle haltpoll');
    rmSync(join(sys, 'module'), { recursive: true });
    put('devices/system/cpu/cpuidle/current_driver', 'intel_idle');
    rmSync(join(sys, 'devices/system/cpu/cpuidle/current_governor_ro'));
    put('devices/system/cpu/cpuidle/current_governor', 'menu');
    expect(describeIdle(sys)).toEqual({ driver: 'intel_idle', governor: 'menu', haltPollNs: null });
    expect(said()).toBe('cpuidle intel_idle, governor menu');
    put('devices/system/cpu/cpuidle/current_driver', 'none');
    expect(said()).toBe('no cpuidle driver (the kernel’s default idle)');
  });

  it('prints the cross-core round trip, and sets it beside the record’s when both were measured', () => {
    const r = withRounds(run(), { 'direct@16': [3800, 4000, 4200] });
    expect(renderReport(r)).not.toContain('Cross-core round trip'); // results of an older bench
    r.machine.wake = null;
    expect(renderReport(r)).toContain('- **Cross-core round trip**: not measured (the probe failed; see the run log).');
    r.machine.wake = { backToBack: { p50: 117.6, p90: 141.2 }, afterIdle: { p50: 160.4, p90: 201 }, n: 2000, idleN: 200, idleMs: 1, between: 'core 0 and core 1' };
    expect(renderReport(r)).toContain(
      "- **Cross-core round trip**: one byte over loopback TCP and back between core 0 and core 1 (the load generator's and the servers'): p50 118 µs (p90 141 µs) back to back, 2000 times; p50 160 µs after 1 ms idle, 200 times — what one hop costs here",
    );
    r.recordHost = { commit: 'def5678', date: '2026-12-01', cpu: r.machine.cpu, directRps16: 4000, spreadPct: 4.2, worst: 'direct c=64', idle: null, wakeP50: null, pinning: null };
    expect(hostLine(r)).not.toContain('cross-core');
    r.recordHost.wakeP50 = 29.5;
    expect(hostLine(r)).toContain('direct ran at 100 % of its speed here; a cross-core round trip took 118 µs here against 30 µs there.');
    r.machine.wake = null;
    expect(hostLine(r)).not.toContain('cross-core');
  });
});
