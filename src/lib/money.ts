/**
 * Money inside the gateway is integer micro-dollars (µ$): 1 ¢ = 10 000 µ$.
 * Responses carry exact decimal cents (a number with up to 4 decimals); invoices round once.
 */
export const MICROS_PER_CENT = 10_000;

export const centsToMicros = (cents: number): number => Math.round(cents * MICROS_PER_CENT);
/**
 * Exact decimal cents from micro-dollars. µ$ are integers, so the quotient is a decimal with at
 * most 4 places, and IEEE division returns the double nearest to it — the very double its decimal
 * text parses to (no string round trip needed; test/governance/pricing.test.ts checks this).
 */
export const microsToCents = (micros: number): number => micros / MICROS_PER_CENT;
/** The one rounding: whole cents, half away from zero, for invoices. */
export const roundCents = (micros: number): number => Math.sign(micros) * Math.round(Math.abs(micros) / MICROS_PER_CENT);

// Per-call cost in µ$ from per-1M-token prices is computed in integers by metering/pricing.ts (priceCost).
