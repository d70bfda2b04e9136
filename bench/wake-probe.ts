import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { coreLabel, spawnNode, waitMessage } from './procs.ts';
import type { WakeProbe } from './results.ts';
import { summarize } from './stats.ts';

/**
 * What waking a core costs on this host: one byte sent back and forth over loopback TCP between a
 * process on the load generator's core and one on the servers' core — the smallest version of a
 * hop every proxy adds at concurrency 1. Back to back, neither core has time to do anything but
 * go idle; after a pause, both have gone idle for a while. On a VM whose idle cores halt at once
 * (bench/README.md, "The VM's idle policy") the back-to-back round trip was 94–118 µs, and
 * 28–36 µs with halt polling on: about the three-fold difference the floor proxy's added latency
 * showed. Measured once per run, before any target starts, so runs on different hosts or days can
 * be told apart by what a hop costs, not only by direct's req/s.
 *
 * Run as children: `wake-probe.ts echo` (reports `{ ready: port }`), `wake-probe.ts ping <port>
 * <n> <idleN> <idleMs>` (reports `{ probe: WakeProbe }`).
 */

export interface WakeProbeOpts {
  root: string;
  /** The pinger's cores (the load generator's) and the echo's (the servers'); null = not pinned. */
  loadCores: string | null;
  serverCores: string | null;
  /** Round trips back to back, then round trips each after idleMs of idleness. */
  n: number;
  idleN: number;
  idleMs: number;
}

export async function probeWakeups(o: WakeProbeOpts): Promise<WakeProbe> {
  const echo = spawnNode('bench/wake-probe.ts', ['echo'], { cores: o.serverCores, cwd: o.root, ipc: true });
  try {
    const port = await waitMessage(echo, (m) => (m as { ready?: number }).ready, 30_000, 'wake probe (echo)');
    const ping = spawnNode('bench/wake-probe.ts', ['ping', String(port), String(o.n), String(o.idleN), String(o.idleMs)], { cores: o.loadCores, cwd: o.root, ipc: true });
    try {
      const probe = await waitMessage(ping, (m) => (m as { probe?: WakeProbe }).probe, 60_000, 'wake probe (ping)');
      return o.loadCores && o.serverCores ? { ...probe, between: `${coreLabel(o.loadCores)} and ${coreLabel(o.serverCores)}` } : probe;
    } finally {
      await ping.stop();
    }
  } finally {
    await echo.stop();
  }
}

/** ns of each round trip, in order. */
async function roundTrips(sock: Socket, n: number, idleMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      sock.once('data', () => resolve());
      sock.write('x');
    });
    out.push(Number(process.hrtime.bigint() - t0));
  }
  return out;
}

/** The bench's own percentiles (stats.ts), in µs. */
function summary(ns: number[]): { p50: number; p90: number } {
  const s = summarize(ns);
  return { p50: s.p50 / 1000, p90: s.p90 / 1000 };
}

async function ping(port: number, n: number, idleN: number, idleMs: number): Promise<WakeProbe> {
  const sock = connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  // A first few round trips wake both processes' code paths; they are not counted.
  await roundTrips(sock, 50, 0);
  const backToBack = summary(await roundTrips(sock, n, 0));
  const afterIdle = summary(await roundTrips(sock, idleN, idleMs));
  sock.destroy();
  return { backToBack, afterIdle, n, idleN, idleMs };
}

const isMain = process.argv[1]?.endsWith('wake-probe.ts');
if (isMain) {
  const [role, ...args] = process.argv.slice(2);
  if (role === 'echo') {
    const server = createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d) => s.write(d));
    });
    server.listen(0, '127.0.0.1', () => process.send?.({ ready: (server.address() as AddressInfo).port }));
    process.on('SIGTERM', () => process.exit(0));
    process.on('disconnect', () => process.exit(0));
  } else if (role === 'ping') {
    const [port, n, idleN, idleMs] = args.map(Number);
    const probe = await ping(port!, n!, idleN!, idleMs!);
    process.send?.({ probe });
    process.on('SIGTERM', () => process.exit(0));
    process.on('disconnect', () => process.exit(0));
  } else {
    console.error('usage: wake-probe.ts echo | ping <port> <n> <idleN> <idleMs>');
    process.exit(2);
  }
}
