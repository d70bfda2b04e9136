import { describe, expect, it } from 'vitest';
import { classify, COMPILE_ENTRY, entryCost, GC_ENTRY, GC_WITHIN, parseCallgrind, splitParts, topFunctions } from '../../bench/callgrind.ts';
import { renderInstructions } from '../../bench/instructions-report.ts';
import { controlEnv, idleRate, requestDriven, roundDriven, steady, warmUntil, type InstrTarget, type PartCounts } from '../../bench/instructions.ts';
import { BenchUsageError, parseBenchArgs } from '../../bench/options.ts';
import { jitAddress, parsePerfMap } from '../../bench/perf-map.ts';

/** `npm run bench -- --instructions`: reading callgrind's dumps, the request-driven figure, the report, the options. */

const NODE = '/usr/bin/node';
const SQLITE = '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';

// A dump as callgrind writes it with --compress-strings (its default): names defined once as
// `(id) name`, then `(id)`; a call's inclusive cost on the line after `calls=`; relative positions.
// Its call tree: a scheduled minor GC (task → Heap::CollectGarbage → helpers, and a scavenge job the
// main thread joins), the same job on a worker thread, a TurboFan job, then request work.
const DUMP = `# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  node bench/floor-proxy.ts
part: 1

desc: I1 cache:
positions: line
events: Ir
summary: 700

ob=(1) ${NODE}
fl=(1) ???
fn=(1) node::PerIsolatePlatformData::RunForegroundTask(std::unique_ptr<v8::Task>)
0 10
cfn=(2) v8::internal::MinorGCJob::Task::RunInternal()
calls=1 0
0 203
fn=(2)
0 5
cfn=(3) v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)
calls=1 0
0 198
fn=(3)
0 100
cob=(2) ${LIBC}
cfi=(2) ???
cfn=(4) memcpy
calls=3 0
0 50
cfn=(5) std::_Hashtable<v8::internal::MemoryChunk*, std::pair<v8::internal::MemoryChunk* const, v8::internal::MemoryChunkData>>::find
calls=2 0
0 20
cfn=(6) v8::platform::DefaultJobState::Join()
calls=1 0
0 28
fn=(5)
0 20
fn=(6)
0 3
cfn=(7) v8::internal::ScavengerCollector::JobTask::Run(v8::JobDelegate*)
calls=1 0
0 25
fn=(7)
0 40
fn=(8) v8::platform::DefaultJobWorker::Run()
0 1
cfn=(7)
calls=1 0
0 15
fn=(9) non-virtual thunk to v8::internal::CancelableTask::Run()
cfn=(10) v8::internal::OptimizingCompileDispatcher::CompileTask::RunInternal()
calls=1 0
0 62
fn=(10)
0 2
cfn=(11) v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)
calls=1 0
0 60
fn=(11)
0 60
fn=(12) Builtins_CallFunction_ReceiverIsAny
0 50
ob=(2)
fl=(2)
fn=(4)
0 30
+1 20
-1 0
ob=(3) ???
fl=(3) ???
fn=(13) 0x000000000abc1234
0 200
* 0
ob=(4) ${SQLITE}
fl=(4) ???
fn=(14) sqlite3VdbeExec
0 90
cob=(1)
cfn=(15) v8::internal::Runtime_StringCharCodeAt
calls=1 0
0 999
ob=(5) /usr/lib/x86_64-linux-gnu/libz.so.1.2.13
fn=(16) deflate
0 10
ob=(1)
fn=(15)
0 40

totals: 700
`;

