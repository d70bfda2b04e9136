import { parseArgs } from 'node:util';
import type { UpstreamCore } from './procs.ts';
import type { CapMode } from './results.ts';

/** `npm run bench` options: parsed and checked once, before anything starts. */

/** The upstream vendor the fake speaks (bench/upstream.ts): OpenAI, or Anthropic for `--instr-provider`. */
export type BenchProvider = 'openai' | 'anthropic';

/** The model asked for when `--model` names none: one the vendor's fake answers and the gateway prices. */
export const DEFAULT_MODEL: Record<BenchProvider, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5' };

export const USAGE = `npm run bench [-- options]

Direct call vs floor proxy vs gateway (SQLite, PostgreSQL), interleaved in one run (< 4 min).
Writes bench/results/latest.md (+ .json) for a full run, partial.md for a partial one.

  --quick              short windows (harness check, numbers not meaningful)
  --only a,b           targets among direct, floor, gw-sqlite, gw-pg (the seed row follows gw-sqlite)
                       and monitor (gateway / SQLite with the monitor on vs off)
  --cells a,b          workloads among many, chat, stream, unpaced (default all; monitor follows
                       --only)
                       ("none" for either: e.g. --only none --cells none --baseline REF)
  --baseline REF       also measure the gateway / SQLite at git REF against this tree, in the same
                       rounds (before/after, with each round's own change)
  --cap-mode hard|soft the bench customer's cap mode (default hard, the targets' setting)
  --upstream-core load|servers
                       where the fake upstream runs: with the load generator (default; the servers
                       under test have their cores to themselves) or with the servers under test
  --window MS --warmup MS --steady-warmup MS --stream-warmup MS --rounds N --streams N
  --unpaced-window MS --unpaced-concurrency N
  --monitor-window MS --monitor-warmup MS --monitor-rounds N
  --model M            the model asked for (default gpt-4o-mini; claude-haiku-4-5 with --instr-provider anthropic)
  --pg-url URL         PostgreSQL admin URL (default $BENCH_DATABASE_URL, $TEST_DATABASE_URL, or
                       postgres://postgres@127.0.0.1:5432/postgres)
  --out FILE           write the report there instead;  --no-write  print only
  --profile            profile the gateway with node --cpu-prof instead, print the top functions
    --profile-seconds S --profile-warmup S --profile-concurrency C --profile-target sqlite|postgres
    --profile-stream   whole streams (20 chunks, unpaced) instead of non-streaming calls;
                       written to bench/results/profile-<target>-stream.md (+ .svg)
  --instructions       count instructions per request under valgrind's callgrind instead (floor and
                       gateway / SQLite, and the gateway at --baseline REF): a count, repeatable on
                       any host, for judging a change where timings are noise (several minutes)
    --instr-warmup N --instr-requests N --instr-rounds N --instr-idle MS
    --instr-keep DIR   keep each round's callgrind dump there (for callgrind_annotate, kcachegrind)
    --instr-stream     count whole streams (20 chunks, unpaced) instead of non-streaming calls;
                       written to bench/results/instructions-stream.md
    --instr-provider P the upstream's vendor: openai (default) or anthropic (the gateway translates
                       the fake Anthropic Messages API; model claude-haiku-4-5 unless --model);
                       written to instructions-anthropic.md / instructions-stream-anthropic.md
  --ic                 list the property accesses V8's inline caches still send to its runtime on
                       every request (gateway / SQLite under node --log-ic; and at --baseline REF):
                       the sites where objects of many shapes cost every call (≈ 2 min)
    --ic-warmup N --ic-requests N --ic-top N
  --help               this text
`;

const TARGETS = ['direct', 'floor', 'gw-sqlite', 'gw-pg', 'monitor'] as const;
const CELLS = ['many', 'chat', 'stream', 'unpaced'] as const;

