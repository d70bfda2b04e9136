import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';

/**
 * Process plumbing for the benchmark: CPU pinning, spawning children (pinned), reading a child's
 * CPU time and RSS from /proc, and free loopback ports.
 */

export interface Pinning {
  /** e.g. "0" (load generator) and "1" (servers); null = not pinned. */
  load: string | null;
  /** The floor proxy and the gateways: the servers under test. */
  servers: string | null;
  /** The fake upstream: with the load generator (the default) or with the servers under test. */
  upstream: string | null;
  note: string;
}

/** Where the fake upstream runs: `load` (default) or `servers` (the layout until 2026-12-07). */
export type UpstreamCore = 'load' | 'servers';

/**
 * Load generator on the first half of the cores, the servers under test on the rest; unpinned
 * without taskset. The fake upstream stands for the vendor, which in production runs elsewhere:
 * by default it shares the load generator's cores (the outside world), so a proxy or gateway has
 * its cores to itself and is not charged for the upstream's time slices and the switches between
 * the two (bench/README.md, "Pinning").
 */
export function planPinning(upstreamCore: UpstreamCore = 'load'): Pinning {
  const n = cpus().length;
  const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  if (!hasTaskset) return { load: null, servers: null, upstream: null, note: 'not pinned (taskset not found)' };
  if (n < 2) return { load: null, servers: null, upstream: null, note: 'not pinned (1 core)' };
  const half = Math.floor(n / 2);
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  const load = range(0, half - 1);
  const servers = range(half, n - 1);
  return upstreamCore === 'load'
    ? { load, servers, upstream: load, note: `load generator and fake upstream on ${coreLabel(load)}, the servers under test (floor proxy, gateways) on ${coreLabel(servers)} (taskset)` }
    : { load, servers, upstream: servers, note: `load generator on ${coreLabel(load)}, servers (upstream, proxy, gateway) on ${coreLabel(servers)} (taskset; --upstream-core servers)` };
}

/** A taskset core list in words: "core 1", "cores 2-3". */
export function coreLabel(cores: string): string {
  return cores.includes('-') ? `cores ${cores}` : `core ${cores}`;
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Last lines of stdout+stderr, for error reports. */
  tail(): string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  alive(): boolean;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** The environment it was started with. */
  env: NodeJS.ProcessEnv;
}

export interface SpawnOpts {
  cores: string | null;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  ipc?: boolean;
  /** Extra node flags before the script (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** A command that runs node (e.g. valgrind and its options); node's path and arguments follow it. */
  wrapper?: string[];
}

/** `node --import tsx <script> …args`, pinned with taskset when cores is set (taskset execs, same pid). */
export function spawnNode(script: string, args: string[], opts: SpawnOpts): Child {
  const nodeArgs = [...(opts.nodeFlags ?? []), '--import', 'tsx', script, ...args];
  const command = [...(opts.wrapper ?? []), process.execPath, ...nodeArgs];
  const [cmd, ...argv] = opts.cores ? ['taskset', '-c', opts.cores, ...command] : command;
  const env = opts.env ?? process.env;
  const proc = spawn(cmd!, argv, {
    cwd: opts.cwd,
    env,
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (buf: Buffer) => {
    for (const l of buf.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (c) => {
      code = c;
      resolve(c);
    });
    proc.once('error', (e) => {
      lines.push(`spawn error: ${e.message}`);
      code = -1;
      resolve(-1);
    });
  });
  return {
    proc,
    pid: proc.pid ?? -1,
    tail: () => lines.join('\n'),
    exited,
    env,
    alive: () => code === undefined,
    async stop(signal = 'SIGTERM', graceMs = 8_000) {
      if (code !== undefined) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Pin a running process and every thread it has (`taskset -a -p`); threads it starts later inherit
 * the affinity of the thread that starts them. The gateways boot unpinned and are pinned here
 * before any measurement: booting (mostly tsx loading modules) is CPU-bound and needs no pinning,
 * and four gateways booting on one core cost the 4-minute run ≈ 6 s (bench/README.md, "Run time").
 */
export function pinAll(pid: number, cores: string): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cores} ${pid} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

/** Wait for the first IPC message matching `pick`, or fail on exit/timeout. */
export function waitMessage<T>(child: Child, pick: (m: unknown) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: unknown) => {
      const v = pick(m);
      if (v !== undefined) done(() => resolve(v));
    };
    const onExit = () => done(() => reject(new Error(`${what} exited before it was ready\n${child.tail()}`)));
    const t = setTimeout(() => done(() => reject(new Error(`${what} not ready after ${timeoutMs} ms\n${child.tail()}`))), timeoutMs);
    const done = (f: () => void) => {
      clearTimeout(t);
      child.proc.off('message', onMsg);
      child.proc.off('exit', onExit);
      f();
    };
    child.proc.on('message', onMsg);
    child.proc.once('exit', onExit);
  });
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** Cumulative CPU time of a process (all threads) in µs, from /proc/<pid>/stat; null if unreadable. */
export function cpuTimeUs(pid: number): { total: number; sys: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3; utime/stime are fields 14/15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(rest[11]);
    const sys = Number(rest[12]);
    if (!Number.isFinite(user) || !Number.isFinite(sys)) return null;
    return { total: ((user + sys) * 1e6) / CLK_TCK, sys: (sys * 1e6) / CLK_TCK };
  } catch {
    return null;
  }
}

/**
 * Time a process's threads have run on a CPU, in µs at ns resolution (/proc/<pid>/schedstat, the
 * scheduler's own clock: a window of a few hundred ms is too short for /proc/<pid>/stat's 10 ms
 * ticks split over a pool of database backends); null if unreadable (the process is gone).
 */
export function schedCpuUs(pid: number): number | null {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1000 : null;
  } catch {
    return null;
  }
}

/** Resident set size in bytes, from /proc/<pid>/status; null if unreadable. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A loopback port that was free a moment ago (for children that take PORT from the env). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
