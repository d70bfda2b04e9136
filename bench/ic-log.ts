/**
 * Reading V8's `--log-ic` log: which property accesses still go to V8's runtime on every request.
 *
 * With `--log-ic` V8 writes a line each time an inline cache (IC) misses and the runtime handles
 * the access: `LoadIC,<pc>,<time>,<line>,<column>,<old state>,<new state>,<map>,<key>,<modifier>,<slow reason>`.
 * A warmed-up process should miss almost never; a site that still misses once per request (most
 * often megamorphic, `N>N`: it keeps meeting objects whose hidden class its cache has not seen) is
 * work every call pays for — ≈ 1 k instructions each. The line names the machine code's address,
 * not the function: the `code-creation` (and `code-move`) lines before it say which function's
 * code holds it. The log is flushed line by line, so a byte range read off the file's size before
 * and after a window of requests is exactly that window's lines.
 */

export interface IcSite {
  /** The function whose code missed (`name file:line:col`; positions are tsx's output for src/). */
  fn: string;
  /** LoadIC, StoreIC, KeyedLoadIC, KeyedStoreIC, LoadGlobalIC… */
  ic: string;
  /** The property (or global) name. */
  key: string;
  /** Old > new state (N: megamorphic, P: polymorphic, 1: monomorphic, 0/X: uninitialised / no feedback). */
  state: string;
  /** V8's reason when it took a slow stub, if any. */
  reason: string;
  count: number;
}

interface Code {
  start: number;
  end: number;
  name: string;
}

/** Code objects by address, as the log creates and moves them (the newest wins an overlap). */
class CodeMap {
  private readonly byStart: Code[] = [];

  private index(addr: number): number {
    let lo = 0;
    let hi = this.byStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.byStart[mid]!.start <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(c: Code): void {
    const i = this.index(c.start);
    // The same start again: code that replaced code freed there.
    if (i > 0 && this.byStart[i - 1]!.start === c.start) this.byStart[i - 1] = c;
    else this.byStart.splice(i, 0, c);
  }

  move(from: number, to: number): void {
    const i = this.index(from) - 1;
    const c = this.byStart[i];
    if (!c || c.start !== from) return;
    this.byStart.splice(i, 1);
    this.add({ start: to, end: to + (c.end - c.start), name: c.name });
  }

  name(pc: number): string | undefined {
    const i = this.index(pc) - 1;
    const c = this.byStart[i];
    return c && pc < c.end ? c.name : undefined;
  }
}

const hex = (s: string | undefined) => (s && s.startsWith('0x') ? parseInt(s.slice(2), 16) : NaN);

/**
 * IC misses in `window` (log text), by site, most frequent first. `before` is the log up to the
 * window, read only for the code it created; both are whole lines.
 */
export function icSites(before: string, window: string, root?: string): IcSite[] {
  const code = new CodeMap();
  const feedCode = (line: string): boolean => {
    if (line.startsWith('code-creation,')) {
      const f = line.split(',');
      const start = hex(f[4]);
      const size = Number(f[5]);
      if (Number.isFinite(start) && Number.isFinite(size)) code.add({ start, end: start + size, name: f[6] ?? '?' });
      return true;
    }
    if (line.startsWith('code-move,')) {
      const f = line.split(',');
      code.move(hex(f[1]), hex(f[2]));
      return true;
    }
    return false;
  };
  for (const line of before.split('\n')) feedCode(line);
  const sites = new Map<string, IcSite>();
  const dir = root?.replace(/\/$/, '');
  const short = (s: string) => (dir ? s.replaceAll(`file://${dir}/`, '').replaceAll(`${dir}/`, '') : s);
  for (const line of window.split('\n')) {
    if (feedCode(line)) continue;
    const comma = line.indexOf(',');
    if (comma < 3 || !line.slice(0, comma).endsWith('IC')) continue;
    const f = line.split(',');
    if (f.length < 9) continue;
    const fn = short(code.name(hex(f[1])) ?? `0x${hex(f[1]).toString(16)}`);
    const [ic, key, state, reason] = [f[0]!, f[8] ?? '', `${f[5]}>${f[6]}`, f[10] ?? ''];
    const k = `${fn}\0${ic}\0${key}\0${state}\0${reason}`;
    const seen = sites.get(k);
    if (seen) seen.count++;
    else sites.set(k, { fn, ic, key, state, reason, count: 1 });
  }
  return [...sites.values()].sort((a, b) => b.count - a.count || a.fn.localeCompare(b.fn));
}

export interface IcWorkload {
  label: string;
  requests: number;
  sites: IcSite[];
}

/** All of a workload's misses ÷ its requests. */
export const missesPerRequest = (w: IcWorkload): number => w.sites.reduce((s, x) => s + x.count, 0) / w.requests;

/** Misses per request of one workload, and its top sites as a markdown table. */
export function renderIcWorkload(w: IcWorkload, top: number): string {
  const total = w.sites.reduce((s, x) => s + x.count, 0);
  const per = (n: number) => (n / w.requests).toFixed(2);
  const rows = w.sites.slice(0, top).map((s) => `| ${per(s.count)} | ${s.ic} | \`${s.key || '—'}\` | ${s.state} | ${s.fn.replaceAll('|', '\\|')}${s.reason ? ` (${s.reason})` : ''} |`);
  return [
    `### ${w.label}: ${per(total)} IC misses per request (${total} over ${w.requests} requests, ${w.sites.length} sites)`,
    '',
    '| per request | IC | property | state | function |',
    '|---:|:---|:---|:---|:---|',
    ...rows,
    '',
  ].join('\n');
}
