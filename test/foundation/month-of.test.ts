import { describe, expect, it } from 'vitest';
import { monthOf } from '../../src/lib/clock.ts';

/** What monthOf computed before it kept the last month: a Date every call. */
const plain = (ms: number) => new Date(ms).toISOString().slice(0, 7);

describe('monthOf keeps the last month it computed', () => {
  it('answers like a fresh Date at every edge, in any order of calls', () => {
    const edges = [Date.UTC(2026, 0, 1), Date.UTC(2026, 1, 1), Date.UTC(2026, 2, 1), Date.UTC(2026, 11, 1), Date.UTC(2027, 0, 1), Date.UTC(2024, 1, 29), Date.UTC(2024, 2, 1)];
    const times = edges.flatMap((t) => [t - 1, t, t + 1]);
    // Forwards, backwards and shuffled: the kept month must never answer for a time outside it.
    const orders = [times, [...times].reverse(), times.map((t, i) => times[(i * 7) % times.length]!)];
    for (const order of orders) for (const t of order) expect(monthOf(t)).toBe(plain(t));
  });

  it('every time in the kept month gives that month, the first time after it the next', () => {
    expect(monthOf(Date.UTC(2026, 6, 15, 12))).toBe('2026-07');
    expect(monthOf(Date.UTC(2026, 6, 31, 23, 59, 59, 999))).toBe('2026-07');
    expect(monthOf(Date.UTC(2026, 7, 1))).toBe('2026-08');
  });

  it('a time that is not a number does not become the kept month', () => {
    expect(monthOf(Number.NaN)).toBe('NaN-NaN');
    expect(monthOf(Date.UTC(2026, 4, 2))).toBe('2026-05');
  });
});
