import type { LoadClient } from './load-client.ts';
import type { OneStream, RequestSpec } from './protocol.ts';
import { cpuTimeUs, rssBytes, sleep } from './procs.ts';
import type { CellStatus, ChatCell, ManyStreamsRow, StreamRow, TargetId } from './results.ts';
import type { StreamFormat } from './sse.ts';
import { cpuPerRequestUs, dbCpuDeltaUs, mergeSamples, summarize } from './stats.ts';

/**
 * The measured workloads. Every cell runs in interleaved rounds: round r visits the targets in the
 * order roundOrder gives it, each for one short window, so slow drift of the machine (thermal,
 * other tenants) and what one target leaves behind for the next land on all targets alike.
 * Samples from the rounds are merged per target.
 */

export interface Runtime {
  id: TargetId;
  /** Process whose CPU and RSS are charged to this target. */
  pid: number;
  /** null while usable, else why not. */
  dead(): string | null;
  chat: RequestSpec;
  stream?: { req: RequestSpec; format: StreamFormat };
  /** The database's CPU so far, by backend (Gateway.dbCpu): gateways on PostgreSQL only. */
  dbCpu?: () => Promise<Map<number, number> | null>;
}

export interface Phase {
  windowMs: number;
  warmupMs: number;
  rounds: number;
}

/** Above this share of failed requests a cell is reported as failed rather than measured. */
export const MAX_ERROR_RATE = 0.01;

/** A window's p50, or NaN for a window with no sample (keeps the rounds aligned). */
const p50OrNaN = (v: number[]): number => (v.length ? summarize(v).p50 : Number.NaN);

/**
 * Round r's order of the targets: row r of a Williams design (a balanced Latin square). Over n
 * rounds each target takes every place once and, for an even n, follows every other target exactly
 * once within the rounds; with fewer rounds (3 of 5 by default) the neighbours still change from round to round. A
 * plain rotation kept every target behind the same neighbour in every round, so whatever that
 * neighbour left behind (a database's background work, a process woken cold, a warm shared
 * gateway) fell on one target only: the seed route always ran right after /v1 on the same warm
 * gateway. Two targets alternate: a b, b a, a b…
 */
export function roundOrder<T>(xs: readonly T[], round: number): T[] {
  const n = xs.length;
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const base = i === 0 ? 0 : i % 2 === 1 ? (i + 1) / 2 : n - i / 2;
    out.push(xs[(base + round) % n]!);
  }
  return out;
}

function statusOf(n: number, errors: number, firstError: string | null, dead: string | null): CellStatus {
  if (dead) return { ok: false, error: dead };
  if (n === 0) return { ok: false, error: firstError ?? 'no successful request' };
  if (errors / (n + errors) > MAX_ERROR_RATE) return { ok: false, error: `${errors} of ${n + errors} requests failed; first: ${firstError}` };
  return { ok: true };
}

/** Concurrency of the steady-state warm-up: enough requests in a few seconds for V8 to settle. */
export const STEADY_WARMUP_CONCURRENCY = 16;

/**
 * Steady state before measuring: each live target serves non-streaming chat for `ms`, one after
 * the other. A gateway runs for days; a fresh process still has V8 optimising (and deoptimising)
 * its hot path for its first ~10 000 requests, which costs a third more CPU per request and
 * shows most at concurrency 1. Failures here are left to the cells, which report them.
 */
export async function steadyWarmup(load: LoadClient, targets: Runtime[], ms: number, log: (s: string) => void): Promise<void> {
  const live = targets.filter((t) => !t.dead());
  if (!live.length || ms <= 0) return;
  log(`steady-state warm-up: ${ms} ms per target at concurrency ${STEADY_WARMUP_CONCURRENCY}`);
  for (const t of live) await load.closed({ req: t.chat, concurrency: STEADY_WARMUP_CONCURRENCY, durationMs: ms }).catch(() => undefined);
}

