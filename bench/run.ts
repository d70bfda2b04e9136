import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baselineTree } from './baseline.ts';
import type { Gateway } from './gateway.ts';
import { readRecordHost } from './host.ts';
import { LoadClient } from './load-client.ts';
import { BenchUsageError, parseBenchArgs, runBoundNote, USAGE, type BenchOptions } from './options.ts';
import { describeMachine, idleSummary, loadavg } from './machine.ts';
import { planPinning, sleep } from './procs.ts';
import { runProfile } from './profile-run.ts';
import { runInstructions } from './instructions.ts';
import { renderInstructions } from './instructions-report.ts';
import { renderIc, runIc } from './ic.ts';
import { ensureLocalPostgres } from './services.ts';
import { renderReport } from './report.ts';
import { reportPath, TARGET_LABEL, type BaselineCompare, type BenchResults, type BenchSettings, type CapMode, type ChatCell, type ManyStreamsRow, type PhaseRow, type StreamRow } from './results.ts';
import { directRuntime, floorRuntime, gatewayRuntimes, smoke, startFloor, startGatewaySafe, startUpstream, UPSTREAM_KEY, type Upstream } from './targets-setup.ts';
import { evaluateTargets } from './targets.ts';
import { runChatCell, runMany, runStreamCell, runStreamsCell, steadyWarmup, streamWarmup, type Phase, type Runtime } from './workloads.ts';
import { runPhases } from './phases.ts';
import { probeWakeups } from './wake-probe.ts';

/**
 * `npm run bench`: direct vs floor proxy vs gateway (SQLite, PostgreSQL) in one interleaved run.
 * Options: bench/options.ts (`npm run bench -- --help`).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const t0 = Date.now();
/** Progress on stderr, each line with the seconds since the start (the run is bounded: < 4 min). */
const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);

const opts = (() => {
  try {
    return parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof BenchUsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
})();
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const num = (k: keyof BenchOptions['n'], def: number) => opts.n[k] ?? def;
const capMode: CapMode = opts.capMode;
const quick = opts.quick;
const pinning = planPinning(opts.upstreamCore);
const settings: BenchSettings = {
  windowMs: num('window', quick ? 300 : 1500),
  warmupMs: num('warmup', quick ? 150 : 400),
  rounds: num('rounds', quick ? 2 : 3),
  concurrencies: [1, 16, 64],
  streamChunks: 20,
  streamChunkDelayMs: 5,
  manyStreams: num('streams', quick ? 200 : 1000),
  manyChunkDelayMs: 100,
  pinning: pinning.note,
  model: opts.model,
  monitorConcurrencies: [16, 64],
  // Two targets only: more, shorter alternating rounds than the other cells, for the same time.
  monitorRounds: num('monitor-rounds', quick ? 2 : 8),
  monitorWindowMs: num('monitor-window', quick ? 300 : 750),
  monitorWarmupMs: num('monitor-warmup', quick ? 300 : 2000),
  steadyWarmupMs: num('steady-warmup', quick ? 300 : 4000),
  streamWarmupMs: num('stream-warmup', quick ? 300 : 2000),
  unpacedConcurrency: num('unpaced-concurrency', 16),
  unpacedWindowMs: num('unpaced-window', quick ? 300 : 750),
  capMode,
};
const only = opts.only;
const runCells = opts.cells;
const pgAdminUrl = opts.pgUrl ?? process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

type GatewayId = 'gw-sqlite' | 'gw-pg' | 'gw-sqlite-mon' | 'gw-sqlite-nomon';
/**
 * The monitoring-cost cell gets its own pair of fresh SQLite gateways, identical but for
 * MONITOR_ENABLED: same age, same table sizes, same warm-up, so the difference is the monitor.
 */
const GATEWAYS: { id: GatewayId; kind: 'sqlite' | 'postgres'; env?: Record<string, string>; when: 'gw-sqlite' | 'gw-pg' | 'monitor' }[] = [
  { id: 'gw-sqlite', kind: 'sqlite', when: 'gw-sqlite' },
  { id: 'gw-pg', kind: 'postgres', when: 'gw-pg' },
  { id: 'gw-sqlite-mon', kind: 'sqlite', when: 'monitor' },
  { id: 'gw-sqlite-nomon', kind: 'sqlite', env: { MONITOR_ENABLED: 'false' }, when: 'monitor' },
];

const stoppers: (() => Promise<void>)[] = [];
async function cleanup() {
  for (const s of stoppers.splice(0).reverse()) await s().catch(() => {});
}
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));

