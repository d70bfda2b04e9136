import { join } from 'node:path';
import type { RecordHost } from './host.ts';
import type { Summary } from './stats.ts';

/** What one bench run produced; report.ts and targets.ts read only this. */

export type TargetId = 'direct' | 'floor' | 'gw-sqlite' | 'gw-pg' | 'seed-sqlite' | 'gw-sqlite-mon' | 'gw-sqlite-nomon' | 'gw-before' | 'gw-after';

export const TARGET_LABEL: Record<TargetId, string> = {
  direct: 'direct',
  floor: 'floor proxy',
  'gw-sqlite': 'gateway / SQLite',
  'gw-pg': 'gateway / PostgreSQL',
  'seed-sqlite': 'gateway / SQLite',
  'gw-sqlite-mon': 'gateway / SQLite, monitor on',
  'gw-sqlite-nomon': 'gateway / SQLite, monitor off',
  'gw-before': 'gateway / SQLite, baseline ref',
  'gw-after': 'gateway / SQLite, this tree',
};

export const TARGET_ROUTE: Record<TargetId, string> = {
  direct: 'POST /v1/chat/completions (fake upstream)',
  floor: 'POST /v1/chat/completions',
  'gw-sqlite': 'POST /v1/chat/completions',
  'gw-pg': 'POST /v1/chat/completions',
  'seed-sqlite': 'POST /.netlify/functions/gateway-chat',
  'gw-sqlite-mon': 'POST /v1/chat/completions',
  'gw-sqlite-nomon': 'POST /v1/chat/completions',
  'gw-before': 'POST /v1/chat/completions',
  'gw-after': 'POST /v1/chat/completions',
};

export type CellStatus = { ok: true } | { ok: false; error: string };

export interface ChatCell {
  target: TargetId;
  concurrency: number;
  status: CellStatus;
  /** Successful requests over all rounds. */
  n: number;
  errors: number;
  rps: number;
  /** req/s of each measured window, in round order (rounds the target missed are absent). */
  roundRps?: number[];
  /** p50 latency (ns) of each measured window, in round order, like roundRps (NaN for a window with no answer). */
  roundP50?: number[];
  /** Server CPU µs per request of each measured window, like roundRps (NaN where unreadable). */
  roundCpuUs?: number[];
  lat: Summary;
  /** CPU of the server process (direct: the fake upstream) per request, µs. */
  cpuUsPerReq: number | null;
  /** Share of that CPU spent in the kernel (system time). */
  cpuSysShare: number | null;
  /** Gateways on PostgreSQL: CPU of the database's backends per request, µs (null if unreadable). */
  dbCpuUsPerReq?: number | null;
}

export interface StreamRow {
  target: TargetId;
  status: CellStatus;
  n: number;
  expectChunks: number;
  /** First body byte. */
  ttfb: Summary;
  /** First content chunk. */
  ttft: Summary;
  /** Last content chunk. */
  last: Summary;
  /** The finish-reason chunk, over the streams that had one (n = 0 for the seed stream). */
  finish: Summary;
  total: Summary;
  /** End of the response after the last content chunk, per stream (the terminal events: settle, finish, usage, [DONE]). */
  tail: Summary;
  /**
   * p50 (ns) of TTFB, of the end after the last content chunk and of the total, per measured
   * window in round order (rounds the target missed are absent; NaN for a window without a stream):
   * `--baseline` pairs them round by round, as it does the chat cells' windows.
   */
  rounds?: { ttfb: number[]; tail: number[]; total: number[] };
  /** Streams in which some content chunks shared a network read (were coalesced). */
  coalesced: number;
  /** Fewest separate reads carrying content in any stream (expectChunks = one by one). */
  minReads: number;
  /** Content chunks over all streams, and how many of them arrived in a read of their own. */
  chunks: number;
  chunksSeparate: number;
}

export interface ManyStreamsRow {
  target: TargetId;
  status: CellStatus;
  n: number;
  completed: number;
  failed: number;
  /** First failure, when some streams failed. */
  firstError: string | null;
  peakOpen: number;
  elapsedMs: number;
  /** Bytes of the server process; null when /proc is unreadable. */
  rss: { before: number; peak: number; after: number } | null;
}

export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  node: string;
  os: string;
  date: string;
  commit: string;
  /** /proc/loadavg at the start and the end of the run (other tenants skew numbers). */
  loadavg: string;
  /**
   * How an idle core waits (machine.ts, describeIdle): on a VM it moves every proxy's latency at
   * low concurrency by hundreds of µs. Absent in results written before 2026-12-07 (stop 28).
   */
  idle?: IdlePolicy;
  /** What a hop costs on this host, measured before any target starts (wake-probe.ts); null when the probe failed. Absent before stop 28. */
  wake?: WakeProbe | null;
}

/** A 1-byte loopback TCP round trip between the load generator's core and the servers' (wake-probe.ts), µs. */
export interface WakeProbe {
  backToBack: { p50: number; p90: number };
  afterIdle: { p50: number; p90: number };
  n: number;
  idleN: number;
  idleMs: number;
  /** Where the two ends ran, e.g. "core 0 and core 1"; absent when not pinned. */
  between?: string;
}

