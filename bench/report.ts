import { TARGET_LABEL, TARGET_ROUTE, type BenchResults, type BenchSettings, type ChatCell, type StreamRow, type TargetId, type WakeProbe } from './results.ts';
import { hostLine } from './host.ts';
import { byRound, overhead } from './stats.ts';
import { evaluateTargets, monitorCostShare, separateShare, type TargetCheck } from './targets.ts';
import { idleSummary } from './machine.ts';

/** Markdown rendering of a run: machine, settings, one table per workload, the targets. */

type Align = 'l' | 'r';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** A GitHub-flavoured markdown table; columns padded so the raw text lines up too. */
export function mdTable(headers: string[], rows: (string | number)[][], align: Align[] = []): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))].map((r) => r.map(esc));
  for (const r of cells) if (r.length !== headers.length) throw new Error(`row has ${r.length} cells, expected ${headers.length}`);
  const width = headers.map((_, i) => Math.max(3, ...cells.map((r) => [...r[i]].length)));
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(width[i] - [...s].length);
    return align[i] === 'r' ? fill + s : s + fill;
  };
  const line = (r: string[]) => `| ${r.map(pad).join(' | ')} |`;
  const rule = `|${width.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/** Nanoseconds as whole microseconds ("—" when not a number). */
export const fmtUs = (ns: number) => (Number.isFinite(ns) ? String(Math.round(ns / 1000)) : '—');
/** Signed microseconds ("+212", "-3"). */
export const fmtAddedUs = (ns: number) => (Number.isFinite(ns) ? `${ns >= 0 ? '+' : ''}${Math.round(ns / 1000)}` : '—');
export const fmtRatio = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—');
export const fmtInt = (n: number | null | undefined) => (n != null && Number.isFinite(n) ? String(Math.round(n)) : '—');
const fmtMB = (b: number) => (b / 1_000_000).toFixed(1);
const fmtMs = (ns: number) => (Number.isFinite(ns) ? (ns / 1e6).toFixed(1) : '—');

export const VERDICT_MARK: Record<TargetCheck['verdict'], string> = { met: '✅ met', missed: '❌ missed', 'not measured': '⚠️ not measured (missed)' };

function failedNote(status: { ok: false; error: string }) {
  return `FAILED: ${status.error.split('\n')[0].slice(0, 160)}`;
}

function chatTable(r: BenchResults): string {
  const rows: (string | number)[][] = [];
  const direct = (c: number) => r.chat.find((k) => k.target === 'direct' && k.concurrency === c && k.status.ok && k.n > 0);
  for (const c of r.settings.concurrencies) {
    for (const cell of r.chat.filter((k) => k.concurrency === c)) {
      const label = TARGET_LABEL[cell.target];
      const route = TARGET_ROUTE[cell.target];
      if (!cell.status.ok) {
        rows.push([label, route, c, failedNote(cell.status), '', '', '', '', '', '', '', '']);
        continue;
      }
      const d = cell.target === 'direct' ? undefined : direct(c);
      const o50 = d ? overhead(cell.lat.p50, d.lat.p50) : undefined;
      const o99 = d ? overhead(cell.lat.p99, d.lat.p99) : undefined;
      rows.push([
        label,
        route,
        c,
        fmtInt(cell.rps),
        fmtUs(cell.lat.p50),
        fmtUs(cell.lat.p90),
        fmtUs(cell.lat.p99),
        o50 ? fmtAddedUs(o50.addedNs) : '',
        o50 ? fmtRatio(o50.ratio) : '',
        o99 ? fmtAddedUs(o99.addedNs) : '',
        cpuCell(cell),
        `${cell.n}/${cell.errors}`,
      ]);
    }
  }
  return mdTable(
    ['target', 'route', 'conc.', 'req/s', 'p50 µs', 'p90 µs', 'p99 µs', 'added p50 µs', 'p50 ratio', 'added p99 µs', 'server CPU µs/req', 'ok/errors'],
    rows,
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

const cpuCell = (cell: ChatCell) =>
  cell.cpuUsPerReq == null
    ? '—'
    : `${fmtInt(cell.cpuUsPerReq)}${cell.cpuSysShare == null ? '' : ` (${Math.round(cell.cpuSysShare * 100)} % sys)`}${cell.target === 'direct' ? ' upstream' : ''}${
        cell.dbCpuUsPerReq === undefined ? '' : ` + database ${cell.dbCpuUsPerReq == null ? '?' : fmtInt(cell.dbCpuUsPerReq)}`
      }`;

function streamTable(r: BenchResults): string {
  const d = r.stream.find((s) => s.target === 'direct' && s.status.ok && s.n > 0);
  const rows = r.stream.map((s) => {
    if (!s.status.ok) return [TARGET_LABEL[s.target], failedNote(s.status), '', '', '', '', '', '', '', '', '', '', ''];
    const rel = d && s.target !== 'direct';
    return [
      TARGET_LABEL[s.target],
      s.n,
      fmtUs(s.ttfb.p50),
      fmtUs(s.ttfb.p99),
      rel ? fmtAddedUs(s.ttfb.p50 - d.ttfb.p50) : '',
      fmtUs(s.ttft.p50),
      rel ? fmtAddedUs(s.ttft.p50 - d.ttft.p50) : '',
      rel ? fmtAddedUs(s.last.p50 - d.last.p50) : '',
      rel && s.finish.n > 0 && d.finish.n > 0 ? fmtAddedUs(s.finish.p50 - d.finish.p50) : '',
      fmtUs(s.tail.p50),
      fmtMs(s.total.p50),
      rel ? fmtAddedUs(s.total.p50 - d.total.p50) : '',
      `${(100 * separateShare(s)).toFixed(1)} % (${s.n - s.coalesced}/${s.n} streams fully)`,
    ];
  });
  return mdTable(
    ['target', 'streams', 'TTFB p50 µs', 'TTFB p99 µs', 'added TTFB p50 µs', 'first token p50 µs', 'added first token p50 µs', 'added last token p50 µs', 'added finish chunk p50 µs', 'end after last token p50 µs', 'total p50 ms', 'added total p50 µs', 'chunks arriving alone'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
}

/** Streams at full speed: a chat cell's figures per whole stream, with the CPU beside the floor proxy's. */
function unpacedTable(r: BenchResults): string {
  const cells = r.unpaced ?? [];
  const ok = (x?: ChatCell) => !!x && x.status.ok && x.n > 0;
  const direct = cells.find((k) => k.target === 'direct' && ok(k));
  const floor = cells.find((k) => k.target === 'floor' && ok(k));
  const rows = cells.map((cell) => {
    if (!cell.status.ok) return [TARGET_LABEL[cell.target], failedNote(cell.status), '', '', '', '', '', '', ''];
    const d = cell.target === 'direct' ? undefined : direct;
    const vsFloor = floor?.cpuUsPerReq && cell.cpuUsPerReq != null && cell.target !== 'direct' && cell.target !== 'floor' ? fmtRatio(cell.cpuUsPerReq / floor.cpuUsPerReq) : '';
    return [
      TARGET_LABEL[cell.target],
      fmtInt(cell.rps),
      fmtInt(cell.rps * r.settings.streamChunks),
      fmtUs(cell.lat.p50),
      fmtUs(cell.lat.p99),
      d ? fmtAddedUs(cell.lat.p50 - d.lat.p50) : '',
      cpuCell(cell),
      vsFloor,
      `${cell.n}/${cell.errors}`,
    ];
  });
  return mdTable(
    ['target', 'streams/s', 'content chunks/s', 'stream p50 µs', 'stream p99 µs', 'added p50 µs', 'server CPU µs/stream', 'CPU ÷ floor proxy’s', 'ok/errors'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

function manyTable(r: BenchResults): string {
  const rows = r.many.map((m) => {
    if (!m.status.ok) return [TARGET_LABEL[m.target], failedNote(m.status), '', '', '', '', '', '', ''];
    return [
      TARGET_LABEL[m.target],
      `${m.completed}/${m.n}`,
      m.failed,
      m.peakOpen,
      (m.elapsedMs / 1000).toFixed(2),
      m.rss ? fmtMB(m.rss.before) : '—',
      m.rss ? fmtMB(m.rss.peak) : '—',
      m.rss ? fmtMB(m.rss.after) : '—',
      m.rss ? `+${fmtMB(m.rss.peak - m.rss.before)}` : '—',
    ];
  });
  const errors = r.many.filter((m) => m.status.ok && m.firstError).map((m) => `\n\n${TARGET_LABEL[m.target]}: first failure: ${m.firstError!.split('\n')[0].slice(0, 200)}`);
  return mdTable(
    ['target', 'completed', 'failed', 'peak open', 'duration s', 'RSS before MB', 'RSS peak MB', 'RSS after MB', 'growth MB'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  ) + errors.join('');
}

/** Why a pair of cells has no figures: each one's first error line, or "not run". */
const whyNot = (cells: (ChatCell | undefined)[]) =>
  cells
    .map((x) => (x && !x.status.ok ? x.status.error.split('\n')[0] : x ? '' : 'not run'))
    .filter(Boolean)
    .join('; ')
    .slice(0, 160);

const pct1 = (x: number) => `${(x * 100).toFixed(1)} %`;
const costCell = (c: { share: number; rounds: number[] }) =>
  c.rounds.length ? `${pct1(c.share)} (rounds ${pct1(Math.min(...c.rounds))} … ${pct1(Math.max(...c.rounds))})` : pct1(c.share);

/** Monitor on vs off, one row per concurrency; absent when the cell was not run. */
function monitorTable(r: BenchResults): string {
  const m = r.monitorCost!;
  const rows = r.settings.monitorConcurrencies.map((c) => {
    const at = (id: TargetId) => m.cells.find((k) => k.target === id && k.concurrency === c);
    const on = at('gw-sqlite-mon');
    const off = at('gw-sqlite-nomon');
    const ok = (x?: ChatCell): x is ChatCell => !!x && x.status.ok && x.n > 0;
    if (!ok(on) || !ok(off)) {
      return [c, `FAILED: ${whyNot([on, off])}`, '', '', '', '', '', '', ''];
    }
    const cpuAdded = on.cpuUsPerReq != null && off.cpuUsPerReq != null ? on.cpuUsPerReq - off.cpuUsPerReq : null;
    return [
      c,
      fmtInt(on.rps),
      fmtInt(off.rps),
      costCell(monitorCostShare(on, off)),
      `${fmtInt(on.cpuUsPerReq)} / ${fmtInt(off.cpuUsPerReq)}`,
      cpuAdded == null ? '—' : `${cpuAdded >= 0 ? '+' : ''}${Math.round(cpuAdded)}`,
      `${fmtUs(on.lat.p50)} / ${fmtUs(off.lat.p50)}`,
      `${fmtUs(on.lat.p99)} / ${fmtUs(off.lat.p99)}`,
      `${on.n}/${on.errors} · ${off.n}/${off.errors}`,
    ];
  });
  const n = (v: number | null) => (v == null ? 'unknown' : String(v));
  return (
    mdTable(
      ['conc.', 'on req/s', 'off req/s', 'throughput cost (rounds’ range)', 'CPU µs/req on / off', 'CPU added µs/req', 'p50 µs on / off', 'p99 µs on / off', 'ok/errors on · off'],
      rows,
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ) + `\n\nMonitor events recorded by the end of the cell: monitor on ${n(m.written.on)}, monitor off ${n(m.written.off)}.`
  );
}

const signed = (v: number, digits: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
const arrow = (a: string, b: string) => `${a} → ${b}`;
const change = (before: number, after: number) => (before > 0 ? `${signed(((after - before) / before) * 100, 1)} %` : '—');

/**
 * How the before/after change varied over the rounds, for req/s, p50 and CPU per request: the
 * range of the rounds' own changes and in how many rounds *after* was ahead (more req/s; lower
 * p50, less CPU). '—' where the rounds do not pair up.
 */
export function roundsSpread(before: ChatCell, after: ChatCell): { rps: string; p50: string; cpu: string } {
  return {
    rps: spread(byRound(before.roundRps, after.roundRps, (b, a) => (a - b) / b), 100, 1, '%', (v) => v > 0),
    p50: spread(byRound(before.roundP50, after.roundP50, (b, a) => a - b), 1 / 1000, 0, 'µs', (v) => v < 0),
    cpu: spread(byRound(before.roundCpuUs, after.roundCpuUs, (b, a) => a - b), 1, 0, 'µs', (v) => v < 0),
  };
}

/** The stream cell's rounds paired the same way: each round's change of its p50s (µs), and in how many rounds *after* was lower. */
export function streamRoundsSpread(before: StreamRow, after: StreamRow): { ttfb: string; tail: string; total: string } {
  const perRound = (k: 'ttfb' | 'tail' | 'total') => spread(byRound(before.rounds?.[k], after.rounds?.[k], (b, a) => a - b), 1 / 1000, 0, 'µs', (v) => v < 0);
  return { ttfb: perRound('ttfb'), tail: perRound('tail'), total: perRound('total') };
}

/** `lo … hi unit, ahead/rounds` over the rounds' own changes; '—' with fewer than two rounds that pair up. */
function spread(d: number[], scale: number, digits: number, unit: string, ahead: (v: number) => boolean): string {
  const v = d.filter(Number.isFinite);
  if (v.length < 2) return '—';
  return `${signed(scale * Math.min(...v), digits)} … ${signed(scale * Math.max(...v), digits)} ${unit}, ${v.filter(ahead).length}/${v.length}`;
}

/** `--baseline REF`: the gateway at REF (before) and from this tree (after), measured in the same rounds. */
function baselineSection(r: BenchResults): string[] {
  const b = r.baseline!;
  const title = `## Before / after — gateway / SQLite at \`${b.ref}\`${b.commit ? ` (${b.commit})` : ''} vs this tree`;
  if (b.error) return [title, '', `Not measured: ${b.error}`];
  const ok = (x?: { status: { ok: boolean }; n: number }) => !!x && x.status.ok && x.n > 0;
  const chatRows = r.settings.concurrencies.map((c) => {
    const at = (id: TargetId) => b.cells.find((k) => k.target === id && k.concurrency === c);
    const before = at('gw-before');
    const after = at('gw-after');
    if (!ok(before) || !ok(after)) {
      return [c, `FAILED: ${whyNot([before, after])}`, '', '', '', '', '', '', '', '', ''];
    }
    const [x, y] = [before!, after!];
    const spread = roundsSpread(x, y);
    return [
      c,
      arrow(fmtInt(x.rps), fmtInt(y.rps)),
      change(x.rps, y.rps),
      spread.rps,
      arrow(fmtInt(x.cpuUsPerReq), fmtInt(y.cpuUsPerReq)),
      spread.cpu,
      arrow(fmtUs(x.lat.p50), fmtUs(y.lat.p50)),
      spread.p50,
      arrow(fmtUs(x.lat.p90), fmtUs(y.lat.p90)),
      arrow(fmtUs(x.lat.p99), fmtUs(y.lat.p99)),
      `${x.n}/${x.errors} · ${y.n}/${y.errors}`,
    ];
  });
  const sb = b.stream.find((x) => x.target === 'gw-before');
  const sa = b.stream.find((x) => x.target === 'gw-after');
  const sr = ok(sb) && ok(sa) ? streamRoundsSpread(sb!, sa!) : undefined;
  const rounds = (s: string) => (s === '—' ? '' : ` (rounds ${s})`);
  const streamLine =
    sr
      ? `Streaming (${r.settings.streamChunks} chunks, ${r.settings.streamChunkDelayMs} ms apart): TTFB p50 ${arrow(fmtUs(sb!.ttfb.p50), fmtUs(sa!.ttfb.p50))} µs${rounds(sr.ttfb)}, first token p50 ${arrow(fmtUs(sb!.ttft.p50), fmtUs(sa!.ttft.p50))} µs, finish chunk p50 ${arrow(fmtMs(sb!.finish.p50), fmtMs(sa!.finish.p50))} ms, end after last token p50 ${arrow(fmtUs(sb!.tail.p50), fmtUs(sa!.tail.p50))} µs${rounds(sr.tail)}, total p50 ${arrow(fmtUs(sb!.total.p50), fmtUs(sa!.total.p50))} µs${rounds(sr.total)} (${sb!.n} · ${sa!.n} streams).`
      : `Streaming: not measured (${[sb, sa].map((x) => (x && !x.status.ok ? x.status.error.split('\n')[0] : x ? 'ok' : 'not run')).join(' · ')}).`;
  return [
    title,
    '',
    `Two fresh gateway / SQLite processes with full governance — one started from a temporary git worktree at \`${b.ref}\`, one from this tree — alternating in ${r.settings.monitorRounds} rounds × ${r.settings.monitorWindowMs} ms per concurrency; values are before → after.`,
    '',
    mdTable(
      ['conc.', 'req/s', 'change', 'rounds', 'CPU µs/req', 'rounds', 'p50 µs', 'rounds', 'p90 µs', 'p99 µs', 'ok/errors before · after'],
      chatRows,
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '*Rounds*: the range of the rounds’ own changes in the column before (each round’s two windows are adjacent in time), and in how many rounds *after* was ahead (more req/s, less CPU, lower p50). A range that spans zero, or a split count, is within this machine’s noise; a tree measured against itself (`--baseline HEAD` on a clean tree) shows how wide that noise is.',
    '',
    streamLine,
    ...unpacedBaselineLine(r),
  ];
}