/**
 * Steady state for the streaming path, before the stream cell: each live streaming target serves
 * streams one after another for `ms` (the caller makes the upstream unpaced, so that is a few
 * hundred to a few thousand streams). The stream cell sends one stream at a time, a few dozen per
 * target and round, so without this the code only streams run (the SSE reader and writer, the
 * stream body's schema branch, the fake upstream's stream writer) never left V8's interpreter and
 * baseline tiers, while the chat path had been optimised by the steady warm-up. Measured on the
 * AMD host (bench/README.md, "Steady state"): a 1 s warm-up is not enough, 3 s and 8 s give the
 * same numbers. Failures are left to the cell, which reports them.
 */
export async function streamWarmup(load: LoadClient, targets: Runtime[], ms: number, expectChunks: number, log: (s: string) => void): Promise<void> {
  const live = targets.filter((t) => t.stream && !t.dead());
  if (!live.length || ms <= 0) return;
  log(`stream warm-up: ${ms} ms per target, one unpaced stream after another`);
  for (const t of live) await load.stream({ req: t.stream!.req, format: t.stream!.format, durationMs: ms, expectChunks }).catch(() => undefined);
}

/** One measured window of a closed-loop cell: the latency of each answer (ns) and what failed. */
interface Window {
  latNs: number[];
  errors: number;
  firstError: string | null;
  elapsedNs: number;
}

/** What a closed-loop cell runs on a target for one window: chat requests, or whole streams. */
interface ClosedWorkload {
  /** Per answer, in the log: "req/s", "streams/s". */
  unit: string;
  run(t: Runtime, durationMs: number): Promise<Window>;
}

/** Non-streaming chat at `concurrency`: req/s, latency, CPU per request. */
export function runChatCell(load: LoadClient, targets: Runtime[], concurrency: number, p: Phase, log: (s: string) => void): Promise<ChatCell[]> {
  return runClosedCell(targets, concurrency, p, log, { unit: 'req/s', run: (t, durationMs) => load.closed({ req: t.chat, concurrency, durationMs }) });
}

/**
 * Whole streams, `concurrency` at a time, each read to its terminal event and the next one sent at
 * once, on an unpaced upstream (the caller sets it): what relaying many streams at full speed
 * costs. The cell's shape is a chat cell's with a stream as the answer: streams/s, the latency of a
 * whole stream, CPU per stream. Targets without a stream route are left out.
 */
export function runStreamsCell(load: LoadClient, targets: Runtime[], concurrency: number, expectChunks: number, p: Phase, log: (s: string) => void): Promise<ChatCell[]> {
  const run = async (t: Runtime, durationMs: number): Promise<Window> => {
    const r = await load.stream({ req: t.stream!.req, format: t.stream!.format, durationMs, concurrency, expectChunks });
    return { latNs: r.streams.map((s) => s.totalNs), errors: r.errors, firstError: r.firstError, elapsedNs: r.elapsedNs };
  };
  return runClosedCell(targets.filter((t) => t.stream), concurrency, p, log, { unit: 'streams/s', run });
}