async function bench(): Promise<BenchResults> {
  const started = Date.now();
  const machine = describeMachine(ROOT);
  log(`kaixu bench — ${machine.cpu}, ${machine.cores} cores, node ${machine.node}; idle cores: ${idleSummary(machine.idle)}; ${pinning.note}`);
  // Before any target starts, on a quiet machine: what one hop between the two cores costs here.
  machine.wake = await probeWakeups({ root: ROOT, loadCores: pinning.load, serverCores: pinning.servers, n: quick ? 300 : 2000, idleN: quick ? 50 : 200, idleMs: 1 }).catch((e: Error) => {
    log(`wake probe failed: ${e.message.split('\n')[0]}`);
    return null;
  });
  if (machine.wake) log(`cross-core round trip: p50 ${Math.round(machine.wake.backToBack.p50)} µs back to back, ${Math.round(machine.wake.afterIdle.p50)} µs after ${machine.wake.idleMs} ms idle`);
  const failures: BenchResults['failures'] = [];
  const notes: string[] = [];

  const upstream = await startUpstream(ROOT, pinning.upstream);
  stoppers.push(() => upstream.child.stop());
  const runtimes: (Runtime & { smokeFailure?: string })[] = [];
  if (only.has('direct')) runtimes.push(directRuntime(upstream, settings.model));
  const gwSpecs = GATEWAYS.filter((g) => only.has(g.when));
  if (gwSpecs.some((g) => g.kind === 'postgres')) {
    const note = await localPostgres();
    if (note) notes.push(note);
  }
  log(`starting ${[...(only.has('floor') ? ['the floor proxy'] : []), ...gwSpecs.map((g) => TARGET_LABEL[g.id]), 'the load generator'].join(', ')}…`);
  // All at once: the gateways boot on every core and are pinned once set up (gateway.ts).
  const [floorS, gwsS, loadS] = await Promise.allSettled([
    only.has('floor') ? startFloor(ROOT, pinning.servers, upstream.url) : Promise.resolve(null),
    Promise.all(
      gwSpecs.map(({ kind, env }) =>
        startGatewaySafe({ kind, root: ROOT, cores: pinning.servers, upstreamBase: `${upstream.url}/v1`, upstreamKey: UPSTREAM_KEY, model: settings.model, pgAdminUrl, capMode, env }),
      ),
    ),
    LoadClient.start(ROOT, pinning.load),
  ]);
  if (floorS.status === 'fulfilled' && floorS.value) stoppers.push(() => floorS.value!.child.stop());
  if (loadS.status === 'fulfilled') stoppers.push(() => loadS.value.stop());
  // startGatewaySafe never rejects: a gateway that did not start is an Error in its place.
  const gws = gwsS.status === 'fulfilled' ? gwsS.value : [];
  for (const g of gws) if (!(g instanceof Error)) stoppers.push(() => g.stop());
  if (floorS.status === 'rejected') throw floorS.reason;
  if (loadS.status === 'rejected') throw loadS.reason;
  const load = loadS.value;
  if (floorS.value) runtimes.push(floorRuntime(floorS.value, settings.model));
  const gateways: { id: GatewayId; gw: Gateway }[] = [];
  const monitorRts: (Runtime & { smokeFailure?: string })[] = [];
  gwSpecs.forEach(({ id }, i) => {
    const g = gws[i];
    if (g instanceof Error) {
      failures.push({ target: id, error: g.message });
      log(`  ${id} did not start: ${g.message.split('\n')[0]}`);
      return;
    }
    gateways.push({ id, gw: g });
    const rts = gatewayRuntimes(id, g, settings.model);
    if (id === 'gw-sqlite-mon' || id === 'gw-sqlite-nomon') monitorRts.push(rts[0]);
    else runtimes.push(...rts);
  });

  await upstream.setDefault({ kind: 'ok' });
  await smoke(load, [...runtimes, ...monitorRts]);
  for (const rt of [...runtimes, ...monitorRts]) if (rt.smokeFailure) log(`  ${rt.id}: ${rt.smokeFailure.split('\n')[0].slice(0, 200)}`);

  // First, while the servers are idle: RSS growth then measures what the streams cost, not what is
  // left of the heap earlier load phases grew.
  log(`${settings.manyStreams} concurrent streams, chunks ${settings.manyChunkDelayMs} ms apart`);
  await upstream.setDefault({ kind: 'ok', chunks: settings.streamChunks, chunkDelayMs: settings.manyChunkDelayMs });
  const many: ManyStreamsRow[] = [];
  for (const rt of runtimes.filter((r) => r.stream && runCells.has('many'))) {
    many.push(await runMany(load, rt, { n: settings.manyStreams, expectChunks: settings.streamChunks, timeoutMs: 60_000, settleMs: 1_000 }, log));
  }

  await upstream.setDefault({ kind: 'ok' });
  if (runCells.has('chat') || only.has('monitor')) await steadyWarmup(load, [...runtimes, ...monitorRts], settings.steadyWarmupMs, log);
  const phase: Phase = { windowMs: settings.windowMs, warmupMs: settings.warmupMs, rounds: settings.rounds };
  const chat: ChatCell[] = [];
  for (const c of runCells.has('chat') ? settings.concurrencies : []) {
    log(`non-streaming chat, concurrency ${c}`);
    chat.push(...(await runChatCell(load, runtimes, c, phase, log)));
  }
  const phases: PhaseRow[] = [];
  for (const rt of runCells.has('chat') ? runtimes.filter((r) => r.id === 'gw-sqlite' || r.id === 'gw-pg') : []) {
    log(`where the time goes: ${rt.id}, concurrency 1, Server-Timing`);
    phases.push(await runPhases(load, rt, 'chat', settings.windowMs));
  }

  let monitorCost: BenchResults['monitorCost'];
  if (only.has('monitor')) {
    // Monitor on vs off, alternating in the same rounds: what per-request monitor events cost.
    // The first cell's longer warm-up lets V8 optimise both fresh processes alike.
    const cells: ChatCell[] = [];
    for (const [i, c] of settings.monitorConcurrencies.entries()) {
      log(`monitoring cost (monitor on vs off), concurrency ${c}`);
      const p: Phase = { windowMs: settings.monitorWindowMs, rounds: settings.monitorRounds, warmupMs: i === 0 ? settings.monitorWarmupMs : settings.warmupMs };
      cells.push(...(await runChatCell(load, monitorRts, c, p, log)));
    }
    const recorded = async (id: GatewayId) => (await gateways.find((g) => g.id === id)?.gw.monitorRecorded()) ?? null;
    await sleep(500); // let the monitor writer flush what is queued
    monitorCost = { cells, written: { on: await recorded('gw-sqlite-mon'), off: await recorded('gw-sqlite-nomon') } };
  }

  if (runCells.has('stream') || runCells.has('unpaced')) await warmStreams(upstream, load, runtimes);
  const unpaced = runCells.has('unpaced') ? await unpacedStreams(upstream, load, runtimes, { windowMs: settings.unpacedWindowMs!, warmupMs: settings.warmupMs, rounds: settings.rounds }) : undefined;
  log(`streaming chat, ${settings.streamChunks} chunks ${settings.streamChunkDelayMs} ms apart`);
  await upstream.setDefault({ kind: 'ok', chunks: settings.streamChunks, chunkDelayMs: settings.streamChunkDelayMs });
  const stream: StreamRow[] = runCells.has('stream') ? await runStreamCell(load, runtimes, settings.streamChunks, phase, log) : [];
  for (const rt of runCells.has('stream') ? runtimes.filter((r) => r.id === 'gw-sqlite' || r.id === 'gw-pg') : []) {
    log(`where the time goes: ${rt.id}, one stream at a time, Server-Timing`);
    phases.push(await runPhases(load, rt, 'stream', 2 * settings.windowMs, settings.streamChunks));
  }

  const baseline = opts.baseline ? await compareBaseline(opts.baseline, upstream, load) : undefined;

  if (quick) notes.push('`--quick` run: windows too short for meaningful numbers (harness check only).');
  if (!pinning.load) notes.push(`Processes were ${pinning.note}; load generator and servers compete for the same cores.`);
  notes.push('Direct and floor rows measure the same fake upstream (test/fakes/openai.ts) the gateway calls; it answers from precomputed bodies.');
  for (const { id, gw } of gateways) {
    notes.push(`${TARGET_LABEL[id]} governance: refused ${gw.refusals}; after the run: ${await gw.finish()}.`);
  }
  log('stopping…');
  await cleanup();
  machine.loadavg = `${machine.loadavg} → ${loadavg()}`;
  const durationMs = Date.now() - started;
  const overBound = runBoundNote(opts, durationMs);
  if (overBound) {
    notes.push(overBound);
    log(overBound);
  }
  return { machine, settings, chat, stream, ...(unpaced ? { unpaced } : {}), many, monitorCost, baseline, phases, failures, notes, durationMs };
}