export interface BenchOptions {
  help: boolean;
  quick: boolean;
  only: Set<string>;
  cells: Set<string>;
  /**
   * Not the record's setting (every target and workload, full windows, hard caps, the upstream
   * with the load generator): `--quick`, `--only`, `--cells`, `--cap-mode soft` or
   * `--upstream-core servers` given. Such a run writes partial.md (reportPath).
   */
  partial: boolean;
  baseline?: string;
  capMode: CapMode;
  upstreamCore: UpstreamCore;
  model: string;
  out?: string;
  noWrite: boolean;
  pgUrl?: string;
  /** Numbers given on the command line (absent ones take the run's defaults). */
  n: Partial<Record<NumOption, number>>;
  profile: { on: boolean; target: 'sqlite' | 'postgres'; seconds: number; concurrency: number; warmupSeconds: number; stream: boolean };
  /** `--instructions`: the targets counted (floor, gw-sqlite among --only) and the counts. */
  instructions: { on: boolean; targets: ('floor' | 'gw-sqlite')[]; warmup: number; requests: number; rounds: number; idleMs: number; keepDir?: string; stream: boolean; provider: BenchProvider };
  /** `--ic`: IC misses per request under node --log-ic (ic.ts). */
  ic: { on: boolean; warmup: number; requests: number; top: number };
}

type NumOption = 'window' | 'rounds' | 'warmup' | 'streams' | 'monitor-rounds' | 'monitor-window' | 'monitor-warmup' | 'steady-warmup' | 'stream-warmup' | 'unpaced-window' | 'unpaced-concurrency';
/** Each numeric option with the least value it takes (counts and windows ≥ 1, warm-ups ≥ 0). */
const NUMS: Record<NumOption, number> = { window: 1, rounds: 1, warmup: 0, streams: 1, 'monitor-rounds': 1, 'monitor-window': 1, 'monitor-warmup': 0, 'steady-warmup': 0, 'stream-warmup': 0, 'unpaced-window': 1, 'unpaced-concurrency': 1 };

export class BenchUsageError extends Error {}

/** Issue 7 bounds `npm run bench` with its defaults to under 4 minutes. */
export const RUN_BOUND_MS = 240_000;

/**
 * A note for the report when a run with every default (all targets and workloads, default windows
 * and counts, no --baseline) took longer than the bound; null otherwise. Runs with options are
 * as long as their options make them.
 */
export function runBoundNote(o: BenchOptions, durationMs: number): string | null {
  const defaults = !o.partial && !o.baseline && Object.keys(o.n).length === 0;
  if (!defaults || durationMs < RUN_BOUND_MS) return null;
  return `This run took ${Math.round(durationMs / 1000)} s: over the ${RUN_BOUND_MS / 60_000} minutes a default \`npm run bench\` is bounded to (issue 7). The host was slower than the ones it was sized on; see bench/README.md, "Run time".`;
}

