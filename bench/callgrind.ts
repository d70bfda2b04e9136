/**
 * Reading a callgrind dump (valgrind --tool=callgrind, one event: Ir, instructions executed) into
 * instructions per part of the process: our JavaScript and Node's as V8 compiled it, V8 and Node's
 * C++ runtime, garbage collection, V8's compilers, SQLite (better-sqlite3's addon), the C library.
 *
 * The format (valgrind's docs, "Callgrind Format Specification"): `ob=`/`fl=`/`fn=` name the
 * object, file and function of the cost lines that follow, with names compressed as `(id) name`
 * on first use and `(id)` after; `cob=`/`cfl=`/`cfn=` + `calls=` describe a call, and the cost line
 * right after `calls=` is the call's inclusive cost (not the caller's own); cost lines are a
 * position (a number, `+n`, `-n` or `*`) and the event count.
 *
 * Two ways of sorting instructions. By function name (PARTS): each function's own instructions,
 * whoever called it; a GC or compiler helper with a generic name (a hash map, memcpy, a visitor)
 * lands in runtime or libc. By call tree (entryCost): everything under an entry point of the garbage
 * collector or of V8's compilers, helpers included; this is what `--instructions` leaves out of its
 * comparable figure, as that work comes in lumps (a major GC every few thousand requests).
 */

export const PARTS = ['jit', 'runtime', 'gc', 'compile', 'sqlite', 'libc', 'other'] as const;
export type Part = (typeof PARTS)[number];

export const PART_LABEL: Record<Part, string> = {
  jit: 'JS code (V8 compiled)',
  runtime: 'V8 + Node C++',
  gc: 'garbage collection',
  compile: 'V8 compilers',
  sqlite: 'SQLite',
  libc: 'C library',
  other: 'other',
};

export interface CallgrindDump {
  /** The file's `totals:` (or `summary:`) line: every instruction in the dump. */
  total: number;
  /** Own instructions per object and function. */
  fns: { ob: string; fn: string; self: number }[];
  /** Calls between functions (by name) with their inclusive instructions, all call sites added. */
  calls: { caller: string; callee: string; incl: number }[];
}

type Names = Map<string, string>;

/** `(12) name` defines id 12, `(12)` uses it, a bare name is itself. */
function resolveName(table: Names, v: string): string {
  const m = /^\((\d+)\)(?: (.*))?$/.exec(v);
  if (!m) return v;
  if (m[2] !== undefined) table.set(m[1]!, m[2]);
  return table.get(m[1]!) ?? `(${m[1]})`;
}