/** How an idle core of the machine waits for its next event (Linux cpuidle; machine.ts). */
export interface IdlePolicy {
  /** cpuidle's current driver (`haltpoll`, `intel_idle`, `acpi_idle`, `none`); null when unreadable. */
  driver: string | null;
  governor: string | null;
  /** The haltpoll driver's guest_halt_poll_ns; null without that module. */
  haltPollNs: number | null;
}

export interface BenchSettings {
  windowMs: number;
  warmupMs: number;
  rounds: number;
  concurrencies: number[];
  streamChunks: number;
  streamChunkDelayMs: number;
  manyStreams: number;
  manyChunkDelayMs: number;
  pinning: string;
  model: string;
  /** The monitoring-cost cell: gateway / SQLite with and without monitor events, interleaved. */
  monitorConcurrencies: number[];
  monitorRounds: number;
  monitorWindowMs: number;
  /** Warm-up of the first monitoring-cost cell (both gateways start fresh). */
  monitorWarmupMs: number;
  /**
   * Before the first chat cell, every target serves non-streaming chat at concurrency 16 for this
   * long, so a long-running process is measured and not V8 still optimising a fresh one.
   */
  steadyWarmupMs: number;
  /**
   * Before the stream cell (and `--baseline`'s), every streaming target serves unpaced streams one
   * after another for this long, so the code only streams run is as optimised as the chat path.
   * Absent in results from before the option (2026-12-06): no stream warm-up.
   */
  streamWarmupMs?: number;
  /**
   * The unpaced-streams cell: whole streams of `streamChunks` chunks from an unpaced upstream,
   * this many at a time, in windows of `unpacedWindowMs`. Absent in results from before the cell
   * (2026-12-07, stop 37).
   */
  unpacedConcurrency?: number;
  unpacedWindowMs?: number;
  /**
   * The bench customer's cap mode (`--cap-mode`): `hard` (the default and the targets' setting)
   * reserves the worst-case cost before each call; `soft` answers over the cap and only alerts,
   * so no reservation is held. Absent in results from before the option: hard.
   */
  capMode?: CapMode;
}

export type CapMode = 'hard' | 'soft';

/**
 * Monitor on (gw-sqlite-mon) vs off (gw-sqlite-nomon, MONITOR_ENABLED=false): two fresh gateways
 * with full governance, non-streaming chat, alternating in the same rounds. `written` is what each gateway's monitor writer
 * reported after the load (proof that the switch did what the row says); null when unreadable.
 */
export interface MonitorCost {
  cells: ChatCell[];
  written: { on: number | null; off: number | null };
}

/**
 * `--baseline REF`: the gateway / SQLite at a git ref (gw-before) and from this tree (gw-after),
 * two fresh processes alternating in the same rounds — before/after in one run.
 */
export interface BaselineCompare {
  ref: string;
  commit: string;
  cells: ChatCell[];
  stream: StreamRow[];
  /** The unpaced-streams cell, before and after (absent when not run). */
  unpaced?: ChatCell[];
  /** Why the comparison could not run (bad ref, a gateway that did not start), when it could not. */
  error?: string;
}

/** Median of each Server-Timing phase over one window of requests (µs). */
export interface PhaseRow {
  target: TargetId;
  /** Non-streaming chat (phases to the answer) or a stream (phases to its headers). */
  workload: 'chat' | 'stream';
  concurrency: number;
  /** Requests whose header was read. */
  n: number;
  /** Phase name → median µs, in the order the gateway reports them. */
  medianUs: [string, number][];
  /** Median the client saw over the same requests (µs): the whole answer (chat), the first byte (stream). */
  clientP50Us: number;
  error?: string;
}

export interface BenchResults {
  machine: Machine;
  settings: BenchSettings;
  chat: ChatCell[];
  stream: StreamRow[];
  /**
   * Streams at full speed (workloads.ts runStreamsCell): one cell per target in a chat cell's
   * shape, a whole stream as the answer (rps = streams/s, lat = a stream's duration, CPU per
   * stream). Absent in results from before the cell and when it was not run.
   */
  unpaced?: ChatCell[];
  many: ManyStreamsRow[];
  /** Absent when the monitoring-cost cell was not run (`--only` without `monitor`). */
  monitorCost?: MonitorCost;
  /** Absent unless `--baseline REF` was given. */
  baseline?: BaselineCompare;
  /** Where each gateway's time goes at concurrency 1 (its Server-Timing phases); absent when not run. */
  phases?: PhaseRow[];
  /** Targets that could not start at all (and why). */
  failures: { target: TargetId; error: string }[];
  /** The committed record's host (bench/results/latest.json as it was before this run), for the host line; absent when none. */
  recordHost?: RecordHost | null;
  notes: string[];
  durationMs: number;
}

/**
 * Where a run's report goes unless `--out` says: a full run (every target and workload, full
 * windows, hard caps) replaces `bench/results/latest.md`, the committed record; any partial run
 * (BenchOptions.partial) writes `bench/results/partial.md` instead (not committed), so a quick check
 * or a before/after run never overwrites the full results with a report that lacks their cells.
 */
export function reportPath(root: string, o: { out?: string; partial: boolean }): string {
  if (o.out !== undefined) return o.out;
  return join(root, 'bench/results', o.partial ? 'partial.md' : 'latest.md');
}
