import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, release, totalmem, type } from 'node:os';
import type { IdlePolicy, Machine } from './results.ts';

/** 1/5/15-minute load averages ("" off Linux). */
export function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '';
  }
}

/** A one-line sysfs value, or null when the file is missing or unreadable. */
function sysValue(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/**
 * How an idle core waits for its next event (Linux cpuidle). On a KVM guest with the `haltpoll`
 * driver, `guest_halt_poll_ns` is how long a core polls before it halts: at 0 every idle halts at
 * once, and the wake-up from halt (an exit to the hypervisor and back) lands on every proxy's
 * latency at low concurrency — ≈ 220 µs per call at c=1 on the AMD host of 2026-12-07, more than the
 * gateway adds over the floor proxy (bench/README.md, "The VM's idle policy"). `sys` is `/sys`
 * (tests pass a tree).
 */
export function describeIdle(sys = '/sys'): IdlePolicy {
  const base = join(sys, 'devices/system/cpu/cpuidle');
  const raw = sysValue(join(sys, 'module/haltpoll/parameters/guest_halt_poll_ns'));
  return {
    driver: sysValue(join(base, 'current_driver')),
    governor: sysValue(join(base, 'current_governor_ro')) ?? sysValue(join(base, 'current_governor')),
    haltPollNs: raw !== null && /^\d+$/.test(raw) ? Number(raw) : null,
  };
}

/** The policy in words, for the report. */
export function idleSummary(p: IdlePolicy): string {
  if (p.driver === null) return 'not readable (no cpuidle driver, or not Linux)';
  if (p.driver === 'none') return 'no cpuidle driver (the kernel’s default idle)';
  let out = `cpuidle ${p.driver}${p.governor && p.governor !== p.driver ? `, governor ${p.governor}` : ''}`;
  if (p.driver === 'haltpoll' && p.haltPollNs !== null) {
    out += p.haltPollNs === 0 ? ', guest halt polling off (guest_halt_poll_ns=0: an idle core halts at once)' : `, guest halt polling up to ${Math.round(p.haltPollNs / 1000)} µs (guest_halt_poll_ns=${p.haltPollNs})`;
  }
  return out;
}

/** Both known and the same: the driver, its governor and the halt-poll time. */
export function sameIdle(a: IdlePolicy, b: IdlePolicy): boolean | null {
  if (a.driver === null || b.driver === null) return null;
  return a.driver === b.driver && a.governor === b.governor && a.haltPollNs === b.haltPollNs;
}

/** The machine a run was measured on (results are meaningless without it). */
export function describeMachine(cwd: string): Machine & { idle: IdlePolicy } {
  let cpu = cpus()[0]?.model?.trim() || 'unknown CPU';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    /* not Linux: keep os.cpus() */
  }
  const git = (args: string[]) => spawnSync('git', args, { cwd, encoding: 'utf8' });
  const rev = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain']);
  const commit = rev.status === 0 ? `${rev.stdout.trim()}${dirty.stdout.trim() ? ' (with uncommitted changes)' : ''}` : 'unknown (not a git checkout)';
  return {
    cpu,
    cores: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    os: `${type()} ${release()}`,
    date: new Date().toISOString(),
    commit,
    loadavg: loadavg(),
    idle: describeIdle(),
  };
}