describe('callgrind dumps', () => {
  it('adds each function’s own instructions, resolving compressed names and skipping calls’ inclusive cost', () => {
    const d = parseCallgrind(DUMP);
    expect(d.total).toBe(700);
    const self = Object.fromEntries(d.fns.map((f) => [`${f.ob.split('/').pop()} ${f.fn.split('(')[0]}`, f.self]));
    expect(self).toEqual({
      'node node::PerIsolatePlatformData::RunForegroundTask': 10,
      'node v8::internal::MinorGCJob::Task::RunInternal': 5,
      'node v8::internal::Heap::CollectGarbage': 100,
      'node std::_Hashtable<v8::internal::MemoryChunk*, std::pair<v8::internal::MemoryChunk* const, v8::internal::MemoryChunkData>>::find': 20,
      'node v8::platform::DefaultJobState::Join': 3,
      'node v8::internal::ScavengerCollector::JobTask::Run': 40,
      'node v8::platform::DefaultJobWorker::Run': 1,
      'node v8::internal::OptimizingCompileDispatcher::CompileTask::RunInternal': 2,
      'node v8::internal::compiler::PipelineImpl::OptimizeGraph': 60,
      'node Builtins_CallFunction_ReceiverIsAny': 50,
      'libc.so.6 memcpy': 50, // defined in a cfn= line, used later by id
      '??? 0x000000000abc1234': 200,
      'better_sqlite3.node sqlite3VdbeExec': 90, // not + 999: that was the call's inclusive cost
      'libz.so.1.2.13 deflate': 10,
      'node v8::internal::Runtime_StringCharCodeAt': 40,
    });
    expect(d.calls).toContainEqual({ caller: 'v8::platform::DefaultJobWorker::Run()', callee: 'v8::internal::ScavengerCollector::JobTask::Run(v8::JobDelegate*)', incl: 15 });
    expect(d.calls).toContainEqual({ caller: 'sqlite3VdbeExec', callee: 'v8::internal::Runtime_StringCharCodeAt', incl: 999 });
  });

  it('counts the GC’s and the compilers’ call trees once each: entries from outside, not a job the collecting thread joins', () => {
    const d = parseCallgrind(DUMP);
    // The task's whole tree (203: its own 5, the collection's 100, memcpy's 50, the hash map's 20, the
    // join's 3 and the job's 25 on the main thread) + the job on the worker thread (15).
    expect(entryCost(d, GC_ENTRY, GC_WITHIN)).toBe(218);
    // Without the join rule the joined job would count twice.
    expect(entryCost(d, GC_ENTRY)).toBe(243);
    expect(entryCost(d, COMPILE_ENTRY)).toBe(62);
  });

  it('sorts each function into a part of the process', () => {
    expect(classify(NODE, 'v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)')).toBe('gc');
    expect(classify(NODE, 'v8::internal::ScavengerCollector::CollectGarbage()')).toBe('gc');
    expect(classify(NODE, 'v8::internal::maglev::MaglevGraphBuilder::VisitCallProperty()')).toBe('compile');
    expect(classify(NODE, 'v8::internal::Parser::ParseFunction()')).toBe('compile');
    // JSON.parse parses data: the runtime's, not a compiler's (until stop 37 it was counted as compiling).
    expect(classify(NODE, 'v8::internal::JsonParser<unsigned char>::BuildJsonObject(v8::internal::JsonParser<unsigned char>::JsonContinuation const&)')).toBe('runtime');
    expect(classify(NODE, 'v8::internal::JsonParser<unsigned char>::ScanJsonString(bool)')).toBe('runtime');
    expect(classify(NODE, 'Builtins_StringPrototypeIndexOf')).toBe('runtime');
    expect(classify(NODE, 'uv__io_poll')).toBe('runtime');
    expect(classify('???', '0x0000000012345678')).toBe('jit');
    expect(classify(SQLITE, 'sqlite3BtreeInsert')).toBe('sqlite');
    expect(classify(LIBC, '__memcpy_avx_unaligned_erms')).toBe('libc');
    expect(classify('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', '_dl_runtime_resolve_xsavec')).toBe('libc');
    expect(classify('/usr/lib/x86_64-linux-gnu/libz.so.1.2.13', 'deflate')).toBe('other');
  });

  it('splits a dump into parts; what the file totals beyond its function lines counts as other', () => {
    const parts = splitParts(parseCallgrind(DUMP));
    expect(parts).toEqual({ jit: 200, runtime: 10 + 5 + 20 + 3 + 1 + 2 + 50 + 40, gc: 100 + 40, compile: 60, sqlite: 90, libc: 50, other: 10 + 19, total: 700, gcTree: 218, compileTree: 62 });
    // No totals line: the summary; neither: the sum of the functions.
    expect(parseCallgrind(DUMP.replace('totals: 700', '')).total).toBe(700);
    expect(parseCallgrind(DUMP.replace('totals: 700', '').replace('summary: 700', '')).total).toBe(681);
    expect(topFunctions(parseCallgrind(DUMP), 2)).toEqual([
      { part: 'jit', ob: '???', fn: '0x000000000abc1234', self: 200 },
      { part: 'gc', ob: NODE, fn: 'v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)', self: 100 },
    ]);
  });

  it('runs callgrind_control with the target’s user and host names (valgrind names its pipes by them)', () => {
    const env = controlEnv({ HOST: '127.0.0.1', USER: 'kx', SECRET: 'x', HOSTNAME: 'box' });
    expect(env).toMatchObject({ HOST: '127.0.0.1', USER: 'kx', HOSTNAME: 'box' });
    expect(env.SECRET).toBeUndefined();
    expect(env.LOGNAME).toBeUndefined();
  });
});