export function parseCallgrind(text: string): CallgrindDump {
  const obs: Names = new Map();
  const fns: Names = new Map();
  const self = new Map<string, { ob: string; fn: string; self: number }>();
  let ob = '???';
  let fn = '???';
  let total: number | null = null;
  let summary: number | null = null;
  const calls = new Map<string, { caller: string; callee: string; incl: number }>();
  let cfn = '???';
  let skipNext = false;
  let key = '';
  for (const line of text.split('\n')) {
    const c = line.charCodeAt(0);
    const isCost = (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42; // 0-9 + - *
    if (isCost) {
      const sp = line.indexOf(' ');
      const n = sp < 0 ? 0 : Number(line.slice(sp + 1).trim().split(/\s+/)[0]);
      if (skipNext) {
        skipNext = false;
        if (!Number.isFinite(n) || n === 0) continue;
        const ck = `${fn}\0${cfn}`;
        let e = calls.get(ck);
        if (!e) calls.set(ck, (e = { caller: fn, callee: cfn, incl: 0 }));
        e.incl += n;
        continue;
      }
      if (!Number.isFinite(n) || n === 0) continue;
      let e = self.get(key);
      if (!e) self.set(key, (e = { ob, fn, self: 0 }));
      e.self += n;
      continue;
    }
    const eq = line.indexOf('=');
    const tag = eq > 0 ? line.slice(0, eq) : '';
    const v = eq > 0 ? line.slice(eq + 1) : '';
    switch (tag) {
      case 'ob':
        ob = resolveName(obs, v);
        key = `${ob}\0${fn}`;
        break;
      case 'fn':
        fn = resolveName(fns, v);
        key = `${ob}\0${fn}`;
        break;
      case 'cob':
        resolveName(obs, v);
        break;
      case 'cfn':
        cfn = resolveName(fns, v);
        break;
      case 'calls':
        skipNext = true;
        break;
      default:
        if (line.startsWith('totals:')) total = Number(line.slice(7).trim().split(/\s+/)[0]);
        else if (line.startsWith('summary:')) summary = Number(line.slice(8).trim().split(/\s+/)[0]);
    }
  }
  const list = [...self.values()];
  return { total: total ?? summary ?? list.reduce((s, f) => s + f.self, 0), fns: list, calls: [...calls.values()] };
}

/**
 * Instructions under entry points: the inclusive cost of every call into an `entry` function from
 * a caller that is neither an entry nor `within` one already (a job joined from the main thread
 * runs inside the main thread's own GC). Counted per call edge, so an entry reached from another
 * only through an unlisted function would count twice; the entry lists are the outermost ones seen
 * in Node 20's dumps (bench/README.md, "Instructions per request").
 */
export function entryCost(d: CallgrindDump, entry: RegExp, within?: RegExp): number {
  let n = 0;
  for (const c of d.calls) if (entry.test(c.callee) && !entry.test(c.caller) && !within?.test(c.caller)) n += c.incl;
  return n;
}

/** The garbage collector's entry points: allocation-triggered and scheduled GCs, its tasks and background jobs. */
export const GC_ENTRY =
  /^(v8::internal::(Heap::(CollectGarbage|CollectAllGarbage|CollectAllAvailableGarbage|StartIncrementalMarking\w*|FinalizeIncrementalMarkingAtomically|HandleGCRequest|CheckMemoryPressure)|IncrementalMarking::(AdvanceAndFinalizeIfComplete|AdvanceOnAllocation|Step|Start)\b|\w*GCJob::Task::RunInternal|ScavengeJob::Task::RunInternal|IncrementalMarkingJob::Task::RunInternal|MemoryReducer::TimerTask::RunInternal|ConcurrentMarking::JobTask\w*::Run|ScavengerCollector::JobTask::Run|Sweeper::\w*Job\w*::Run|MemoryAllocator::Unmapper::UnmapFreeMemoryJob::Run|ArrayBufferSweeper::\w+)|cppgc::internal::.*?(Task|Job)\w*::Run\b)/;
/** Where a GC entry is reached from inside another: a job the collecting thread joins. */
export const GC_WITHIN = /DefaultJobState::Join|JobHandle::Join/;
/** V8's compilers' entry points: background TurboFan and Maglev jobs, and what the main thread compiles or installs. */
export const COMPILE_ENTRY =
  /^v8::internal::(OptimizingCompileDispatcher::(CompileTask::RunInternal|InstallOptimizedFunctions)|maglev::MaglevConcurrentDispatcher::\w+::Run|maglev::MaglevConcurrentDispatcher::FinalizeFinishedJobs|Runtime_Compile\w*|Runtime_InstallBaselineCode|BaselineBatchCompiler::\w+|Compiler::\w+)/;

const GC = /Scaveng|MarkCompact|Marking|Sweep|Evacuat|Compactor|heap::base|cppgc|MinorMS|GCTracer|RememberedSet|SlotSet|TypedSlot|ArrayBufferSweeper|WeakObjects|Heap::(Collect|Scavenge|MarkCompact|Perform|GarbageCollection|Iterate|Evacuate|Shrink|Sweep)/;
const COMPILE =
  /compiler::|maglev::|Maglev|turboshaft::|interpreter::Bytecode(Generator|ArrayBuilder|ArrayWriter|RegisterOptimizer)|(?<!Json)Parser|(?<!Json)Scanner|baseline::|Baseline(Batch)?Compiler|v8::internal::Compiler::|OptimizedCompilationJob|Deoptimizer|v8::internal::Zone|AstValueFactory|RegExp(Compiler|Parser|BytecodeGenerator|MacroAssembler)|CodeGenerator|Assembler::|SourcePositionTable/;

/**
 * Which part of the process a function belongs to, from its object file and name. JSON.parse's
 * `JsonParser` is the runtime's (it parses data, not code), not a compiler's parser.
 */
export function classify(ob: string, fn: string): Part {
  if (/better_sqlite3\.node$/.test(ob)) return 'sqlite';
  if (ob === '???' || /^0x[0-9a-f]+$/i.test(fn)) return 'jit';
  if (/\/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so/.test(ob)) return 'libc';
  if (/\/node$|\/nodejs$/.test(ob) || /^Builtins_/.test(fn)) {
    if (COMPILE.test(fn)) return 'compile';
    if (GC.test(fn)) return 'gc';
    return 'runtime';
  }
  return 'other';
}

export type Split = Record<Part, number> & {
  total: number;
  /** Under the garbage collector's entry points (call tree; includes helpers named as runtime or libc). */
  gcTree: number;
  /** Under V8's compilers' entry points (call tree). */
  compileTree: number;
};

/** Instructions per part by name, the total (anything not attributed is other), and the two call trees. */
export function splitParts(d: CallgrindDump): Split {
  const out = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  for (const f of d.fns) out[classify(f.ob, f.fn)] += f.self;
  // Instructions the file totals but no function line carries (rare) count as other.
  const attributed = PARTS.reduce((s, p) => s + out[p], 0);
  if (d.total > attributed) out.other += d.total - attributed;
  return { ...out, total: Math.max(d.total, attributed), gcTree: entryCost(d, GC_ENTRY, GC_WITHIN), compileTree: entryCost(d, COMPILE_ENTRY) };
}

/** A function's own instructions and the part it belongs to. */
export interface SelfCount {
  part: Part;
  ob: string;
  fn: string;
  self: number;
}

/** The functions with the most own instructions (for the report's "where" lines). */
export function topFunctions(d: CallgrindDump, n: number): SelfCount[] {
  return [...d.fns]
    .sort((a, b) => b.self - a.self)
    .slice(0, n)
    .map((f) => ({ part: classify(f.ob, f.fn), ...f }));
}