/** `--baseline`'s unpaced-streams cell in one line: streams/s, CPU per stream and a stream's p50, with each round's change. */
function unpacedBaselineLine(r: BenchResults): string[] {
  const cells = r.baseline?.unpaced;
  if (!cells) return [];
  const before = cells.find((x) => x.target === 'gw-before');
  const after = cells.find((x) => x.target === 'gw-after');
  const what = `Streams at full speed (${r.settings.streamChunks} chunks unpaced, ${r.settings.unpacedConcurrency} at a time, ${r.settings.monitorRounds} rounds × ${r.settings.monitorWindowMs} ms)`;
  if (!before?.status.ok || !after?.status.ok || !before.n || !after.n) return ['', `${what}: not measured (${whyNot([before, after]) || 'no stream'}).`];
  const sp = roundsSpread(before, after);
  return [
    '',
    `${what}: streams/s ${arrow(fmtInt(before.rps), fmtInt(after.rps))} (${change(before.rps, after.rps)}; rounds ${sp.rps}), CPU µs per stream ${arrow(fmtInt(before.cpuUsPerReq), fmtInt(after.cpuUsPerReq))} (rounds ${sp.cpu}), stream p50 ${arrow(fmtUs(before.lat.p50), fmtUs(after.lat.p50))} µs (rounds ${sp.p50}) (${before.n} · ${after.n} streams).`,
  ];
}

