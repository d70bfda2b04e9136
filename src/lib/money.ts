/**
 * Money inside the gateway is integer micro-dollars (µ$): 1 ¢ = 10 000 µ$.
 * Responses carry exact decimal cents (a number with up to 4 decimals); invoices round once.
 */
export const MICROS_PER_CENT = 10_000;

export const centsToMicros = (cents: number): number => Math.round(cents * MICROS_PER_CENT);
/** Exact decimal cents from micro-dollars (µ$ are integers, so /10 000 is exact to 4 decimals). */
export const microsToCents = (micros: number): number => Number((micros / MICROS_PER_CENT).toFixed(4));
/** The one rounding: whole cents, half away from zero, for invoices. */
export const roundCents = (micros: number): number => Math.sign(micros) * Math.round(Math.abs(micros) / MICROS_PER_CENT);

/**
 * Cost of a call in µ$ from per-1M-token prices given in µ$ (so $0.15/1M = 150 000).
 * tokens × price_per_1M / 1e6, rounded up to the next µ$ only once per call.
 */
export function costMicros(inputTokens: number, outputTokens: number, inPerM: number, outPerM: number, markupBp = 0): number {
  const raw = inputTokens * inPerM + outputTokens * outPerM; // in µ$ × 1e6
  const withMarkup = markupBp ? (raw * (10_000 + markupBp)) / 10_000 : raw;
  return Math.ceil(withMarkup / 1_000_000);
}