async function runClosedCell(targets: Runtime[], concurrency: number, p: Phase, log: (s: string) => void, work: ClosedWorkload): Promise<ChatCell[]> {
  const acc = new Map(targets.map((t) => [t.id, { lat: [] as number[][], roundRps: [] as number[], roundP50: [] as number[], roundCpu: [] as number[], errors: 0, firstError: null as string | null, elapsedNs: 0, cpuUs: 0, sysUs: 0, cpuKnown: true, dbCpuUs: 0, dbCpuKnown: !!t.dbCpu, dead: null as string | null }]));
  const live = () => targets.filter((t) => !acc.get(t.id)!.dead);
  const mark = (t: Runtime, why: string) => (acc.get(t.id)!.dead = why);
  for (const t of live()) {
    const why = t.dead();
    if (why) mark(t, why);
    else await work.run(t, p.warmupMs).catch((e: Error) => mark(t, e.message));
  }
  for (let r = 0; r < p.rounds; r++) {
    for (const t of roundOrder(live(), r)) {
      const why = t.dead();
      if (why) {
        mark(t, why);
        continue;
      }
      const a = acc.get(t.id)!;
      const db0 = t.dbCpu ? await t.dbCpu() : null;
      const cpu0 = cpuTimeUs(t.pid);
      let res: Window;
      try {
        res = await work.run(t, p.windowMs);
      } catch (e) {
        mark(t, (e as Error).message);
        continue;
      }
      const cpu1 = cpuTimeUs(t.pid);
      if (t.dbCpu) {
        const us = dbCpuDeltaUs(db0, await t.dbCpu());
        if (us == null) a.dbCpuKnown = false;
        else a.dbCpuUs += us;
      }
      // One entry per window (NaN where unknown), so the rounds of two targets pair up by index.
      if (cpu0 == null || cpu1 == null) {
        a.cpuKnown = false;
        a.roundCpu.push(Number.NaN);
      } else {
        a.cpuUs += cpu1.total - cpu0.total;
        a.sysUs += cpu1.sys - cpu0.sys;
        a.roundCpu.push(res.latNs.length ? (cpu1.total - cpu0.total) / res.latNs.length : Number.NaN);
      }
      a.lat.push(res.latNs);
      a.roundRps.push(res.elapsedNs > 0 ? res.latNs.length / (res.elapsedNs / 1e9) : 0);
      a.roundP50.push(p50OrNaN(res.latNs));
      a.errors += res.errors;
      a.firstError ??= res.firstError;
      a.elapsedNs += res.elapsedNs;
    }
  }
  return targets.map((t) => {
    const a = acc.get(t.id)!;
    const lat = mergeSamples(a.lat);
    const n = lat.length;
    const cell: ChatCell = {
      target: t.id,
      concurrency,
      status: statusOf(n, a.errors, a.firstError, a.dead),
      n,
      errors: a.errors,
      rps: a.elapsedNs > 0 ? n / (a.elapsedNs / 1e9) : 0,
      roundRps: a.roundRps,
      roundP50: a.roundP50,
      roundCpuUs: a.roundCpu,
      lat: summarize(lat),
      cpuUsPerReq: a.cpuKnown ? cpuPerRequestUs(0, a.cpuUs, n) : null,
      cpuSysShare: a.cpuKnown && a.cpuUs > 0 ? a.sysUs / a.cpuUs : null,
      ...(t.dbCpu ? { dbCpuUsPerReq: a.dbCpuKnown ? cpuPerRequestUs(0, a.dbCpuUs, n) : null } : {}),
    };
    log(`  ${t.id.padEnd(12)} c=${String(concurrency).padEnd(3)} ${cell.status.ok ? `${Math.round(cell.rps)} ${work.unit}, p50 ${Math.round(cell.lat.p50 / 1000)} µs` : `FAILED ${cell.status.error.split('\n')[0].slice(0, 140)}`}`);
    return cell;
  });
}