export function targetsTable(checks: TargetCheck[]): string {
  return mdTable(['target', 'measured', 'result'], checks.map((c) => [c.target, c.measured, VERDICT_MARK[c.verdict]]));
}

/** The gateways' own Server-Timing phases at concurrency 1 (bench/phases.ts). */
export function phasesSection(r: BenchResults): string[] {
  const rows = r.phases ?? [];
  const ok = rows.filter((p) => !p.error);
  const names = [...new Set(ok.flatMap((p) => p.medianUs.map(([n]) => n)))];
  const lines = [
    '## Where the gateway’s time goes — concurrency 1, median of each phase (its own Server-Timing)',
    '',
    'One more window per gateway, each request asking for `x-kaixu-server-timing: 1` (README, “Server-Timing”): *body* = request bookkeeping, CORS and reading the body (on the fast lane, which serves these chat calls, also parsing and validating it); *auth*; *parse* = model/lane resolution (and validation, on the app); *admit* = allowlist, seat, rate limit, cap reservation; *upstream* = waiting on the upstream; *settle* = usage record and monthly totals written; *respond* = the rest up to the headers (upstream request built, answer read and translated, response body); *total* = request middleware to headers; *overhead* = total − upstream. *chat*: non-streaming, after the chat cells; *stream*: one stream at a time after the stream cell, its headers’ phases up to the first upstream event, then its trailer’s: *relay* = headers to the settle (the chunks relayed, mostly the upstream’s pace), *settle* (after the upstream’s last event), *close* = the settle’s end to the response’s end (last frames written), *stream* = headers to the end. Medians of each phase, so they do not add up exactly. The client’s p50 also holds both network hops, Node’s HTTP parsing and the response write in the gateway.',
    '',
  ];
  if (ok.length) {
    const body = names.map((n) => [n, ...ok.map((p) => String(p.medianUs.find(([k]) => k === n)?.[1] ?? '—'))]);
    body.push(['client p50: answer (chat), first byte (stream)', ...ok.map((p) => String(p.clientP50Us))]);
    lines.push(mdTable(['phase', ...ok.map((p) => `${TARGET_LABEL[p.target]}, ${p.workload} µs (n=${p.n})`)], body, ['l', ...ok.map((): 'r' => 'r')]));
  }
  for (const p of rows.filter((x) => x.error)) lines.push('', `- ${TARGET_LABEL[p.target]}, ${p.workload}: not measured (${p.error})`);
  return lines;
}

