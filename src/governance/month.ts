import type { MonthView } from '../gateway/governance.ts';
import { microsToCents } from '../lib/money.ts';

export interface MonthNumbers {
  month: string;
  baseCapCents: number;
  keyCapCents: number | null;
  extraCents: number;
  /** µ$ */
  cSpent: number;
  /** µ$ */
  kSpent: number;
}

/** The seed's month object in exact decimal cents (customer cap includes this month's top-ups; a key override does not). */
export function monthView(n: MonthNumbers): MonthView {
  const customerCap = n.baseCapCents + n.extraCents;
  const customerSpent = microsToCents(n.cSpent);
  return {
    month: n.month,
    cap_cents: customerCap,
    spent_cents: customerSpent,
    customer_cap_cents: customerCap,
    customer_spent_cents: customerSpent,
    key_cap_cents: n.keyCapCents ?? customerCap,
    key_spent_cents: microsToCents(n.kSpent),
  };
}

/** Exact decimal cents of max(0, cap − used), from µ$. */
export const remainingCents = (capCents: number, usedMicros: number): number => microsToCents(Math.max(0, capCents * 10_000 - usedMicros));