export async function runStreamCell(load: LoadClient, targets: Runtime[], expectChunks: number, p: Phase, log: (s: string) => void): Promise<StreamRow[]> {
  const withStream = targets.filter((t) => t.stream);
  const acc = new Map(
    withStream.map((t) => [t.id, { streams: [] as OneStream[], rounds: { ttfb: [] as number[], tail: [] as number[], total: [] as number[] }, errors: 0, firstError: null as string | null, dead: null as string | null }]),
  );
  for (let r = 0; r < p.rounds; r++) {
    for (const t of roundOrder(withStream, r)) {
      const a = acc.get(t.id)!;
      if (a.dead) continue;
      const why = t.dead();
      if (why) {
        a.dead = why;
        continue;
      }
      try {
        if (r === 0) await load.stream({ req: t.stream!.req, format: t.stream!.format, durationMs: Math.min(p.warmupMs, 200), expectChunks });
        const res = await load.stream({ req: t.stream!.req, format: t.stream!.format, durationMs: p.windowMs, expectChunks });
        a.streams.push(...res.streams);
        a.rounds.ttfb.push(p50OrNaN(res.streams.map((x) => x.ttfbNs)));
        a.rounds.tail.push(p50OrNaN(res.streams.map((x) => x.totalNs - x.lastNs)));
        a.rounds.total.push(p50OrNaN(res.streams.map((x) => x.totalNs)));
        a.errors += res.errors;
        a.firstError ??= res.firstError;
      } catch (e) {
        a.dead = (e as Error).message;
      }
    }
  }
  return withStream.map((t) => {
    const a = acc.get(t.id)!;
    const s = a.streams;
    const row: StreamRow = {
      target: t.id,
      status: statusOf(s.length, a.errors, a.firstError, a.dead),
      n: s.length,
      expectChunks,
      ttfb: summarize(s.map((x) => x.ttfbNs)),
      ttft: summarize(s.map((x) => x.ttftNs)),
      last: summarize(s.map((x) => x.lastNs)),
      finish: summarize(s.filter((x) => x.finishNs > 0).map((x) => x.finishNs)),
      total: summarize(s.map((x) => x.totalNs)),
      tail: summarize(s.map((x) => x.totalNs - x.lastNs)),
      rounds: a.rounds,
      coalesced: s.filter((x) => x.readsWithContent < x.content).length,
      minReads: s.length ? Math.min(...s.map((x) => x.readsWithContent)) : 0,
      chunks: s.reduce((a, x) => a + x.content, 0),
      chunksSeparate: s.reduce((a, x) => a + x.alone, 0),
    };
    log(`  ${t.id.padEnd(12)} stream ${row.status.ok ? `${row.n} streams, TTFB p50 ${Math.round(row.ttfb.p50 / 1000)} µs, ${((100 * row.chunksSeparate) / Math.max(1, row.chunks)).toFixed(1)} % of chunks in their own read` : `FAILED ${row.status.error.split('\n')[0].slice(0, 140)}`}`);
    return row;
  });
}

export interface ManyOpts {
  n: number;
  expectChunks: number;
  timeoutMs: number;
  settleMs: number;
}

/** N streams held open at once against one target; RSS of its process sampled throughout. */
export async function runMany(load: LoadClient, t: Runtime, o: ManyOpts, log: (s: string) => void): Promise<ManyStreamsRow> {
  const empty = { target: t.id, firstError: null, n: o.n, completed: 0, failed: 0, peakOpen: 0, elapsedMs: 0, rss: null };
  const why = t.dead();
  if (why || !t.stream) return { ...empty, status: { ok: false, error: why ?? 'no stream route' } };
  const before = rssBytes(t.pid);
  let peak = before ?? 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssBytes(t.pid) ?? 0);
      await sleep(20);
    }
  })();
  try {
    const res = await load.many({ req: t.stream.req, format: t.stream.format, n: o.n, expectChunks: o.expectChunks, rampBatch: 100, rampGapMs: 20, timeoutMs: o.timeoutMs });
    await sleep(o.settleMs);
    sampling = false;
    await sampler;
    const after = rssBytes(t.pid);
    const row: ManyStreamsRow = {
      target: t.id,
      status: { ok: true },
      firstError: res.firstError,
      n: o.n,
      completed: res.completed,
      failed: res.failed,
      peakOpen: res.peakOpen,
      elapsedMs: res.elapsedNs / 1e6,
      rss: before != null && after != null ? { before, peak: Math.max(peak, after), after } : null,
    };
    log(`  ${t.id.padEnd(12)} ${o.n} streams: ${res.completed} complete, ${res.failed} failed, RSS ${row.rss ? `${(row.rss.before / 1e6).toFixed(0)} → ${(row.rss.peak / 1e6).toFixed(0)} → ${(row.rss.after / 1e6).toFixed(0)} MB` : 'n/a'}`);
    return row;
  } catch (e) {
    sampling = false;
    await sampler;
    return { ...empty, status: { ok: false, error: (e as Error).message } };
  }
}