/** The unpaced-streams cell (workloads.ts runStreamsCell) on an unpaced upstream. */
async function unpacedStreams(upstream: Upstream, load: LoadClient, targets: Runtime[], p: Phase): Promise<ChatCell[]> {
  log(`streams at full speed: ${settings.streamChunks} chunks unpaced, ${settings.unpacedConcurrency} at a time`);
  await upstream.setDefault({ kind: 'ok', chunks: settings.streamChunks, chunkDelayMs: 0 });
  return runStreamsCell(load, targets, settings.unpacedConcurrency!, settings.streamChunks, p, log);
}

/** The stream warm-up (workloads.ts streamWarmup) on an unpaced upstream; the caller sets the cell's pacing after it. */
async function warmStreams(upstream: Upstream, load: LoadClient, targets: Runtime[]): Promise<void> {
  const ms = settings.streamWarmupMs ?? 0;
  if (ms <= 0) return;
  await upstream.setDefault({ kind: 'ok', chunks: settings.streamChunks, chunkDelayMs: 0 });
  await streamWarmup(load, targets, ms, settings.streamChunks, log);
}

/**
 * Before/after: a fresh gateway / SQLite from REF (a temporary worktree) and one from this tree,
 * alternating in the monitoring cell's rounds (non-streaming chat at each concurrency, then the
 * stream cell). Failures are reported in the section, never as a comparison.
 */
