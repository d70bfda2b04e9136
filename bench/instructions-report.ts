import { PART_LABEL, PARTS, type Part } from './callgrind.ts';
import { requestDriven, roundDriven, type InstrSettings, type InstrTarget } from './instructions.ts';
import { mdTable } from './report.ts';
import type { Machine } from './results.ts';

/** The `--instructions` report (markdown). */

const LABEL: Record<InstrTarget['id'], string> = {
  floor: 'floor proxy',
  'gw-sqlite': 'gateway / SQLite',
  'gw-before': 'gateway / SQLite (baseline)',
};

const k = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (a: number, b: number) => `${a >= b ? '+' : '−'}${Math.abs((a / b - 1) * 100).toFixed(1)} %`;

/** The rounds’ lowest and highest request-driven count. */
function range(t: InstrTarget, s: InstrSettings): string {
  const xs = t.rounds.map((_, r) => roundDriven(t, s.requests, r));
  return `${k(Math.min(...xs))} … ${k(Math.max(...xs))}`;
}

/** What is counted per: a non-streaming call, or a whole stream (`--instr-stream`). */
const unitOf = (s: InstrSettings) => (s.streamChunks ? 'stream' : 'request');

/** What the timers cost per request in this run: the idle rate × the mean wall time of a request. */
const timers = (t: InstrTarget) => (t.idlePerSecond * t.msPerRequest) / 1000;

export function renderInstructions(m: Machine, s: InstrSettings, targets: InstrTarget[], note?: string): string {
  const floor = targets.find((t) => t.id === 'floor');
  const now = targets.find((t) => t.id === 'gw-sqlite');
  const before = targets.find((t) => t.id === 'gw-before');
  const unit = unitOf(s);
  const anthropic = s.provider === 'anthropic';
  const workload = s.streamChunks
    ? `streamed chat (\`POST /v1/chat/completions\` with \`stream: true\`, the timed bench's stream request; ${s.streamChunks} content chunks sent by the fake upstream back to back, each stream read to its \`[DONE]\`) — every “request” below is one whole stream`
    : "non-streaming chat (`POST /v1/chat/completions`, the timed bench's request)";
  const upstream = anthropic
    ? `- **Upstream**: the fake **Anthropic** Messages API (\`--instr-provider anthropic\`). The gateway is asked the same \`/v1\` request for a Claude model and translates ${s.streamChunks ? 'the named events of its stream' : 'its answer'}; the floor proxy passes an Anthropic request (\`POST /v1/messages\`${s.streamChunks ? ', read to its `message_stop`' : ''}) through to the same fake.`
    : undefined;
  const lines = [
    `# Kaixu Gateway — instructions per ${unit} (callgrind)`,
    '',
    `- **Machine**: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, ${m.os} · **Node**: ${m.node} · **date**: ${m.date} · **commit**: ${m.commit}`,
    `- **Method**: each target alone under \`valgrind --tool=callgrind\`, ${workload}, at concurrency 1 over one keep-alive connection; ${k(s.warmup)} requests of warm-up uncounted (and on until a turn of the wall-clock minute had passed), then ${s.rounds} counted rounds of ${k(s.requests)} requests and a ${s.idleMs / 1000} s idle window. Instructions executed in user space by every thread of the target's process (system calls' kernel work is not counted), per answered request. The gateway runs with full governance (the timed bench's setup), its key cache refreshed hourly instead of every 30 s.`,
    '- **Request-driven** = the median round’s instructions − the garbage collector’s and V8’s compilers’ call trees (their work comes in lumps: a major GC every few thousand requests, an optimisation when V8 decides; one round catches it, the next does not) − the time-driven work: the idle rate (pollers, the monitor’s flush) × the round’s wall time, as a request takes ≈ 20 × longer under callgrind than natively. This is the figure to compare across trees and hosts (bench/README.md, “Instructions per request”).',
    ...(upstream ? [upstream] : []),
    ...(note ? [`- ${note}`] : []),
    '',
    `## Per ${unit}`,
    '',
  ];
  const header = ['target', 'commit', 'request-driven', 'rounds’ range', ...(floor ? ['× floor'] : []), 'all (mean)', 'GC (call tree)', 'V8 compilers (call tree)', 'timers', `ms/${unit} under callgrind`, 'idle instructions/s'];
  const rows = targets.map((t) => [
    LABEL[t.id],
    t.commit,
    k(requestDriven(t, s.requests)),
    range(t, s),
    ...(floor ? [`${(requestDriven(t, s.requests) / requestDriven(floor, s.requests)).toFixed(2)} ×`] : []),
    k(t.mean.total),
    k(t.mean.gcTree),
    k(t.mean.compileTree),
    k(timers(t)),
    t.msPerRequest.toFixed(1),
    k(t.idlePerSecond),
  ]);
  lines.push(mdTable(header, rows, header.map((_, i) => (i < 2 ? 'l' : 'r'))), '');
  lines.push('### All instructions by function name (mean of the rounds)', '', 'Each function’s own instructions, whoever called it: GC and compiler helpers with generic names (hash maps, visitors, memcpy) count as V8 + Node C++ or C library here.', '');
  const byName = ['target', ...PARTS.map((p) => PART_LABEL[p])];
  lines.push(mdTable(byName, targets.map((t) => [LABEL[t.id], ...PARTS.map((p) => k(t.mean[p]))]), byName.map((_, i) => (i < 1 ? 'l' : 'r'))), '');
  if (now && before) lines.push(...compare(before, now, s));
  const gw = now ?? before;
  if (gw) {
    const cut = (fn: string) => (fn.length > 100 ? `${fn.slice(0, 99)}…` : fn);
    lines.push(
      `## Where the ${LABEL[gw.id]} spends them — the 15 functions with the most own instructions`,
      '',
      `Own instructions per ${unit}, over all rounds (trees included). Compiled JavaScript is named from the map \`node --perf-basic-prof\` writes (\`JS:\` and a tier: \`*\` optimised, \`+\` Maglev, \`^\` baseline, \`~\` interpreted); an address left as \`0x…\` is code the map did not cover.`,
      '',
      mdTable(['part', 'function', 'object', `per ${unit}`], gw.top.map((f) => [PART_LABEL[f.part], cut(f.fn), f.ob.split('/').pop() ?? f.ob, k(f.perRequest)]), ['l', 'l', 'l', 'r']),
      '',
    );
    if (gw.topJs.length > 0) {
      lines.push(
        `### The 15 JavaScript functions with the most own instructions (${LABEL[gw.id]})`,
        '',
        'Inline-cache misses and other calls into V8 count as V8 + Node C++, not here.',
        '',
        mdTable(['function', `per ${unit}`], gw.topJs.map((f) => [cut(f.fn), k(f.perRequest)]), ['l', 'r']),
        '',
      );
    }
  }
  return lines.join('\n');
}

