import { scrub } from '../lib/logger.ts';

/** Field limits for monitor rows: bounded so one odd request can never bloat the table. */
export const LIMITS = {
  short: 120,
  path: 1_000,
  userAgent: 300,
  message: 2_000,
  preview: 12_000,
} as const;

/** Anything scrub() (lib/logger.ts) could change; case-insensitive, so it errs towards the slow path. */
const SUSPECT = /kx_live_|bearer/i;

/**
 * Text safe to store and show: key material and bearer tokens scrubbed, NUL bytes removed
 * (PostgreSQL text rejects them, which would poison a whole batch), length bounded.
 * Runs for several fields of every request, so the common case (short, clean) is one regex test.
 */
export function clip(v: unknown, max: number): string | null {
  if (v === undefined || v === null) return null;
  let s = typeof v === 'string' ? v : String(v);
  if (s.length === 0) return null;
  if (s.length <= max && !SUSPECT.test(s) && !s.includes('\u0000')) return s;
  if (s.length > max * 2) s = s.slice(0, max * 2);
  s = scrub(s.replaceAll('\u0000', ''));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** JSON-encode an extra object after clipping every string inside it. */
export function clipJson(v: unknown, max: number): string | null {
  if (v === undefined || v === null) return null;
  const json = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'string' ? clip(x, LIMITS.preview) : x));
  if (json === undefined || json === '{}') return null;
  return json.length > max ? JSON.stringify({ truncated: true, preview: clip(json, max - 64) }) : json;
}