/** Parses argv (without node and the script); throws BenchUsageError with a one-line reason. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        cells: { type: 'string' },
        baseline: { type: 'string' },
        ...(Object.fromEntries(Object.keys(NUMS).map((k) => [k, { type: 'string' }])) as Record<NumOption, { type: 'string' }>),
        model: { type: 'string' },
        out: { type: 'string' },
        'no-write': { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        'profile-seconds': { type: 'string', default: '10' },
        'profile-target': { type: 'string', default: 'sqlite' },
        'profile-concurrency': { type: 'string', default: '16' },
        'profile-warmup': { type: 'string', default: '5' },
        'profile-stream': { type: 'boolean', default: false },
        'pg-url': { type: 'string' },
        instructions: { type: 'boolean', default: false },
        'instr-warmup': { type: 'string', default: '6000' },
        'instr-requests': { type: 'string', default: '1000' },
        'instr-rounds': { type: 'string', default: '5' },
        'instr-idle': { type: 'string', default: '5000' },
        'instr-keep': { type: 'string' },
        'instr-stream': { type: 'boolean', default: false },
        'instr-provider': { type: 'string', default: 'openai' },
        ic: { type: 'boolean', default: false },
        'ic-warmup': { type: 'string', default: '2000' },
        'ic-requests': { type: 'string', default: '1000' },
        'ic-top': { type: 'string', default: '15' },
        'cap-mode': { type: 'string', default: 'hard' },
        'upstream-core': { type: 'string', default: 'load' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    // node:util's messages name the option ("Unknown option '--nope'"); the stack says nothing more.
    throw new BenchUsageError((e as Error).message.replace(/\. To specify a positional argument.*$/, '').replace(/\n/g, ' '));
  }
  const v = values as Record<string, string | boolean | undefined>;
  const capMode = v['cap-mode'];
  if (capMode !== 'hard' && capMode !== 'soft') throw new BenchUsageError(`--cap-mode: "${capMode}" is not hard or soft`);
  const upstreamCore = v['upstream-core'];
  if (upstreamCore !== 'load' && upstreamCore !== 'servers') throw new BenchUsageError(`--upstream-core: "${upstreamCore}" is not load or servers`);
  const target = v['profile-target'];
  if (target !== 'sqlite' && target !== 'postgres') throw new BenchUsageError(`--profile-target: "${target}" is not sqlite or postgres`);
  const n: BenchOptions['n'] = {};
  for (const [k, min] of Object.entries(NUMS) as [NumOption, number][]) if (v[k] !== undefined) n[k] = count(k, v[k] as string, min);
  const str = (k: string) => v[k] as string | undefined;
  const only = list('--only', str('only'), TARGETS, 'direct,floor,gw-sqlite,gw-pg,monitor');
  const instrTargets = (['floor', 'gw-sqlite'] as const).filter((t) => only.has(t));
  if ([v.instructions, v.profile, v.ic].filter((x) => x === true).length > 1) throw new BenchUsageError('--instructions, --profile and --ic: one at a time');
  if (v['instr-stream'] === true && v.instructions !== true) throw new BenchUsageError('--instr-stream goes with --instructions');
  const provider = v['instr-provider'];
  if (provider !== 'openai' && provider !== 'anthropic') throw new BenchUsageError(`--instr-provider: "${provider}" is not openai or anthropic`);
  if (provider !== 'openai' && v.instructions !== true) throw new BenchUsageError('--instr-provider goes with --instructions');
  if (v['profile-stream'] === true && v.profile !== true) throw new BenchUsageError('--profile-stream goes with --profile');
  if (v.instructions === true && instrTargets.length === 0 && str('baseline') === undefined) throw new BenchUsageError('--instructions counts floor and gw-sqlite: --only names neither (and no --baseline)');
  return {
    help: v.help === true,
    quick: v.quick === true,
    only,
    cells: list('--cells', str('cells'), CELLS, 'many,chat,stream,unpaced'),
    partial: v.quick === true || str('only') !== undefined || str('cells') !== undefined || capMode !== 'hard' || upstreamCore !== 'load',
    baseline: str('baseline'),
    capMode,
    upstreamCore,
    model: str('model') ?? DEFAULT_MODEL[provider],
    out: str('out'),
    noWrite: v['no-write'] === true,
    pgUrl: str('pg-url'),
    n,
    profile: {
      on: v.profile === true,
      target,
      seconds: count('profile-seconds', str('profile-seconds')!, 1),
      concurrency: count('profile-concurrency', str('profile-concurrency')!, 1),
      warmupSeconds: count('profile-warmup', str('profile-warmup')!, 0),
      stream: v['profile-stream'] === true,
    },
    instructions: {
      on: v.instructions === true,
      targets: [...instrTargets],
      warmup: count('instr-warmup', str('instr-warmup')!, 0),
      requests: count('instr-requests', str('instr-requests')!, 1),
      rounds: count('instr-rounds', str('instr-rounds')!, 1),
      idleMs: count('instr-idle', str('instr-idle')!, 100),
      ...(str('instr-keep') !== undefined ? { keepDir: str('instr-keep') } : {}),
      stream: v['instr-stream'] === true,
      provider,
    },
    ic: {
      on: v.ic === true,
      warmup: count('ic-warmup', str('ic-warmup')!, 0),
      requests: count('ic-requests', str('ic-requests')!, 1),
      top: count('ic-top', str('ic-top')!, 1),
    },
  };
}

/** A whole number ≥ min, or a usage error naming the option. */
function count(name: string, s: string, min: number): number {
  const x = Number(s);
  if (s.trim() === '' || !Number.isInteger(x) || x < min) throw new BenchUsageError(`--${name}: "${s}" is not a whole number ≥ ${min}`);
  return x;
}

/** A comma list whose every item is known ("none" alone: the empty set); an empty list is refused. */
function list(name: string, s: string | undefined, known: readonly string[], def: string): Set<string> {
  const items = (s ?? def).split(',').map((x) => x.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === 'none') return new Set();
  const bad = items.filter((x) => !known.includes(x));
  if (bad.length) throw new BenchUsageError(`${name}: ${bad.map((b) => `"${b}"`).join(', ')} not among ${known.join(', ')} (or none)`);
  if (items.length === 0) throw new BenchUsageError(`${name}: empty (one or more of ${known.join(', ')}, or none)`);
  return new Set(items);
}
