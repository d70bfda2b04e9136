import { readFileSync } from 'node:fs';
import { mdTable } from './report.ts';

/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: top functions by self
 * time, and self time grouped by area (our src/<area>, each npm package, node internals, GC).
 */

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  area: string;
  selfUs: number;
}

/** src/<area>, the npm package, "node internals", or the V8 pseudo-frame name. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node internals';
  const src = /\/(src|bench|test)\/([^/]+)/.exec(url);
  if (src) return src[2].endsWith('.ts') ? src[1] : `${src[1]}/${src[2]}`;
  return url.replace(/^file:\/\//, '');
}

/** Where a frame is, shortened: `src/…`, `package/…:line` or `node:…:line` (.ts lines point into tsx output, so none). */
export function frameWhere(url: string, lineNumber: number): string {
  if (!url) return '';
  const short = url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(/^.*\/(src|bench|test)\//, '$1/');
  return url.endsWith('.ts') ? short : `${short}:${lineNumber + 1}`;
}

export function selfTimes(p: CpuProfile): { fns: SelfTime[]; areas: { area: string; selfUs: number }[]; totalUs: number; idleUs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const perNode = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) perNode.set(p.samples[i], (perNode.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fns = new Map<string, SelfTime>();
  const areas = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of perNode) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    totalUs += us;
    const name = functionName || '(anonymous)';
    const where = frameWhere(url, lineNumber);
    const key = `${name}@${where}`;
    const area = areaOf(url, name);
    const f = fns.get(key) ?? { name, where, area, selfUs: 0 };
    f.selfUs += us;
    fns.set(key, f);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  return {
    fns: [...fns.values()].sort((a, b) => b.selfUs - a.selfUs),
    areas: [...areas.entries()].map(([area, selfUs]) => ({ area, selfUs })).sort((a, b) => b.selfUs - a.selfUs),
    totalUs,
    idleUs,
  };
}

export function renderProfile(p: CpuProfile, opts: { top?: number; requests?: number } = {}): string {
  const s = selfTimes(p);
  const pct = (us: number) => `${((100 * us) / Math.max(1, s.totalUs)).toFixed(1)} %`;
  const perReq = (us: number) => (opts.requests ? (us / opts.requests).toFixed(1) : '—');
  const lines = [
    `Busy ${(s.totalUs / 1000).toFixed(0)} ms, idle ${(s.idleUs / 1000).toFixed(0)} ms${opts.requests ? `, ${opts.requests} requests → ${(s.totalUs / opts.requests).toFixed(0)} µs busy per request` : ''}.`,
    '',
    '### Self time by area',
    '',
    mdTable(['area', 'self ms', 'share', 'µs/req'], s.areas.slice(0, 20).map((a) => [a.area, (a.selfUs / 1000).toFixed(1), pct(a.selfUs), perReq(a.selfUs)]), ['l', 'r', 'r', 'r']),
    '',
    `### Top ${opts.top ?? 30} functions by self time`,
    '',
    mdTable(
      ['function', 'where', 'self ms', 'share', 'µs/req'],
      s.fns.slice(0, opts.top ?? 30).map((f) => [f.name, f.where, (f.selfUs / 1000).toFixed(1), pct(f.selfUs), perReq(f.selfUs)]),
      ['l', 'l', 'r', 'r', 'r'],
    ),
  ];
  return lines.join('\n');
}

export const readProfile = (path: string): CpuProfile => JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