const counts = (c: Partial<PartCounts>): PartCounts => {
  const out = { jit: 0, runtime: 0, gc: 0, compile: 0, sqlite: 0, libc: 0, other: 0, gcTree: 0, compileTree: 0, ...c, total: 0 };
  out.total = out.jit + out.runtime + out.gc + out.compile + out.sqlite + out.libc + out.other;
  return out;
};

/** Rounds of `jit + extra` JS and 400 k runtime; GC 30 k by name, 40 k by call tree; compilers 50 k either way. */
function target(id: InstrTarget['id'], commit: string, jit: number, rounds = [0, 0, 0]): InstrTarget {
  const fixed = { runtime: 400_000, gc: 30_000, compile: 50_000, gcTree: 40_000, compileTree: 50_000 };
  const rs = rounds.map((extra) => counts({ jit: jit + extra, ...fixed }));
  const mean = counts({ jit: jit + rounds.reduce((a, b) => a + b, 0) / rounds.length, ...fixed });
  return { id, commit, rounds: rs, roundMs: rs.map(() => 10_000), mean, msPerRequest: 10, idlePerSecond: 2_000_000, top: [{ part: 'jit', fn: '0x1', ob: '???', perRequest: jit }], topJs: [{ part: 'jit', fn: 'JS:*handle src/http/app.ts:10:1', ob: '???', perRequest: jit }] };
}

