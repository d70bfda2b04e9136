import { existsSync, readFileSync } from 'node:fs';
import { idleSummary, sameIdle } from './machine.ts';
import { TARGET_LABEL, type BenchResults, type ChatCell, type IdlePolicy } from './results.ts';
import { percentile } from './stats.ts';

/**
 * How steady and how fast the host was during a run, read off the two targets whose code a change
 * to the gateway never touches: *direct* (the fake upstream alone) and the *floor proxy*. Their
 * req/s moving between rounds is the machine, not the code; so is direct's req/s differing from the
 * record's. Concurrency 1 is left out: its short windows move by 20 % even on a quiet host.
 */
export interface HostGauge {
  /** direct's req/s at concurrency 16, over all rounds. */
  directRps16: number | null;
  /** Largest (max − min) ÷ median of round req/s over direct and floor at concurrency ≥ 16, in %. */
  spreadPct: number | null;
  /** Which cell that was, e.g. "floor proxy c=64". */
  worst: string | null;
}

/** What the committed record (bench/results/latest.json) said of its host, read before a run replaces it. */
export interface RecordHost extends HostGauge {
  commit: string;
  date: string;
  cpu: string;
  /** Its idle policy (machine.ts, describeIdle); null for records written before it was noted. */
  idle: IdlePolicy | null;
  /** Its back-to-back cross-core round trip, p50 µs (wake-probe.ts); null when not measured. */
  wakeP50: number | null;
  /** Where its processes ran (settings.pinning); null when it did not say. */
  pinning: string | null;
}

const REFERENCES = new Set(['direct', 'floor']);

export function hostGauge(chat: ChatCell[]): HostGauge {
  const out: HostGauge = { directRps16: null, spreadPct: null, worst: null };
  for (const c of chat) {
    if (!REFERENCES.has(c.target) || c.concurrency < 16 || !c.status.ok) continue;
    if (c.target === 'direct' && c.concurrency === 16) out.directRps16 = c.rps;
    const rounds = (c.roundRps ?? []).filter((x) => Number.isFinite(x) && x > 0);
    if (rounds.length < 2) continue;
    const sorted = [...rounds].sort((a, b) => a - b);
    // The bench's one median: nearest rank, as for every p50 in the report.
    const spread = ((sorted[sorted.length - 1]! - sorted[0]!) / percentile(sorted, 50)) * 100;
    if (out.spreadPct === null || spread > out.spreadPct) {
      out.spreadPct = spread;
      out.worst = `${TARGET_LABEL[c.target]} c=${c.concurrency}`;
    }
  }
  return out;
}

/** The record's host, or null when there is none or it cannot be read (an older or damaged file). */
export function readRecordHost(jsonPath: string): RecordHost | null {
  if (!existsSync(jsonPath)) return null;
  try {
    const r = JSON.parse(readFileSync(jsonPath, 'utf8')) as Partial<BenchResults>;
    if (!r.machine || !Array.isArray(r.chat)) return null;
    const g = hostGauge(r.chat);
    if (g.directRps16 === null && g.spreadPct === null) return null;
    const idle = readIdle(r.machine.idle);
    const w = r.machine.wake?.backToBack?.p50;
    const wakeP50 = typeof w === 'number' && Number.isFinite(w) ? w : null;
    const pinning = typeof r.settings?.pinning === 'string' ? r.settings.pinning : null;
    return { ...g, commit: String(r.machine.commit), date: String(r.machine.date).slice(0, 10), cpu: String(r.machine.cpu), idle, wakeP50, pinning };
  } catch {
    return null;
  }
}

/** The report's host line; null when the run measured neither direct nor the floor under load. */
export function hostLine(r: Pick<BenchResults, 'chat' | 'recordHost' | 'machine' | 'settings'>): string | null {
  const g = hostGauge(r.chat);
  if (g.directRps16 === null && g.spreadPct === null) return null;
  const parts: string[] = [];
  if (g.spreadPct !== null) parts.push(`between rounds, the targets no gateway change touches (direct, floor proxy; c=16 and 64) varied by up to ${pct(g.spreadPct)} (${g.worst})`);
  if (g.directRps16 !== null) parts.push(`direct served ${Math.round(g.directRps16)} req/s at c=16`);
  let line = `- **Host steadiness**: ${parts.join('; ')}.`;
  const rec = r.recordHost;
  if (rec) {
    const then: string[] = [];
    if (rec.spreadPct !== null) then.push(`up to ${pct(rec.spreadPct)}`);
    if (rec.directRps16 !== null) then.push(`${Math.round(rec.directRps16)} req/s`);
    line += ` The record's run (${rec.commit}, ${rec.date}, ${rec.cpu}): ${then.join(', ')}`;
    // Direct under load is the load generator and the fake upstream: on one core or on two, its
    // req/s differs by a factor, whatever the host. Only the same layout says how fast the host was.
    const otherLayout = typeof rec.pinning === 'string' && rec.pinning !== r.settings.pinning;
    if (g.directRps16 !== null && rec.directRps16 && !otherLayout) line += `; direct ran at ${Math.round((g.directRps16 / rec.directRps16) * 100)} % of its speed here`;
    if (otherLayout) line += `; **another layout** (the record's: ${rec.pinning}), so direct's req/s under load does not say how fast this host was against the record's`;
    const wake = r.machine.wake?.backToBack.p50;
    if (wake !== undefined && rec.wakeP50 !== null) line += `; a cross-core round trip took ${Math.round(wake)} µs here against ${Math.round(rec.wakeP50)} µs there`;
    line += '.';
    // Direct is a small loop; the gateway runs far more code, and how fast that runs depends on
    // the CPU model as well as on the neighbours (bench/README.md, "Host steadiness").
    if (rec.cpu !== r.machine.cpu) line += ` **Another CPU model** (${r.machine.cpu} here): the gateway's cost per call can differ from the record's by more than direct's speed shows; compare code on one host with \`--baseline REF\`.`;
    // How idle cores wait moves every proxy's added latency at c=1 by hundreds of µs, direct's hardly.
    if (rec.idle && r.machine.idle && sameIdle(rec.idle, r.machine.idle) === false) {
      line += ` **Another idle policy** (the record's: ${idleSummary(rec.idle)}): every proxy's added latency at low concurrency differs by up to hundreds of µs for that alone (bench/README.md, “The VM's idle policy”).`;
    }
  }
  line += ' Compare two runs only when both were steady and direct was about as fast (bench/README.md, “Host steadiness”).';
  return line;
}

/** A results file's idle policy, or null when it has none or not in this shape. */
function readIdle(v: unknown): IdlePolicy | null {
  if (typeof v !== 'object' || v === null) return null;
  const { driver, governor, haltPollNs } = v as Record<string, unknown>;
  const strOrNull = (x: unknown) => typeof x === 'string' || x === null;
  if (!strOrNull(driver) || !strOrNull(governor) || !(typeof haltPollNs === 'number' || haltPollNs === null)) return null;
  return { driver, governor, haltPollNs } as IdlePolicy;
}

function pct(x: number): string {
  return `${x.toFixed(1)} %`;
}
