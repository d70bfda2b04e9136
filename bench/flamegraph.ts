import { areaOf, frameWhere, type CpuProfile } from './profile.ts';

/**
 * A flame graph (SVG) of a V8 .cpuprofile: one box per call frame in its call path, as wide as the
 * time spent in it and in everything it called; callers below callees. Idle time is left out.
 * Hover a box for its function, file, time and share. Pure: profile in, SVG text out.
 */

export interface FlameNode {
  name: string;
  where: string;
  area: string;
  /** Self + callees, µs. */
  totalUs: number;
  children: FlameNode[];
}

export interface FlameOptions {
  title: string;
  /** Requests answered in the profiled window: adds µs per request to each box's tooltip. */
  requests?: number;
  width?: number;
  /** Boxes narrower than this share of the total are left out (default 0.1 %). */
  minShare?: number;
}

const ROW = 17;
const FONT_PX = 11;
const CHAR_PX = 6.6;

/** The call tree with inclusive times; the root's children are the busy top-level frames. */
export function flameTree(p: CpuProfile): FlameNode {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const childIds = new Set(p.nodes.flatMap((n) => n.children ?? []));
  const build = (id: number): FlameNode | null => {
    const n = byId.get(id);
    if (!n || n.callFrame.functionName === '(idle)') return null;
    const { functionName, url, lineNumber } = n.callFrame;
    const children = (n.children ?? []).map(build).filter((c): c is FlameNode => c !== null);
    const totalUs = (self.get(id) ?? 0) + children.reduce((s, c) => s + c.totalUs, 0);
    return { name: functionName || '(anonymous)', where: frameWhere(url, lineNumber), area: areaOf(url, functionName), totalUs, children: children.sort((a, b) => b.totalUs - a.totalUs) };
  };
  const roots = p.nodes.filter((n) => !childIds.has(n.id)).map((n) => build(n.id)).filter((c): c is FlameNode => c !== null);
  // V8's own "(root)" frame is the single root; keep its children as the graph's base row.
  const top = roots.length === 1 && roots[0]!.name === '(root)' ? roots[0]!.children : roots;
  return { name: 'all', where: '', area: 'all', totalUs: top.reduce((s, c) => s + c.totalUs, 0), children: top };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A stable warm colour per area; our own code orange, packages yellow, Node red, V8 grey. */
function colour(area: string): string {
  let h = 0;
  for (let i = 0; i < area.length; i++) h = (h * 31 + area.charCodeAt(i)) >>> 0;
  const jitter = h % 24;
  if (area === 'all') return 'rgb(200,200,200)';
  if (area.startsWith('(')) return `rgb(${170 + (jitter % 16)},${170 + (jitter % 16)},${170 + (jitter % 16)})`;
  if (area === 'node internals') return `rgb(${225 + (jitter % 30)},${90 + jitter * 2},${70 + jitter})`;
  if (area === 'src' || area.startsWith('src/')) return `rgb(${235 + (jitter % 20)},${140 + jitter * 2},${40 + jitter})`;
  return `rgb(${215 + (jitter % 40)},${190 + jitter},${60 + jitter})`;
}

export function renderFlameGraph(p: CpuProfile, o: FlameOptions): string {
  const tree = flameTree(p);
  const width = o.width ?? 1200;
  const minUs = tree.totalUs * (o.minShare ?? 0.001);
  const pxPerUs = tree.totalUs > 0 ? (width - 20) / tree.totalUs : 0;
  const rows: { n: FlameNode; x: number; level: number }[] = [];
  let depth = 0;
  const place = (n: FlameNode, x: number, level: number) => {
    depth = Math.max(depth, level);
    rows.push({ n, x, level });
    let cx = x;
    for (const c of n.children) {
      if (c.totalUs >= minUs) place(c, cx, level + 1);
      cx += c.totalUs * pxPerUs;
    }
  };
  place(tree, 10, 0);
  const height = (depth + 1) * ROW + 60;
  const boxes: string[] = [];
  const share = (us: number) => (tree.totalUs ? ((100 * us) / tree.totalUs).toFixed(2) : '0');
  for (const { n, x, level } of rows) {
    const w = n.totalUs * pxPerUs;
    const y = height - 20 - (level + 1) * ROW;
    const perReq = o.requests ? `, ${(n.totalUs / o.requests).toFixed(1)} µs/req` : '';
    const tip = `${n.name}${n.where ? ` (${n.where})` : ''} — ${(n.totalUs / 1000).toFixed(1)} ms, ${share(n.totalUs)} %${perReq}`;
    const fit = Math.floor((w - 6) / CHAR_PX);
    const label = fit >= 3 ? (n.name.length <= fit ? n.name : `${n.name.slice(0, fit - 2)}..`) : '';
    boxes.push(
      `<g><title>${esc(tip)}</title><rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(0.5, w - 0.5).toFixed(1)}" height="${ROW - 1}" rx="2" fill="${colour(n.area)}"/>` +
        (label ? `<text x="${(x + 3).toFixed(1)}" y="${y + ROW - 5}">${esc(label)}</text>` : '') +
        '</g>',
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Verdana, sans-serif" font-size="${FONT_PX}">`,
    `<rect width="100%" height="100%" fill="#fdfdf7"/>`,
    `<text x="${width / 2}" y="22" font-size="15" text-anchor="middle">${esc(o.title)}</text>`,
    `<text x="10" y="${height - 6}" fill="#555">Box width = time in the frame and its callees (busy ${(tree.totalUs / 1000).toFixed(0)} ms; idle left out; boxes under ${((o.minShare ?? 0.001) * 100).toFixed(1)} % hidden). Hover for times. Orange: src, yellow: packages, red: Node, grey: V8.</text>`,
    ...boxes,
    '</svg>',
    '',
  ].join('\n');
}