async function compareBaseline(ref: string, upstream: Upstream, load: LoadClient): Promise<BaselineCompare> {
  log(`before/after: gateway / SQLite at ${ref} vs this tree`);
  let tree;
  try {
    tree = baselineTree(ROOT, ref);
  } catch (e) {
    return { ref, commit: '', cells: [], stream: [], error: (e as Error).message };
  }
  stoppers.push(() => tree.remove());
  const base = { kind: 'sqlite' as const, cores: pinning.servers, upstreamBase: `${upstream.url}/v1`, upstreamKey: UPSTREAM_KEY, model: settings.model, pgAdminUrl, capMode };
  const [before, after] = await Promise.all([startGatewaySafe({ ...base, root: tree.dir }), startGatewaySafe({ ...base, root: ROOT })]);
  for (const g of [before, after]) if (!(g instanceof Error)) stoppers.push(() => g.stop());
  if (before instanceof Error || after instanceof Error) {
    const which = before instanceof Error ? `the ${ref} gateway did not start: ${before.message}` : `this tree's gateway did not start: ${(after as Error).message}`;
    return { ref, commit: tree.commit, cells: [], stream: [], error: which.split('\n').slice(0, 4).join(' ⏎ ') };
  }
  const rts = [...gatewayRuntimes('gw-before', before, settings.model), ...gatewayRuntimes('gw-after', after, settings.model)];
  await upstream.setDefault({ kind: 'ok' });
  await smoke(load, rts);
  await steadyWarmup(load, rts, settings.steadyWarmupMs, log);
  const cells: ChatCell[] = [];
  for (const [i, c] of settings.concurrencies.entries()) {
    log(`  before/after, concurrency ${c}`);
    const p: Phase = { windowMs: settings.monitorWindowMs, rounds: settings.monitorRounds, warmupMs: i === 0 ? settings.monitorWarmupMs : settings.warmupMs };
    cells.push(...(await runChatCell(load, rts, c, p, log)));
  }
  await warmStreams(upstream, load, rts);
  const unpaced = await unpacedStreams(upstream, load, rts, { windowMs: settings.monitorWindowMs, warmupMs: settings.warmupMs, rounds: settings.monitorRounds });
  await upstream.setDefault({ kind: 'ok', chunks: settings.streamChunks, chunkDelayMs: settings.streamChunkDelayMs });
  const stream = await runStreamCell(load, rts, settings.streamChunks, { windowMs: settings.windowMs, warmupMs: settings.warmupMs, rounds: settings.rounds }, log);
  return { ref, commit: tree.commit, cells, stream, unpaced };
}

/**
 * Starts the local PostgreSQL if it is down (services.ts); a note for the report when the bench
 * started it. Any other outcome only logs: the PostgreSQL target then fails with its own error.
 */
async function localPostgres(): Promise<string | null> {
  const r = await ensureLocalPostgres(pgAdminUrl);
  if (r.state === 'started') {
    const what = `the local PostgreSQL (cluster ${r.cluster.version}/${r.cluster.name}, port ${r.cluster.port}) was down; the bench started it (pg_ctlcluster)`;
    log(what);
    return `${what[0]!.toUpperCase()}${what.slice(1)}.`;
  }
  if (r.state === 'failed' || r.state === 'unknown') log(`the local PostgreSQL: ${r.why}`);
  return null;
}

