import type { Insertable } from 'kysely';
import type { UsageEventsTable } from '../../storage/types.ts';

export interface ReserveInput {
  id: string;
  customerId: string;
  keyId: string;
  month: string;
  /** Upper bound of the call's cost, µ$ (ignored in soft mode). */
  amount: number;
  installId: string | null;
  requestId: string;
  now: number;
  expiresAt: number;
}

/**
 * reserved: hard mode, the amount is held against both caps; ok: soft mode, under both caps, nothing held.
 * The rest refuse the call: caps, or state that must hold across nodes re-read inside the same step.
 */
export type ReserveOutcome = 'reserved' | 'ok' | 'customer_cap' | 'key_cap' | 'key_revoked' | 'customer_disabled' | 'device_revoked';

/** Month state read under lock by reserve (µ$, except the *_cents caps). */
export interface CapSnapshot {
  mode: 'hard' | 'soft';
  baseCapCents: number;
  keyCapCents: number | null;
  extraCents: number;
  cSpent: number;
  cReserved: number;
  kSpent: number;
  kReserved: number;
}

export interface ReserveResult {
  outcome: ReserveOutcome;
  snap: CapSnapshot | null;
}

export type UsageEventInsert = Omit<Insertable<UsageEventsTable>, 'id'>;

export interface SettleWrite {
  reservationId: string | null;
  customerId: string;
  keyId: string;
  month: string;
  cost: number;
  inputTokens: number;
  outputTokens: number;
  now: number;
  /** Also set api_keys.last_seen_at (throttled by the caller). */
  touchKey: boolean;
  event: UsageEventInsert;
}

export interface SettleOutput {
  cSpent: number;
  extraCents: number;
  kSpent: number;
  released: number;
}

/**
 * The money ledger's atomic steps. Each is one transaction: reserve (check both caps, hold the
 * amount), settle (one usage event + both monthly aggregates + drop the reservation), release.
 */
export interface CapStore {
  reserve(i: ReserveInput): Promise<ReserveResult>;
  settle(w: SettleWrite): Promise<SettleOutput>;
  /** Drop a reservation; returns the µ$ released (0 when it was already gone). */
  release(reservationId: string): Promise<number>;
  expiredReservations(now: number, limit: number): Promise<string[]>;
}

export const capMicros = (s: CapSnapshot) => {
  const customer = (s.baseCapCents + s.extraCents) * 10_000;
  return { customer, key: s.keyCapCents == null ? customer : s.keyCapCents * 10_000 };
};

/** Column order of a usage event insert, shared by both cap stores' prepared statements. */
export const EVENT_COLUMNS = [
  'created_at',
  'month',
  'request_id',
  'customer_id',
  'api_key_id',
  'kind',
  'provider',
  'model',
  'upstream_provider',
  'upstream_model',
  'input_tokens',
  'output_tokens',
  'usage_source',
  'cost_micros',
  'install_id',
  'app',
  'build',
  'status',
  'latency_ms',
  'ip_hash',
  'ua',
] as const satisfies readonly (keyof UsageEventInsert)[];
