/** Injected time source, so tests can move the month boundary. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private t: number = Date.UTC(2026, 0, 15, 12)) {}
  now(): number {
    return this.t;
  }
  set(t: number | Date): void {
    this.t = typeof t === 'number' ? t : t.getTime();
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** The month monthOf last computed, with its bounds: every call in that month returns the same string. */
let lastMonth = { start: 0, end: 0, month: '' };

/**
 * UTC month `YYYY-MM` of an epoch-ms time. Every governed call asks for the current one; the last
 * month is kept with its bounds, so most calls cost two comparisons and return one string object
 * (whose hash V8 keeps, for the maps keyed by month) instead of a Date and a new string.
 */
export function monthOf(ms: number): string {
  if (ms >= lastMonth.start && ms < lastMonth.end) return lastMonth.month;
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const month = `${y}-${String(m + 1).padStart(2, '0')}`;
  if (Number.isFinite(ms)) lastMonth = { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1), month };
  return month;
}

export const MONTH_RE = /^\d{4}-(0[1-9]|1[0-2])$/;

/** [start, end) epoch-ms bounds of a UTC month. */
export function monthBounds(month: string): { start: number; end: number } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return { start: Date.UTC(y, m - 1, 1), end: Date.UTC(y, m, 1) };
}

export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(Number(ms)).toISOString());