/** What the customer's caps cost each call: a reservation (hard, the targets' setting) or none (soft). */
function capLine(mode: BenchSettings['capMode']): string {
  return mode === 'soft'
    ? '**soft caps** (`--cap-mode soft`: no reservation, an over-cap call is answered and alerted; the targets are set for hard caps, so this run is not the record)'
    : 'hard caps (a cap reservation before every call)';
}

/** The wake probe's line in the header (wake-probe.ts). */
function wakeLine(w: WakeProbe | null): string {
  if (!w) return '- **Cross-core round trip**: not measured (the probe failed; see the run log).';
  const us = (x: number) => `${Math.round(x)} µs`;
  return `- **Cross-core round trip**: one byte over loopback TCP and back${w.between ? ` between ${w.between} (the load generator's and the servers')` : ' (unpinned)'}: p50 ${us(w.backToBack.p50)} (p90 ${us(w.backToBack.p90)}) back to back, ${w.n} times; p50 ${us(w.afterIdle.p50)} after ${w.idleMs} ms idle, ${w.idleN} times — what one hop costs here before any proxy work (bench/README.md, “The VM's idle policy”).`;
}

export function renderReport(r: BenchResults): string {
  const m = r.machine;
  const s = r.settings;
  const checks = evaluateTargets(r);
  const met = checks.filter((c) => c.verdict === 'met').length;
  const host = hostLine(r);
  const parts = [
    '# Kaixu Gateway benchmark',
    '',
    `- **Machine**: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, ${m.os}`,
    `- **Node**: ${m.node} · **date**: ${m.date} · **commit**: ${m.commit} · **load average** (start → end): ${m.loadavg}`,
    ...(m.idle ? [`- **Idle cores**: ${idleSummary(m.idle)}`] : []),
    ...(m.wake !== undefined ? [wakeLine(m.wake)] : []),
    `- **Pinning**: ${s.pinning}`,
    `- **Method**: closed-loop load from a separate undici keep-alive process, timed with process.hrtime.bigint(); ${s.rounds} interleaved rounds × ${s.windowMs} ms per target and cell (after a ${s.warmupMs} ms warm-up; before the first cell each target served non-streaming chat at concurrency 16 for ${s.steadyWarmupMs} ms${s.streamWarmupMs ? `, and before the stream cell unpaced streams one after another for ${s.streamWarmupMs} ms` : ''}, so steady-state processes are measured), targets in a new order each round (a balanced Latin square: places and neighbours change) so machine noise hits all of them; model \`${s.model}\`; run took ${(r.durationMs / 1000).toFixed(0)} s.`,
    `- **Gateway**: one \`kaixu serve\` process, LOG_LEVEL=warn, full governance: virtual key, model allowlist, device seat (\`x-kaixu-install-id\`, install id required), RPM limit, ${capLine(s.capMode)}, usage ledger, monitor events.`,
    '- **CPU µs/req**: user+system time of the server process (/proc/<pid>/stat, all threads) over the measured windows ÷ answered requests, with the kernel’s share; for *direct* it is the fake upstream’s own cost. *+ database* (gateway / PostgreSQL): the CPU of its database’s server processes over the same windows (/proc/<pid>/schedstat of each backend connected to it) ÷ the same requests; PostgreSQL’s shared WAL writer and checkpointer are not in it.',
    '- **Streams**: TTFB = first body byte; first token = first chunk with content; “chunks arriving alone” = share of content chunks that came in a network read of their own (not coalesced).',
    ...(host ? [host] : []),
    '',
    `## Targets — ${met}/${checks.length} met`,
    '',
    targetsTable(checks),
  ];
  // Workloads with no rows (an `--only` subset) are left out.
  if (r.chat.length) parts.push('', '## Non-streaming chat', '', chatTable(r));
  if (r.stream.length) parts.push('', `## Streaming chat — ${s.streamChunks} chunks, ${s.streamChunkDelayMs} ms apart, one stream at a time`, '', streamTable(r));
  if (r.unpaced?.length) {
    parts.push(
      '',
      `## Streams at full speed — ${s.streamChunks} chunks unpaced, ${s.unpacedConcurrency} at a time`,
      '',
      `Each of ${s.unpacedConcurrency} clients reads a whole stream to its terminal event and sends the next at once; the upstream sends its chunks back to back. ${s.rounds} interleaved rounds × ${s.unpacedWindowMs} ms per target (after a ${s.warmupMs} ms warm-up). A stream’s p50 is its whole duration; the CPU is the server process’s per stream (20 content chunks and the terminal events relayed, the call admitted and settled).`,
      '',
      unpacedTable(r),
    );
  }
  if (r.many.length) parts.push('', `## ${s.manyStreams} concurrent streams held open (${s.streamChunks} chunks, ${s.manyChunkDelayMs} ms apart)`, '', manyTable(r));
  if (r.monitorCost) {
    parts.push(
      '',
      `## Monitoring cost — gateway / SQLite with monitor events on vs off (MONITOR_ENABLED=false), non-streaming chat`,
      '',
      `Two otherwise identical gateway processes (full governance), alternating in ${s.monitorRounds} rounds × ${s.monitorWindowMs} ms each after a ${s.monitorWarmupMs} ms warm-up; throughput cost = 1 − on ÷ off over all rounds, with the range of the rounds’ own figures (each round’s two windows are adjacent in time).`,
      '',
      monitorTable(r),
    );
  }
  if (r.phases?.length) parts.push('', ...phasesSection(r));
  if (r.baseline) parts.push('', ...baselineSection(r));
  if (r.failures.length) {
    parts.push('', '## Targets that did not run', '');
    for (const f of r.failures) parts.push(`- **${TARGET_LABEL[f.target]}** (${f.target}): ${f.error.split('\n').slice(0, 6).join(' ⏎ ').slice(0, 600)}`);
  }
  if (r.notes.length) parts.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return parts.join('\n') + '\n';
}