/**
 * `--instructions`: counted, not timed (instructions.ts); written to bench/results/instructions.md
 * (streams: instructions-stream.md; an Anthropic upstream: instructions-anthropic.md, instructions-stream-anthropic.md).
 */
async function instructions(): Promise<void> {
  const i = opts.instructions;
  const machine = describeMachine(ROOT);
  const tree = opts.baseline ? baselineTree(ROOT, opts.baseline) : undefined;
  if (tree) stoppers.push(() => tree.remove());
  const s = { warmup: i.warmup, requests: i.requests, rounds: i.rounds, idleMs: i.idleMs, keepDir: i.keepDir, ...(i.stream ? { streamChunks: settings.streamChunks } : {}), ...(i.provider !== 'openai' ? { provider: i.provider } : {}) };
  const targets = await runInstructions({ root: ROOT, model: settings.model, settings: s, targets: i.targets, commit: machine.commit, baseline: tree, log, stoppers });
  await cleanup();
  const file = `instructions${i.stream ? '-stream' : ''}${i.provider !== 'openai' ? `-${i.provider}` : ''}.md`;
  printAndWrite(renderInstructions(machine, s, targets, `Run took ${Math.round((Date.now() - t0) / 1000)} s.`), `bench/results/${file}`);
}

/** Prints a counted mode's report and writes it to `--out`, else to its default file (none with --no-write). */
function printAndWrite(md: string, defaultPath: string): void {
  process.stdout.write(`\n${md}`);
  if (opts.noWrite) return;
  const out = opts.out ?? join(ROOT, defaultPath);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  log(`written to ${out}`);
}

/** `--ic`: IC misses per request (ic.ts); written to bench/results/ic.md. */
async function ic(): Promise<void> {
  const machine = describeMachine(ROOT);
  const tree = opts.baseline ? baselineTree(ROOT, opts.baseline) : undefined;
  if (tree) stoppers.push(() => tree.remove());
  const s = opts.ic;
  const trees = await runIc({ root: ROOT, model: settings.model, settings: s, baseline: tree && { root: tree.dir, ref: opts.baseline! }, log, stoppers }, machine.commit);
  await cleanup();
  const header = `- **Machine**: ${machine.cpu} · **Node**: ${process.version} · **date**: ${new Date().toISOString()} · **commit**: ${machine.commit} · run took ${Math.round((Date.now() - t0) / 1000)} s.`;
  printAndWrite(renderIc(trees, s, header), 'bench/results/ic.md');
}

async function main() {
  if (opts.instructions.on) return instructions();
  if (opts.ic.on) return ic();
  if (opts.profile.on) {
    const { target, seconds, concurrency, warmupSeconds, stream } = opts.profile;
    if (target === 'postgres') await localPostgres();
    const prof = await runProfile({ root: ROOT, pinning, model: settings.model, seconds, concurrency, warmupSeconds, kind: target, pgAdminUrl, capMode, ...(stream ? { streamChunks: settings.streamChunks } : {}), log, stoppers });
    await cleanup();
    const base = `bench/results/profile-${target}${stream ? '-stream' : ''}${capMode === 'soft' ? '-soft' : ''}`;
    const files = `Flame graph: \`${base}.svg\` (open in a browser, hover a box for its times). The measured window as a V8 profile: \`${base}.cpuprofile\` (Chrome DevTools → Performance → Load profile, or speedscope; not committed).\n`;
    const md = opts.noWrite ? prof.md : `${prof.md}\n${files}`;
    process.stdout.write(md);
    if (!opts.noWrite) {
      writeFileSync(join(ROOT, `${base}.md`), md);
      writeFileSync(join(ROOT, `${base}.svg`), prof.svg);
      writeFileSync(join(ROOT, `${base}.cpuprofile`), JSON.stringify(prof.profile));
    }
    return;
  }
  // The record as committed, read before this run may replace it: the report compares hosts.
  const recordHost = readRecordHost(join(ROOT, 'bench/results/latest.json'));
  const results = { ...(await bench()), recordHost };
  const md = renderReport(results);
  process.stdout.write(`\n${md}`);
  if (!opts.noWrite) {
    const out = reportPath(ROOT, opts);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, md);
    writeFileSync(out.replace(/\.md$/, '.json'), JSON.stringify(results, null, 2));
    log(`written to ${out}`);
  }
  const missed = evaluateTargets(results).filter((c) => c.verdict !== 'met').length;
  if (missed) log(`${missed} target(s) not met`);
}

main().then(() => process.exit(0), async (e: Error) => {
  log(`bench failed: ${e.stack ?? e.message}`);
  await cleanup();
  process.exit(1);
});
