import { describe, expect, it } from 'vitest';
import { flameTree, renderFlameGraph } from '../../bench/flamegraph.ts';
import { phaseMedians } from '../../bench/phases.ts';
import { sliceProfile } from '../../bench/profile-run.ts';
import { areaOf, selfTimes, type CpuProfile } from '../../bench/profile.ts';
import { fmtAddedUs, fmtUs, mdTable, phasesSection, renderReport } from '../../bench/report.ts';
import type { BenchResults } from '../../bench/results.ts';
import { SseCounter } from '../../bench/sse.ts';
import { cpuPerRequestUs, mergeSamples, overhead, percentile, summarize } from '../../bench/stats.ts';
import { evaluateTargets, monitorCostShare } from '../../bench/targets.ts';
import { roundOrder } from '../../bench/workloads.ts';
import { fixture, streamRow } from './fixtures.ts';

/** The bench's statistics, SSE accounting, target verdicts and tables (the full bench is not run here). */

describe('stats', () => {
  it('nearest-rank percentiles over 1..100 µs', () => {
    const ns = Array.from({ length: 100 }, (_, i) => (100 - i) * 1_000); // descending on purpose
    const s = summarize(ns);
    expect(s).toMatchObject({ n: 100, min: 1_000, p50: 50_000, p90: 90_000, p99: 99_000, max: 100_000, mean: 50_500 });
    expect(ns[0]).toBe(100_000); // input not sorted in place
    expect(percentile([5], 50)).toBe(5);
    expect(percentile([1, 2, 3], 100)).toBe(3);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('keeps microsecond resolution', () => {
    const s = summarize([212_400, 213_600, 212_900]);
    expect(fmtUs(s.p50)).toBe('213');
    expect(fmtUs(s.min)).toBe('212');
    expect(fmtUs(s.max)).toBe('214');
    expect(fmtAddedUs(overhead(701_000, 200_000).addedNs)).toBe('+501');
    expect(fmtAddedUs(-3_400)).toBe('-3');
    expect(fmtUs(Number.NaN)).toBe('—');
  });

  it('overhead, CPU per request, merged rounds', () => {
    expect(overhead(600, 200)).toEqual({ addedNs: 400, ratio: 3 });
    expect(cpuPerRequestUs(1_000, 31_000, 100)).toBe(300);
    expect(cpuPerRequestUs(null, 5, 1)).toBeNull();
    expect(cpuPerRequestUs(0, 5, 0)).toBeNull();
    expect(Array.from(mergeSamples([[1, 2], [], [3]]))).toEqual([1, 2, 3]);
  });
});

describe('round order', () => {
  const rounds = (xs: string[], k: number) => Array.from({ length: k }, (_, r) => roundOrder(xs, r));
  const followers = (orders: string[][]) => {
    const seen = new Map<string, string[]>();
    for (const o of orders) for (let i = 1; i < o.length; i++) seen.set(o[i]!, [...(seen.get(o[i]!) ?? []), o[i - 1]!]);
    return seen;
  };

  it('two targets alternate, as the monitor and before/after pairs need', () => {
    expect(rounds(['on', 'off'], 4)).toEqual([['on', 'off'], ['off', 'on'], ['on', 'off'], ['off', 'on']]);
  });

  it('is a Latin square: every round visits each target once, and over n rounds each takes every place once', () => {
    for (const n of [1, 3, 4, 5, 6, 7]) {
      const xs = Array.from({ length: n }, (_, i) => `t${i}`);
      const orders = rounds(xs, n);
      for (const o of orders) expect([...o].sort()).toEqual([...xs].sort());
      for (let place = 0; place < n; place++) expect(new Set(orders.map((o) => o[place])).size).toBe(n);
    }
  });

  it('for an even count, every target follows every other exactly once over n rounds', () => {
    for (const n of [2, 4, 6]) {
      const xs = Array.from({ length: n }, (_, i) => `t${i}`);
      for (const [t, before] of followers(rounds(xs, n))) {
        expect(before.length).toBe(n - 1);
        expect(new Set(before)).toEqual(new Set(xs.filter((x) => x !== t)));
      }
    }
  });

  it("the default run's five targets in three rounds: no target keeps the same neighbour before it", () => {
    // direct, floor, gateway / SQLite (/v1), its seed route, gateway / PostgreSQL. The windows run
    // back to back, so a round's first target follows the previous round's last: one sequence.
    const windows = rounds(['direct', 'floor', 'v1', 'seed', 'pg'], 3).flat();
    const before = followers([windows]);
    expect([...before.keys()].sort()).toEqual(['direct', 'floor', 'pg', 'seed', 'v1']);
    for (const [, xs] of before) expect(new Set(xs).size).toBeGreaterThan(1);
    // A plain rotation kept the seed route behind /v1 (on the same warm gateway) in every round.
    expect(before.get('seed')).not.toEqual(['v1', 'v1', 'v1']);
  });
});

describe('SSE accounting', () => {
  const chunk = (t: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: t } }] })}\n\n`;

  it('counts chunks that arrive alone and chunks that were coalesced', () => {
    const one = new SseCounter('openai');
    for (const t of ['a', 'b', 'c']) expect(one.push(chunk(t))).toBe(1);
    one.push('data: {"choices":[],"usage":{"prompt_tokens":1}}\n\ndata: [DONE]\n\n');
    expect(one).toMatchObject({ content: 3, readsWithContent: 3, alone: 3, maxPerRead: 1, done: true, error: null });

    const lumped = new SseCounter('openai');
    lumped.push(chunk('a') + chunk('b') + chunk('c') + 'data: [DONE]\n\n');
    expect(lumped).toMatchObject({ content: 3, readsWithContent: 1, alone: 0, maxPerRead: 3, done: true });
  });

  it('handles frames split across reads, empty role chunks and errors', () => {
    const c = new SseCounter('openai');
    const f = chunk('hello');
    expect(c.push(f.slice(0, 10))).toBe(0);
    expect(c.push(f.slice(10))).toBe(1);
    c.push(`data: ${JSON.stringify({ choices: [{ delta: { role: 'assistant', content: '' } }] })}\r\n\r\n`);
    expect(c.content).toBe(1);
    expect(c.finished).toBe(false);
    c.push(`data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }] })}\n\n`);
    expect(c).toMatchObject({ content: 1, finished: true });
    c.push('data: {"error":{"message":"boom"}}\n\n');
    expect(c.error).toContain('boom');
  });

  it('reads the seed gateway-stream dialect', () => {
    const c = new SseCounter('seed');
    c.push('event: meta\ndata: {}\n\nevent: delta\ndata: {"text":"a"}\n\n');
    c.push('event: delta\ndata: {"text":"b"}\n\nevent: done\ndata: {}\n\n');
    expect(c).toMatchObject({ content: 2, alone: 2, done: true });
  });
});

describe('tables', () => {
  it('renders aligned markdown and escapes pipes', () => {
    const t = mdTable(['name', 'µs'], [['a|b', 12], ['c', 3456]], ['l', 'r']);
    expect(t.split('\n')).toEqual(['| name |   µs |', '|:-----|-----:|', '| a\\|b |   12 |', '| c    | 3456 |']);
    expect(() => mdTable(['a', 'b'], [['only one']])).toThrow(/expected 2/);
  });
});


describe('targets', () => {
  it('marks every target met when the gateway is within budget', () => {
    const r = fixture({ p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 });
    const checks = evaluateTargets(r);
    expect(checks).toHaveLength(9);
    expect(checks.filter((c) => c.verdict !== 'met')).toEqual([]);
    const md = renderReport(r);
    expect(md).toContain('## Targets — 9/9 met');
    expect(md).toContain('4.8 % at c=16 (2000 vs 2100 req/s over all rounds)');
    expect(md).toMatch(/\|\s+64 \|\s+2000 \|\s+2100 \|\s+4\.8 % \|\s+500 \/ 475 \|\s+\+25 \|/); // monitoring-cost row
    expect(md).toContain('Test CPU, 2 cores');
    expect(md).toContain('concurrency 16 for 4000 ms, and before the stream cell unpaced streams one after another for 3000 ms, so steady-state');
    // Results from before the stream warm-up existed say nothing of one.
    const { streamWarmupMs: _, ...older } = r.settings;
    expect(renderReport({ ...r, settings: older })).toContain('concurrency 16 for 4000 ms, so steady-state');
    expect(md).toMatch(/\|\s+\+300 \|/); // added p50 µs of the gateway at c=1
    expect(md).toMatch(/\|\s+500 \(25 % sys\) \|/); // CPU per request of the gateway, with the kernel's share
    expect(md).toMatch(/\|\s+\+500 \|\s+\+500 \|\s+200 \|\s+110\.5 \|\s+\+500 \|/); // stream: added last token, added finish chunk, end after last token, total, added total
  });

  it('marks each target missed just past its threshold', () => {
    // 1499 / 1666 req/s: monitoring costs 10.0 %, just past "< 10 %".
    const r = fixture({ p50: 701, p99: 3401, rps: 1499, cpu: 601, ttfb: 801, total: 111.1, alone: 900, rssGrowthMB: 151, monitorOffRps: 1666 });
    const v = Object.fromEntries(evaluateTargets(r).map((c) => [c.id, c.verdict]));
    expect(v).toEqual({ 'p50-c1': 'missed', 'p99-c16': 'missed', cpu: 'missed', 'rps-c64': 'missed', ttfb: 'missed', chunks: 'missed', many: 'missed', pg: 'met', monitor: 'missed' });
    const close = fixture({ p50: 701, p99: 3401, rps: 1499, cpu: 601, ttfb: 801, total: 111.1, alone: 900, rssGrowthMB: 151, monitorOffRps: 1665 });
    expect(evaluateTargets(close).find((c) => c.id === 'monitor')!.verdict).toBe('met'); // 9.97 %
    expect(renderReport(r)).toContain('❌ missed');
  });

  it('shows what the floor proxy alone adds on each latency target, and says when the floor itself misses it', () => {
    // Floor fixture: 350 µs p50 / 700 µs p99 vs direct 200 / 400.
    const r = fixture({ p50: 701, p99: 3401, rps: 1499, cpu: 601, ttfb: 801, total: 111.1, alone: 900, rssGrowthMB: 151 });
    const byId = Object.fromEntries(evaluateTargets(r).map((c) => [c.id, c]));
    expect(byId['p50-c1']!.measured).toBe('+501 µs (701 µs vs 200 µs); floor proxy alone +150 µs');
    expect(byId['p99-c16']!.measured).toBe('+3001 µs (3401 µs vs 400 µs); floor proxy alone +300 µs');
    const slowFloor = fixture({ p50: 701, p99: 3401, rps: 1499, cpu: 601, ttfb: 801, total: 111.1, alone: 900, rssGrowthMB: 151 });
    slowFloor.stream.push(streamRow('floor', 1000, 112, 990));
    const ttfb = evaluateTargets(slowFloor).find((c) => c.id === 'ttfb')!;
    expect(ttfb).toMatchObject({ verdict: 'missed', measured: '+501 µs (801 µs vs 300 µs); floor proxy alone +700 µs (the floor itself misses this target here)' });
    expect(evaluateTargets(slowFloor).find((c) => c.id === 'chunks')!.measured).toContain('floor proxy alone total +2000 µs (the floor itself misses this target here)');
  });

  it('shows the added p50 at concurrency 1 round by round; the verdict stays on the pooled samples', () => {
    const r = fixture({ p50: 701, p99: 3401, rps: 1499, cpu: 601, ttfb: 801, total: 111.1, alone: 900, rssGrowthMB: 151 });
    const c1 = (t: string) => r.chat.find((c) => c.target === t && c.concurrency === 1)!;
    c1('gw-sqlite').roundP50 = [650_000, 701_000, 760_000];
    c1('direct').roundP50 = [190_000, 200_000, 230_000];
    const p50 = () => evaluateTargets(r).find((c) => c.id === 'p50-c1')!;
    expect(p50()).toMatchObject({ verdict: 'missed', measured: '+501 µs (701 µs vs 200 µs); by round +460 / +501 / +530 µs; floor proxy alone +150 µs' });
    c1('direct').roundP50 = [190_000, Number.NaN, 230_000]; // a window without answers stays in its place
    expect(p50().measured).toBe('+501 µs (701 µs vs 200 µs); by round +460 / — / +530 µs; floor proxy alone +150 µs');
    c1('direct').roundP50 = [190_000, 200_000]; // rounds that do not pair up: none shown
    expect(p50().measured).toBe('+501 µs (701 µs vs 200 µs); floor proxy alone +150 µs');
  });

  it('reports a target whose inputs failed as not measured, never as met', () => {
    const r = fixture({ p50: 300, p99: 500, rps: 3000, cpu: 250, ttfb: 350, total: 110, alone: 1000, rssGrowthMB: 10 });
    r.chat = r.chat.map((c) => (c.target === 'gw-pg' ? { ...c, status: { ok: false, error: 'HTTP 404: no route' }, n: 0 } : c));
    r.many = [];
    r.failures.push({ target: 'gw-pg', error: 'did not start' });
    const byId = Object.fromEntries(evaluateTargets(r).map((c) => [c.id, c]));
    expect(byId.pg.verdict).toBe('not measured');
    expect(byId.many.verdict).toBe('not measured');
    expect(byId['p50-c1'].verdict).toBe('met');
    const md = renderReport(r);
    expect(md).toContain('FAILED: HTTP 404: no route');
    expect(md).toContain('## Targets that did not run');
  });

  it('takes the monitoring cost from req/s over all rounds and shows the rounds’ spread', () => {
    const r = fixture({ p50: 300, p99: 500, rps: 3000, cpu: 250, ttfb: 350, total: 110, alone: 1000, rssGrowthMB: 10 });
    for (const c of r.monitorCost!.cells) {
      const on = c.target === 'gw-sqlite-mon';
      c.roundRps = on ? [100, 100, 50, 100] : [105, 105, 105, 104]; // round 3: a stall while the monitor was on
      c.rps = on ? 87.5 : 104.75;
    }
    const [on, off] = r.monitorCost!.cells;
    const cost = monitorCostShare(on!, off!);
    expect(cost.share).toBeCloseTo(1 - 87.5 / 104.75, 6); // the stall counts: 16.5 %
    expect(cost.rounds.map((x) => Math.round(x * 1000) / 10)).toEqual([4.8, 4.8, 52.4, 3.8]);
    const check = evaluateTargets(r).find((c) => c.id === 'monitor')!;
    expect(check).toMatchObject({ verdict: 'missed', measured: expect.stringContaining('16.5 % at c=16 (88 vs 105 req/s over 4 rounds)') });
    expect(renderReport(r)).toMatch(/16\.5 % \(rounds 3\.8 % … 52\.4 %\)/);
    on!.roundRps = [100, 100]; // rounds that do not pair up: no spread shown
    expect(monitorCostShare(on!, off!).rounds).toEqual([]);
  });

  it('counts the monitoring cost only when the switch is proven by each gateway’s own counters', () => {
    const ok = { p50: 300, p99: 500, rps: 3000, cpu: 250, ttfb: 350, total: 110, alone: 1000, rssGrowthMB: 10 };
    const verdict = (r: BenchResults) => evaluateTargets(r).find((c) => c.id === 'monitor')!;
    expect(verdict(fixture(ok)).verdict).toBe('met');
    const offWrote = fixture(ok);
    offWrote.monitorCost!.written.off = 7;
    expect(verdict(offWrote)).toMatchObject({ verdict: 'not measured', measured: expect.stringContaining('monitor-off gateway recorded 7') });
    const onSilent = fixture(ok);
    onSilent.monitorCost!.written.on = 0;
    expect(verdict(onSilent).verdict).toBe('not measured');
    const failed = fixture(ok);
    failed.monitorCost!.cells[1] = { ...failed.monitorCost!.cells[1]!, status: { ok: false, error: 'process exited' }, n: 0 };
    expect(verdict(failed).verdict).toBe('not measured');
    expect(renderReport(failed)).toContain('FAILED: process exited');
    const skipped = fixture(ok);
    delete skipped.monitorCost;
    expect(verdict(skipped).verdict).toBe('not measured');
    expect(renderReport(skipped)).not.toContain('## Monitoring cost');
  });
});

describe('CPU profile summary', () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', '') },
      { id: 2, callFrame: frame('(idle)', '') },
      { id: 3, callFrame: frame('admit', 'file:///w/src/governance/admit.ts', 9) },
      { id: 4, callFrame: frame('compile', 'file:///w/node_modules/kysely/dist/x.js') },
      { id: 5, callFrame: frame('(garbage collector)', '') },
    ],
    samples: [2, 3, 3, 4, 5, 3],
    timeDeltas: [1000, 100, 100, 50, 25, 100],
    startTime: 0,
    endTime: 1375,
  };

  it('adds self time per function and per area, idle apart', () => {
    const s = selfTimes(profile);
    expect(s.idleUs).toBe(1000);
    expect(s.totalUs).toBe(375);
    expect(s.fns[0]).toMatchObject({ name: 'admit', where: 'src/governance/admit.ts', area: 'src/governance', selfUs: 300 });
    expect(s.areas.map((a) => a.area)).toEqual(['src/governance', 'kysely', '(garbage collector)']);
    expect(areaOf('node:internal/http', 'x')).toBe('node internals');
    expect(areaOf('file:///w/node_modules/@hono/node-server/dist/a.js', 'x')).toBe('@hono/node-server');
  });

  it('cuts the boot phase off the front of a profile', () => {
    const cut = sliceProfile(profile, 1_100);
    expect(cut.samples).toEqual([3, 3, 4, 5, 3]);
    expect(selfTimes(cut).idleUs).toBe(0);
  });
});

describe('flame graph', () => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0, columnNumber: 0 });
  // (root) → handler → { settle → sqliteTransaction, <anonymous> & co }, plus idle and a tiny frame.
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('handler', 'file:///w/src/http/app.ts'), children: [4, 6, 7] },
      { id: 4, callFrame: frame('settle', 'file:///w/src/governance/admission.ts'), children: [5] },
      { id: 5, callFrame: frame('sqliteTransaction', 'file:///w/node_modules/better-sqlite3/lib/t.js') },
      { id: 6, callFrame: frame('<anonymous> & co', 'node:internal/x') },
      { id: 7, callFrame: frame('tiny', 'file:///w/src/lib/ids.ts') },
    ],
    samples: [2, 3, 4, 5, 5, 6, 7],
    timeDeltas: [5000, 100, 200, 300, 300, 100, 1],
    startTime: 0,
    endTime: 6001,
  };

  it('adds each frame’s own time to its callers’, idle left out', () => {
    const t = flameTree(profile);
    expect(t.totalUs).toBe(1001);
    const handler = t.children[0]!;
    expect(handler).toMatchObject({ name: 'handler', totalUs: 1001, area: 'src/http', where: 'src/http/app.ts' });
    expect(handler.children.map((c) => [c.name, c.totalUs])).toEqual([
      ['settle', 800],
      ['<anonymous> & co', 100],
      ['tiny', 1],
    ]);
    expect(handler.children[0]!.children[0]).toMatchObject({ name: 'sqliteTransaction', totalUs: 600, area: 'better-sqlite3' });
  });

  it('draws boxes as wide as their time, escapes names, hides boxes under the minimum share', () => {
    const svg = renderFlameGraph(profile, { title: 'test <profile>', requests: 10, width: 1020, minShare: 0.01 });
    expect(svg.startsWith('<svg')).toBe(true);
    const widthOf = (name: string) => Number(new RegExp(`<title>${name}[^<]*</title><rect [^>]*width="([0-9.]+)"`).exec(svg)?.[1]);
    // 1000 px for 1001 µs: settle 800 µs → ≈ 799 px, sqliteTransaction 600 µs → ≈ 599 px (minus the 0.5 px gap).
    expect(widthOf('settle')).toBeCloseTo(798.7, 0);
    expect(widthOf('sqliteTransaction')).toBeCloseTo(599, 0);
    expect(svg).toContain('&lt;anonymous&gt; &amp; co');
    expect(svg).toContain('test &lt;profile&gt;');
    expect(svg).toContain('80.0 µs/req');
    expect(svg).not.toContain('<title>tiny');
    expect(svg).not.toContain('(idle)');
  });
});

describe('where the time goes (Server-Timing phases)', () => {
  it('takes each phase’s median over the answers, phases in the gateway’s order', () => {
    const m = phaseMedians([
      'body;dur=0.020, auth;dur=0.030, upstream;dur=0.200, total;dur=0.400',
      'body;dur=0.040, auth;dur=0.010, upstream;dur=0.300, total;dur=0.500',
      'body;dur=0.030, auth;dur=0.020, upstream;dur=0.250, total;dur=0.450',
      // an answer that never reached auth: its phases still count where present
      'body;dur=0.100, total;dur=0.100',
    ]);
    expect(m.n).toBe(4);
    expect(m.medianUs).toEqual([
      ['body', 30],
      ['auth', 20],
      ['upstream', 250],
      ['total', 400],
    ]);
  });

  it('renders one column per gateway and says which could not be measured', () => {
    const base = fixture({ p50: 500, p99: 2000, rps: 2000, cpu: 500, ttfb: 600, total: 110.5, alone: 985, rssGrowthMB: 80 });
    base.phases = [
      { target: 'gw-sqlite', workload: 'chat', concurrency: 1, n: 900, medianUs: [['body', 31], ['settle', 98], ['total', 300]], clientP50Us: 760 },
      { target: 'gw-sqlite', workload: 'stream', concurrency: 1, n: 20, medianUs: [['body', 40], ['total', 500], ['relay', 115000], ['settle', 240], ['close', 110]], clientP50Us: 1900 },
      { target: 'gw-pg', workload: 'chat', concurrency: 1, n: 0, medianUs: [], clientP50Us: 0, error: 'process exited' },
    ];
    const md = phasesSection(base).join('\n');
    expect(md).toMatch(/\| phase +\| gateway \/ SQLite, chat µs \(n=900\) \| gateway \/ SQLite, stream µs \(n=20\) \|/);
    // A stream's settle comes from its trailer, in the same row as the chat's; its own phases follow.
    expect(md).toMatch(/\| settle +\| +98 \| +240 \|/);
    expect(md).toMatch(/\| relay +\| +— \| +115000 \|/);
    expect(md).toMatch(/\| close +\| +— \| +110 \|/);
    expect(md).toMatch(/\| client p50: answer \(chat\), first byte \(stream\) \| +760 \| +1900 \|/);
    expect(md).toContain('gateway / PostgreSQL, chat: not measured (process exited)');
    expect(renderReport(base)).toContain('## Where the gateway’s time goes');
  });
});
