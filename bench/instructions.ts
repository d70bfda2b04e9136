import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { BaselineTree } from './baseline.ts';
import { parseCallgrind, PARTS, splitParts, topFunctions, type Part, type SelfCount, type Split } from './callgrind.ts';
import { startGateway } from './gateway.ts';
import { jitAddress, parsePerfMap, type PerfMap } from './perf-map.ts';
import { sleep, type Child } from './procs.ts';
import { percentile } from './stats.ts';
import type { RequestSpec } from './protocol.ts';
import type { BenchProvider } from './options.ts';
import { anthropicRequest, floorRuntime, gatewayRuntimes, startFloor, startUpstream, UPSTREAM_KEY } from './targets-setup.ts';

/**
 * `npm run bench -- --instructions`: instructions executed per request, counted by valgrind's
 * callgrind in the floor proxy's and the gateway's processes (all their threads, user space).
 * A count, not a time: however busy or slow the host, the same tree gives the gateway within ≈ 5 %
 * between runs and far closer between the two sides of one `--baseline` run, where the timed bench
 * cannot see a change under ≈ 100 µs on a noisy VM (bench/README.md, "Instructions per request").
 * Kernel work (system calls) is not counted.
 */

export type InstrTargetId = 'floor' | 'gw-sqlite' | 'gw-before';

export interface InstrSettings {
  /** Requests before counting starts (instrumentation off: V8 compiles the hot path meanwhile). */
  warmup: number;
  /** Requests per counted round. */
  requests: number;
  rounds: number;
  /** One counted window with no requests, for the time-driven work (timers) per second. */
  idleMs: number;
  /**
   * The warm-up goes on past the next multiple of this many ms of wall-clock time (60 000: a turn
   * of the minute, when rate-limit windows roll); 0 = no wait. Shorter only in tests.
   */
  turnMs?: number;
  /** Keep each dump there as `<target>-round<N>.callgrind` / `<target>-idle.callgrind`. */
  keepDir?: string;
  /**
   * Count streams instead of non-streaming calls: each "request" is then one streamed chat call of
   * this many content chunks, sent by the upstream back to back (no pacing: a count does not
   * depend on it) and read to its end (`--instr-stream`).
   */
  streamChunks?: number;
  /**
   * The upstream's vendor (`--instr-provider`; default openai). With anthropic the gateway is asked
   * the same `/v1` request for a Claude model and translates the fake Anthropic upstream's Messages
   * API (its stream's named events, read by the provider's own parser); the floor proxy passes an
   * Anthropic request through to the same fake, as a client of the vendor would send it.
   */
  provider?: BenchProvider;
}

export type PartCounts = Split;

export interface TopFn {
  part: Part;
  fn: string;
  ob: string;
  perRequest: number;
}

export interface InstrTarget {
  id: InstrTargetId;
  /** Commit of the tree measured (gw-before: the baseline ref's). */
  commit: string;
  /** Per round: instructions per request by part. */
  rounds: PartCounts[];
  /** Per round: its wall time under callgrind, ms. */
  roundMs: number[];
  /** All rounds together: instructions ÷ requests, by part. */
  mean: PartCounts;
  /** Wall time per request under callgrind (the pace time-driven work is spread over). */
  msPerRequest: number;
  /** Steady instructions per second with no request in flight (timers: the monitor's flush, pollers). */
  idlePerSecond: number;
  /** The functions with the most own instructions, per request, over all rounds (JIT code named from node's perf map). */
  top: TopFn[];
  /** The same for compiled JavaScript alone (its functions are many and each small). */
  topJs: TopFn[];
}

/**
 * Everything but the garbage collector's and V8's compilers' call trees: their work comes in lumps
 * (a major GC every few thousand requests, an optimisation when V8 decides), landing in one round
 * or another, and would swing a round by ± 15 %. They are reported beside it, not in it.
 */
export const steady = (c: PartCounts) => c.total - c.gcTree - c.compileTree;

/**
 * The time-driven instructions per second, from the idle window: its steady count ÷ its length. A
 * GC or compiler call tree that began before the window was zeroed can count more than the window's
 * own total (seen once: −0.94 M/s, which then added 7 k per request instead of subtracting); a
 * negative rate means nothing, so it is taken as 0.
 */
export function idleRate(idle: PartCounts, seconds: number): number {
  return Math.max(0, steady(idle)) / seconds;
}

