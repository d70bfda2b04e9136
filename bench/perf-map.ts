/**
 * Names for JIT-compiled code. Under callgrind, V8's generated code has no symbols: a function is
 * the address where it was entered (`0x000000000d2103c0`). `node --perf-basic-prof` writes
 * `/tmp/perf-<pid>.map`, one line per code object as V8 creates it: `START SIZE name`, hex, e.g.
 * `d2103c0 1a4 JS:*handle /app/src/http/app.ts:12:3` (`*` optimised, `+` Maglev, `^` baseline,
 * `~` interpreted).
 */

interface Entry {
  start: number;
  end: number;
  name: string;
  /** Line order: code freed and replaced at the same address later has a higher one. */
  seq: number;
}

export interface PerfMap {
  /** The code object holding `addr`, the latest one written when several did; undefined if none. */
  name(addr: number): string | undefined;
}

export function parsePerfMap(text: string, root?: string): PerfMap {
  const entries: Entry[] = [];
  let maxSize = 0;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.+)$/i.exec(line.trim());
    if (!m) continue;
    const start = parseInt(m[1]!, 16);
    const size = parseInt(m[2]!, 16);
    const dir = root?.replace(/\/$/, '');
    const name = dir ? m[3]!.replaceAll(`file://${dir}/`, '').replaceAll(`${dir}/`, '') : m[3]!;
    entries.push({ start, end: start + size, name, seq: entries.length });
    if (size > maxSize) maxSize = size;
  }
  entries.sort((a, b) => a.start - b.start || a.seq - b.seq);
  return {
    name(addr) {
      // The last entry starting at or before addr, then back over every one that could still reach it.
      let lo = 0;
      let hi = entries.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (entries[mid]!.start <= addr) lo = mid + 1;
        else hi = mid - 1;
      }
      let best: Entry | undefined;
      for (let i = hi; i >= 0 && entries[i]!.start > addr - maxSize - 1; i--) {
        const e = entries[i]!;
        if (addr < e.end && (!best || e.seq > best.seq)) best = e;
      }
      return best?.name;
    },
  };
}

/** `0x…` as callgrind names code without symbols, or null. */
export function jitAddress(fn: string): number | null {
  return /^0x[0-9a-f]+$/i.test(fn) ? parseInt(fn.slice(2), 16) : null;
}