function compare(before: InstrTarget, after: InstrTarget, s: InstrSettings): string[] {
  const row = (label: string, b: number, a: number) => [label, k(b), k(a), `${a >= b ? '+' : '−'}${k(Math.abs(a - b))}`, pct(a, b)];
  const parts: Part[] = PARTS.filter((p) => before.mean[p] > 0 || after.mean[p] > 0);
  const rb = requestDriven(before, s.requests);
  const ra = requestDriven(after, s.requests);
  const paired = Math.min(before.rounds.length, after.rounds.length);
  const ahead = Array.from({ length: paired }, (_, r) => r).filter((r) => roundDriven(after, s.requests, r) < roundDriven(before, s.requests, r)).length;
  const [lo, hi] = [before.mean.compileTree, after.mean.compileTree].sort((a, b) => a - b) as [number, number];
  const churn = hi > 50_000 && hi > 2 * lo;
  return [
    `## Before → after: ${before.commit} → ${after.commit}`,
    '',
    `Request-driven instructions per ${unitOf(s)} ${k(rb)} → ${k(ra)} (${pct(ra, rb)}); this tree lower in ${ahead} of ${paired} rounds paired by order. The call trees and each part by name (means, timers included):`,
    '',
    ...(churn
      ? [
          `**V8 was still re-optimising much more on one side** (compilers’ call tree ${k(before.mean.compileTree)} → ${k(after.mean.compileTree)} per request): code that runs unoptimised meanwhile costs more instructions outside that tree too (inline-cache handlers), up to ≈ 5 % of request-driven on the same tree. Rerun before reading a change of a few per cent.`,
          '',
        ]
      : []),
    mdTable(
      ['part', 'before', 'after', 'change', 'change %'],
      [row('request-driven', rb, ra), row('GC (call tree)', before.mean.gcTree, after.mean.gcTree), row('V8 compilers (call tree)', before.mean.compileTree, after.mean.compileTree), ...parts.map((p) => row(PART_LABEL[p], before.mean[p], after.mean[p]))],
      ['l', 'r', 'r', 'r', 'r'],
    ),
    '',
  ];
}