/**
 * What a count is compared on, per round: steady, less the time-driven work (the gateway's pollers
 * and the monitor's flush run per wall-clock interval, and a request takes ≈ 20 × longer under
 * callgrind, so they would weigh 20 × more per request than in a real run): the target's idle rate
 * × the round's wall time, spread over its requests.
 */
export function roundDriven(t: InstrTarget, requests: number, round: number): number {
  return steady(t.rounds[round]!) - (t.idlePerSecond * (t.roundMs[round]! / 1000)) / requests;
}

/** The rounds' median (nearest rank, as the bench's other figures) request-driven count: the figure to compare (one round can still catch V8 re-tiering or a WAL checkpoint). */
export function requestDriven(t: InstrTarget, requests: number): number {
  return percentile(
    t.rounds.map((_, r) => roundDriven(t, requests, r)).sort((a, b) => a - b),
    50,
  );
}

const ZERO = (): PartCounts => ({ ...(Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>), total: 0, gcTree: 0, compileTree: 0 });

/** True when valgrind (with callgrind_control) can run here. */
export function valgrindAvailable(): boolean {
  return spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('callgrind_control', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * valgrind names its control pipes after LOGNAME/USER and HOST/HOSTNAME as the target sees them
 * (the gateway's HOST is its listen address), and callgrind_control finds them from its own: it
 * runs with the target's values of those four.
 */
export function controlEnv(target: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const k of ['LOGNAME', 'USER', 'HOST', 'HOSTNAME']) if (target[k] !== undefined) env[k] = target[k];
  return env;
}

/** One process under callgrind, with its counters switched on, zeroed and dumped from outside. */
class Counted {
  private dumps = 0;
  constructor(
    readonly child: Child,
    private readonly dir: string,
    private readonly keep?: { dir: string; prefix: string },
  ) {}

  static wrapper(dir: string): string[] {
    return ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--vgdb-prefix=${join(dir, 'vgdb')}`, `--callgrind-out-file=${join(dir, 'cg.%p')}`];
  }

  private control(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('callgrind_control', [`--vgdb-prefix=${join(this.dir, 'vgdb')}`, ...args, String(this.child.pid)], { env: controlEnv(this.child.env), timeout: 120_000 }, (err, stdout, stderr) => {
        const out = `${stdout}${stderr}`;
        if (err || /error|failed|no such/i.test(stderr)) reject(new Error(`callgrind_control ${args.join(' ')}: ${(err?.message ?? '').split('\n')[0]} ${out.trim().slice(0, 300)}`));
        else resolve(out);
      });
    });
  }

  async start(): Promise<void> {
    await this.control('--instr=on');
    await this.control('--zero');
  }

  /** Dump the counters since start(), switch instrumentation off, and read the dump. */
  async stop(label: string): Promise<string> {
    await this.control('--dump');
    const file = join(this.dir, `cg.${this.child.pid}.${++this.dumps}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (existsSync(file)) {
        const text = readFileSync(file, 'utf8');
        if (/^totals:/m.test(text)) {
          if (this.keep) {
            mkdirSync(this.keep.dir, { recursive: true });
            copyFileSync(file, join(this.keep.dir, `${this.keep.prefix}-${label}.callgrind`));
          }
          rmSync(file, { force: true });
          await this.control('--instr=off');
          return text;
        }
      }
      if (Date.now() > deadline) throw new Error(`callgrind wrote no dump ${file}\n${this.child.tail()}`);
      await sleep(100);
    }
  }
}

/** `n` requests one after another on one connection; any answer but the expected 200 throws. */
export async function drive(pool: Pool, req: RequestSpec, n: number): Promise<void> {
  const u = new URL(req.url);
  for (let i = 0; i < n; i++) {
    const r = await pool.request({ method: 'POST', path: u.pathname, headers: req.headers, body: req.body });
    const text = await r.body.text();
    if (r.statusCode !== 200 || (req.expect && !text.includes(req.expect))) throw new Error(`HTTP ${r.statusCode}: ${text.slice(0, 300)}`);
  }
}

function add(into: PartCounts, c: PartCounts, k = 1): void {
  for (const p of PARTS) into[p] += c[p] * k;
  into.total += c.total * k;
  into.gcTree += c.gcTree * k;
  into.compileTree += c.compileTree * k;
}

function scale(c: PartCounts, by: number): PartCounts {
  const out = ZERO();
  add(out, c, 1 / by);
  return out;
}

const MINUTE = 60_000;
/** Past the minute's turn by this much, so a roll that runs on the next request is in the warm-up. */
const TURN_MARGIN_MS = 2_000;
const WARM_STEP = 100;

/** When a warm-up that began at `startMs` may end: past the next multiple of `everyMs` (0: at once). */
export function warmUntil(startMs: number, everyMs: number): number {
  return everyMs > 0 ? (Math.floor(startMs / everyMs) + 1) * everyMs + TURN_MARGIN_MS : 0;
}

/** Warm up, count `rounds` rounds of requests and one idle window, at concurrency 1. */
async function count(id: InstrTargetId, commit: string, root: string, c: Counted, req: RequestSpec, s: InstrSettings, log: (s: string) => void): Promise<InstrTarget> {
  const pool = new Pool(new URL(req.url).origin, { connections: 1, pipelining: 1 });
  try {
    log(`${id}: ${s.warmup} requests of warm-up (not counted)`);
    const warmStart = Date.now();
    await drive(pool, req, s.warmup);
    // On past a turn of the wall-clock minute: the first one a process sees rolls its rate-limit
    // windows down a path not yet run, and V8 deoptimises the admission for it (once). Natively that
    // happens once, in a process's first minute; at ≈ 20 × the time per request it landed in a
    // counted round.
    const every = s.turnMs ?? MINUTE;
    const turn = warmUntil(warmStart, every);
    let extra = 0;
    for (; Date.now() < turn; extra += WARM_STEP) await drive(pool, req, WARM_STEP);
    if (extra) log(`${id}: ${extra} more requests of warm-up, past a turn of the ${every === MINUTE ? 'minute' : `${every / 1000} s clock`}`);
    const rounds: PartCounts[] = [];
    const sum = ZERO();
    const fnSum = new Map<string, SelfCount>();
    const roundMs: number[] = [];
    for (let r = 0; r < s.rounds; r++) {
      await c.start();
      const t = performance.now();
      await drive(pool, req, s.requests);
      roundMs.push(performance.now() - t);
      const dump = parseCallgrind(await c.stop(`round${r + 1}`));
      const parts = splitParts(dump);
      rounds.push(scale(parts, s.requests));
      add(sum, parts);
      for (const f of topFunctions(dump, 200)) {
        const k = `${f.ob}\0${f.fn}`;
        const e = fnSum.get(k) ?? { ...f, self: 0 };
        e.self += f.self;
        fnSum.set(k, e);
      }
      log(`${id}: round ${r + 1}/${s.rounds}: ${Math.round(steady(rounds[r]!)).toLocaleString('en-US')} instructions per request (GC and V8's compilers apart), ${(roundMs[r]! / s.requests).toFixed(1)} ms each`);
    }
    await c.start();
    const t = performance.now();
    await sleep(s.idleMs);
    const idle = splitParts(parseCallgrind(await c.stop('idle')));
    const idleS = (performance.now() - t) / 1000;
    const n = s.requests * s.rounds;
    const named = nameJit([...fnSum.values()], perfMap(c.child.pid, root, s.keepDir && join(s.keepDir, `${id}.perf.map`)));
    const top = (fs: typeof named) => fs.slice(0, 15).map((f) => ({ part: f.part, fn: f.fn, ob: f.ob, perRequest: f.self / n }));
    const ms = roundMs.reduce((a, b) => a + b, 0);
    return { id, commit, rounds, roundMs, mean: scale(sum, n), msPerRequest: ms / n, idlePerSecond: idleRate(idle, idleS), top: top(named), topJs: top(named.filter((f) => f.part === 'jit')) };
  } finally {
    await pool.close();
  }
}

/** node --perf-basic-prof's map of the process's JIT code (copied to `keep` if given), or null when it wrote none. */
function perfMap(pid: number, root: string, keep?: string | false): PerfMap | null {
  const file = join('/tmp', `perf-${pid}.map`);
  if (!existsSync(file)) return null;
  if (keep) copyFileSync(file, keep);
  return parsePerfMap(readFileSync(file, 'utf8'), root);
}

/** JIT addresses replaced by the code's name, and entries that turn out to be one function added together; most first. */
function nameJit(fs: SelfCount[], map: PerfMap | null): SelfCount[] {
  const merged = new Map<string, SelfCount>();
  for (const f of fs) {
    const addr = f.part === 'jit' ? jitAddress(f.fn) : null;
    const fn = (addr !== null && map?.name(addr)) || f.fn;
    const k = `${f.part}\0${f.ob}\0${fn}`;
    const e = merged.get(k) ?? { ...f, fn, self: 0 };
    e.self += f.self;
    merged.set(k, e);
  }
  return [...merged.values()].sort((a, b) => b.self - a.self);
}

export interface InstrOpts {
  root: string;
  model: string;
  settings: InstrSettings;
  targets: ('floor' | 'gw-sqlite')[];
  commit: string;
  baseline?: BaselineTree;
  log(s: string): void;
  stoppers: (() => Promise<void>)[];
}

/**
 * The gateway's key cache refreshes a key every KEY_CACHE_TTL_MS (30 s): natively once in ≈ 60 000
 * calls, under callgrind once in ≈ 4 000 — and each refresh hands the admission a new context object,
 * which deoptimised it in a counted round. An hour keeps it as rare per request as it is natively.
 */
const INSTR_GATEWAY_ENV = { KEY_CACHE_TTL_MS: String(3_600_000) };

/** Node writes /tmp/perf-<pid>.map, which names the JIT code callgrind sees only as addresses. */
const NODE_FLAGS = ['--perf-basic-prof'];

/** Each target alone, one after the other (a count does not need them interleaved). */
export async function runInstructions(o: InstrOpts): Promise<InstrTarget[]> {
  if (!valgrindAvailable()) throw new Error('--instructions needs valgrind with callgrind_control (Debian: apt-get install valgrind)');
  const dir = mkdtempSync(join(tmpdir(), 'kaixu-instr-'));
  o.stoppers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const provider = o.settings.provider ?? 'openai';
  const upstream = await startUpstream(o.root, null, provider);
  o.stoppers.push(() => upstream.child.stop());
  const chunks = o.settings.streamChunks;
  await upstream.setDefault(chunks ? { kind: 'ok', chunks, chunkDelayMs: 0 } : { kind: 'ok' });
  // A stream's body is checked for its last frame: an answer cut short is an error, not a cheap stream.
  const pick = (rt: { chat: RequestSpec; stream?: { req: RequestSpec } }): RequestSpec => (chunks ? { ...rt.stream!.req, expect: 'data: [DONE]' } : rt.chat);
  const out: InstrTarget[] = [];
  const plan: { id: InstrTargetId; root: string; commit: string }[] = [
    ...o.targets.map((id) => ({ id, root: o.root, commit: o.commit })),
    ...(o.baseline ? [{ id: 'gw-before' as const, root: o.baseline.dir, commit: o.baseline.commit }] : []),
  ];
  for (const t of plan) {
    o.log(`${t.id}: starting under callgrind (slow: tens of seconds)`);
    let child: Child;
    let req: RequestSpec;
    let stop: () => Promise<void>;
    if (t.id === 'floor') {
      const floor = await startFloor(t.root, null, upstream.url, { wrapper: Counted.wrapper(dir), startTimeoutMs: 300_000, nodeFlags: NODE_FLAGS });
      child = floor.child;
      stop = () => floor.child.stop('SIGTERM', 30_000);
      o.stoppers.push(stop);
      req = provider === 'anthropic' ? anthropicRequest(floor.url, o.model, Boolean(chunks)) : pick(floorRuntime(floor, o.model));
    } else {
      const upstreamBase = provider === 'anthropic' ? upstream.url : `${upstream.url}/v1`;
      const gw = await startGateway({ kind: 'sqlite', root: t.root, cores: null, upstreamBase, upstreamKey: UPSTREAM_KEY, provider, model: o.model, pgAdminUrl: '', env: INSTR_GATEWAY_ENV, wrapper: Counted.wrapper(dir), startTimeoutMs: 300_000, nodeFlags: NODE_FLAGS });
      child = gw.child;
      stop = () => gw.stop();
      o.stoppers.push(stop);
      req = pick(gatewayRuntimes('gw-sqlite', gw, o.model)[0]!);
    }
    const map = join('/tmp', `perf-${child.pid}.map`);
    o.stoppers.push(async () => rmSync(map, { force: true }));
    out.push(await count(t.id, t.commit, t.root, new Counted(child, dir, o.settings.keepDir ? { dir: o.settings.keepDir, prefix: t.id } : undefined), req, o.settings, o.log));
    await stop();
    rmSync(map, { force: true });
  }
  return out;
}