describe('request-driven instructions', () => {
  it('leaves out the GC’s and the compilers’ call trees and the idle rate × each round’s wall time; takes the median round', () => {
    const t = target('gw-sqlite', 'abc', 100_000, [0, 10_000, 50_000]);
    expect(steady(t.rounds[0]!)).toBe(100_000 + 400_000 + 30_000 + 50_000 - 40_000 - 50_000);
    // 2 M instructions/s idle × 10 s per 1000-request round = 20 000 per request of timers.
    expect([0, 1, 2].map((r) => roundDriven(t, 1000, r))).toEqual([470_000, 480_000, 520_000]);
    expect(requestDriven(t, 1000)).toBe(480_000); // the median: the 520 k round (a lump) does not move it
    // Nearest rank, as every other median of the bench (stats.ts): of two rounds, the lower.
    expect(requestDriven({ ...t, rounds: t.rounds.slice(0, 2), roundMs: t.roundMs.slice(0, 2) }, 1000)).toBe(470_000);
  });

  it('reports per target, × the floor, and before → after with the rounds where the tree was lower', () => {
    const s = { warmup: 6000, requests: 1000, rounds: 3, idleMs: 5000 };
    const machine = { cpu: 'Test CPU', cores: 2, memory: '1 GiB', node: 'v20', os: 'Linux', date: '2026-01-01T00:00:00Z', commit: 'new1234', loadavg: '0' };
    const md = renderInstructions(machine, s, [target('floor', 'new1234', 0), target('gw-sqlite', 'new1234', 120_000, [0, -10_000, 0]), target('gw-before', 'old5678', 130_000)], 'Run took 1 s.');
    expect(md).toMatch(/\| gateway \/ SQLite\s+\| new1234 \|\s+490,000 \|\s+480,000 … 490,000 \|\s+1\.32 × \|\s+596,667 \|\s+40,000 \|\s+50,000 \|\s+20,000 \|\s+10\.0 \|\s+2,000,000 \|/);
    expect(md).toMatch(/\| floor proxy\s+\| new1234 \|\s+370,000 \|/);
    expect(md).toContain('## Before → after: old5678 → new1234');
    expect(md).toContain('500,000 → 490,000 (−2.0 %); this tree lower in 3 of 3 rounds');
    expect(md).toMatch(/\| JS code \(V8 compiled\)\s+\|\s+130,000 \|\s+116,667 \|\s+−13,333 \|\s+−10\.3 % \|/);
    expect(md).toMatch(/\| GC \(call tree\)\s+\|\s+40,000 \|\s+40,000 \|\s+\+0 \|\s+\+0\.0 % \|/);
    expect(md).toContain('## Where the gateway / SQLite spends them');
    expect(md).not.toContain('re-optimising');
    expect(md).toMatch(/### The 15 JavaScript functions with the most own instructions \(gateway \/ SQLite\)[^]*\| JS:\*handle src\/http\/app\.ts:10:1 \|\s+120,000 \|/);
    // One side still compiling much more: the change is flagged as one to rerun.
    const busy = target('gw-before', 'old5678', 130_000);
    busy.mean.compileTree = 300_000;
    expect(renderInstructions(machine, s, [target('gw-sqlite', 'new1234', 120_000), busy])).toContain('**V8 was still re-optimising much more on one side** (compilers’ call tree 300,000 → 50,000 per request)');
  });
});

describe('the idle rate', () => {
  const idle = (total: number, gcTree: number, compileTree: number): PartCounts => ({ jit: 0, runtime: total, gc: 0, compile: 0, sqlite: 0, libc: 0, other: 0, total, gcTree, compileTree });
  it('is the idle window’s steady count per second, never below zero', () => {
    expect(idleRate(idle(10_000_000, 1_000_000, 1_000_000), 4)).toBe(2_000_000);
    // A call tree that began before the window was zeroed counted more than the window itself.
    expect(idleRate(idle(3_000_000, 4_000_000, 1_000_000), 5)).toBe(0);
  });
});

describe('warm-up past a turn of the clock', () => {
  it('ends 2 s past the next multiple of the period after its start, never before the start; 0 turns it off', () => {
    const min = 60_000;
    const t = Date.UTC(2026, 11, 7, 14, 30, 0);
    expect(warmUntil(t, min)).toBe(t + min + 2_000); // started on a turn: the next one
    expect(warmUntil(t + 1, min)).toBe(t + min + 2_000);
    expect(warmUntil(t + 59_999, min)).toBe(t + min + 2_000);
    expect(warmUntil(t + 59_999, 3_000)).toBe(t + 60_000 + 2_000);
    for (const start of [t, t + 12_345, t + 59_000]) expect(warmUntil(start, min)).toBeGreaterThan(start + 2_000);
    expect(warmUntil(t + 30_000, 0)).toBe(0);
  });
});

describe('naming JIT code (node --perf-basic-prof)', () => {
  const MAP = [
    '1903040 108 Builtin:ArrayPrototypeValues',
    'd2103c0 200 JS:~handle /work/kx/src/http/app.ts:12:3',
    'd210600 40 JS:^short file:///work/kx/src/a.ts:1:1',
    // Later, the first function's code is freed and the same addresses hold an optimised version.
    'd2103c0 100 JS:*handle /work/kx/src/http/app.ts:12:3',
    'not a line',
  ].join('\n');

  it('finds the code object holding an address, the latest one where code was replaced, paths made relative', () => {
    const m = parsePerfMap(MAP, '/work/kx/');
    expect(m.name(0xd2103c0)).toBe('JS:*handle src/http/app.ts:12:3');
    expect(m.name(0xd2103c0 + 0x150)).toBe('JS:~handle src/http/app.ts:12:3'); // past the new code's end: only the old covers it
    expect(m.name(0xd210610)).toBe('JS:^short src/a.ts:1:1');
    expect(m.name(0x1903040 + 0x107)).toBe('Builtin:ArrayPrototypeValues');
    expect(m.name(0x1903040 + 0x108)).toBeUndefined();
    expect(m.name(0x10)).toBeUndefined();
    expect(parsePerfMap('').name(1)).toBeUndefined();
    expect(jitAddress('0x000000000d2103c0')).toBe(0xd2103c0);
    expect(jitAddress('sqlite3VdbeExec')).toBeNull();
  });
});

describe('options', () => {
  it('--instructions counts the floor and the gateway unless --only narrows it', () => {
    const o = parseBenchArgs(['--instructions']);
    expect(o.instructions).toEqual({ on: true, targets: ['floor', 'gw-sqlite'], warmup: 6000, requests: 1000, rounds: 5, idleMs: 5000, stream: false, provider: 'openai' });
    expect(parseBenchArgs(['--instructions', '--instr-stream']).instructions).toMatchObject({ on: true, stream: true });
    expect(parseBenchArgs(['--instructions', '--only', 'gw-sqlite', '--instr-requests', '200', '--instr-idle', '100']).instructions).toMatchObject({ targets: ['gw-sqlite'], requests: 200, idleMs: 100 });
    expect(parseBenchArgs([]).instructions.on).toBe(false);
  });

  it('refuses what it cannot count', () => {
    expect(() => parseBenchArgs(['--instructions', '--profile'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--instructions', '--only', 'direct'])).toThrow(/names neither/);
    expect(parseBenchArgs(['--instructions', '--only', 'direct', '--baseline', 'HEAD~1']).instructions.targets).toEqual([]);
    expect(() => parseBenchArgs(['--instructions', '--instr-idle', '50'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--instructions', '--instr-rounds', '0'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--instr-stream'])).toThrow('--instr-stream goes with --instructions');
  });
});
