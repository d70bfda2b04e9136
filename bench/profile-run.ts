import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gateway } from './gateway.ts';
import { LoadClient } from './load-client.ts';
import type { Pinning } from './procs.ts';
import { renderFlameGraph } from './flamegraph.ts';
import { readProfile, renderProfile, type CpuProfile } from './profile.ts';
import { gatewayRuntimes, startGatewaySafe, startUpstream, UPSTREAM_KEY } from './targets-setup.ts';
import type { CapMode } from './results.ts';

/**
 * `npm run bench -- --profile`: one gateway under node --cpu-prof, non-streaming chat at
 * concurrency C (default 16) for N seconds, then where its CPU went (boot excluded).
 */

export interface ProfileOpts {
  root: string;
  pinning: Pinning;
  model: string;
  seconds: number;
  /** Closed-loop concurrency of the load (default 16). */
  concurrency?: number;
  /** Load before the profiled window, so V8 has optimised the hot path (default 5 s). */
  warmupSeconds?: number;
  kind: 'sqlite' | 'postgres';
  pgAdminUrl: string;
  /** The bench customer's cap mode (default hard). */
  capMode?: CapMode;
  /** Whole streams of this many chunks from an unpaced upstream instead of non-streaming chat (`--profile-stream`). */
  streamChunks?: number;
  log(s: string): void;
  stoppers: (() => Promise<void>)[];
}

/** Drop the samples taken before `fromUs` after the profile's start (process boot, migrations). */
export function sliceProfile(p: CpuProfile, fromUs: number): CpuProfile {
  let t = 0;
  let i = 0;
  while (i < p.timeDeltas.length && t + p.timeDeltas[i] < fromUs) t += p.timeDeltas[i++];
  return { ...p, samples: p.samples.slice(i), timeDeltas: p.timeDeltas.slice(i) };
}

export interface ProfileResult {
  /** The markdown summary (areas, top functions). */
  md: string;
  /** Flame graph of the measured window (SVG). */
  svg: string;
  /** The measured window as a .cpuprofile (Chrome DevTools, speedscope). */
  profile: CpuProfile;
}

export async function runProfile(o: ProfileOpts): Promise<ProfileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kaixu-prof-'));
  o.stoppers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const upstream = await startUpstream(o.root, o.pinning.upstream);
  o.stoppers.push(() => upstream.child.stop());
  const spawnedAt = Date.now();
  const gw = await startGatewaySafe({
    kind: o.kind,
    root: o.root,
    cores: o.pinning.servers,
    upstreamBase: `${upstream.url}/v1`,
    upstreamKey: UPSTREAM_KEY,
    model: o.model,
    pgAdminUrl: o.pgAdminUrl,
    capMode: o.capMode,
    profileDir: dir,
  });
  if (gw instanceof Error) throw gw;
  o.stoppers.push(() => (gw as Gateway).stop());
  const load = await LoadClient.start(o.root, o.pinning.load);
  o.stoppers.push(() => load.stop());
  const [rt] = gatewayRuntimes(o.kind === 'sqlite' ? 'gw-sqlite' : 'gw-pg', gw, o.model);
  const warmS = o.warmupSeconds ?? 5;
  const concurrency = o.concurrency ?? 16;
  const chunks = o.streamChunks;
  const what = chunks ? `whole streams of ${chunks} chunks, unpaced` : 'non-streaming chat';
  o.log(`profiling gateway/${o.kind}, ${what}: warm-up ${warmS} s, then ${o.seconds} s at concurrency ${concurrency}`);
  if (chunks) await upstream.setDefault({ kind: 'ok', chunks, chunkDelayMs: 0 });
  const run = async (durationMs: number) => {
    if (!chunks) return load.closed({ req: rt.chat, concurrency, durationMs });
    const r = await load.stream({ req: rt.stream!.req, format: rt.stream!.format, durationMs, concurrency, expectChunks: chunks });
    return { latNs: r.streams.map((x) => x.totalNs), errors: r.errors, firstError: r.firstError, elapsedNs: r.elapsedNs };
  };
  const warm = await run(warmS * 1_000);
  if (warm.latNs.length === 0) throw new Error(`gateway does not answer: ${warm.firstError}`);
  const measuredFrom = Date.now();
  const res = await run(o.seconds * 1_000);
  const measuredTo = Date.now();
  await load.stop();
  await gw.child.stop('SIGTERM', 15_000); // --cpu-prof writes the profile at exit
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written (gateway exit: ${gw.child.tail().slice(-400)})`);
  const full = readProfile(join(dir, file));
  // The profile clock starts with the process; cut boot + warm-up, keep the measured window.
  const cut = sliceProfile(full, (measuredFrom - spawnedAt) * 1000);
  const kept = { ...cut, ...sliceTail(cut, (measuredTo - measuredFrom) * 1000) };
  await gw.stop();
  const title = `Gateway CPU profile (${o.kind}, ${what}, concurrency ${concurrency}, ${o.seconds} s${o.capMode === 'soft' ? ', soft caps' : ''})`;
  const unit = chunks ? 'streams' : 'requests';
  const md = [
    `# ${title}`,
    '',
    `${res.latNs.length} ${unit} answered, ${res.errors} errors, ${Math.round(res.latNs.length / (res.elapsedNs / 1e9))} ${chunks ? 'streams' : 'req'}/s under the profiler (slower than unprofiled)${chunks ? '; “per request” below is per whole stream' : ''}.`,
    '',
    renderProfile(kept, { top: 30, requests: res.latNs.length }),
    '',
  ].join('\n');
  return { md, svg: renderFlameGraph(kept, { title, requests: res.latNs.length }), profile: kept };
}

/** Keep only the first `durUs` of samples. */
function sliceTail(p: CpuProfile, durUs: number): Pick<CpuProfile, 'samples' | 'timeDeltas'> {
  let t = 0;
  let i = 0;
  while (i < p.timeDeltas.length && t + p.timeDeltas[i] <= durUs) t += p.timeDeltas[i++];
  return { samples: p.samples.slice(0, i), timeDeltas: p.timeDeltas.slice(0, i) };
}
