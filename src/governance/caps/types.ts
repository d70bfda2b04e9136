import type { Insertable } from 'kysely';
import type { UsageEventsTable } from '../../storage/types.ts';
import type { DeviceOutcome, DeviceSeen } from '../device-store.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import type { RateLimitBackend } from '../rate-limit/types.ts';
import type { WindowCounts, WindowSpec } from '../rate-limit/window.ts';

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
  /**
   * The key's and customer's updated_at the caller's policy was built from. When either row has
   * changed since, the step does nothing and answers `stale` (the caller reloads and retries), so
   * every admission decision uses the policy as committed — the guarantee the authenticator's
   * strict per-request check gave, without its round trip.
   */
  expect: { keyUpdatedAt: number; customerUpdatedAt: number };
  /** Folded device step: register/touch the device before the rest. */
  device?: DeviceSeen | null;
  /** Folded rate-limit step (see CapStore.foldsRate): check-and-count these windows before reserving. */
  rate?: { windows: WindowSpec[]; backend: RateLimitBackend } | null;
}

/**
 * reserved: hard mode, the amount is held against both caps; ok: soft mode, under both caps, nothing held.
 * The rest refuse the call: caps, state that must hold across nodes re-read inside the same step,
 * a folded device / rate-limit step, or `stale` (see ReserveInput.expect; nothing was done).
 */
export type ReserveOutcome =
  | 'reserved'
  | 'ok'
  | 'customer_cap'
  | 'key_cap'
  | 'key_revoked'
  | 'customer_disabled'
  | 'device_revoked'
  | 'device_limit'
  | 'rate_limited'
  | 'stale';

/** Month state read by reserve (µ$, except the *_cents caps); reserved includes this call's hold. */
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
  /** Set when a folded device step ran. */
  device?: { outcome: DeviceOutcome; active: number } | null;
  /** Set when a folded rate-limit step ran. */
  rate?: { allowed: boolean; counts: WindowCounts[] } | null;
}

export type UsageEventInsert = Omit<Insertable<UsageEventsTable>, 'id'>;

export interface SettleWrite {
  /** The admitted call (ReserveInput.id), whether or not it holds a reservation. */
  callId: string;
  /** Set when the call holds a reservation (hard mode): the same id as callId. */
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

/** A held reservation, as the inspection API shows it. */
export interface HeldReservation {
  id: string;
  customerId: string;
  keyId: string;
  month: string;
  amount: number;
  requestId: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * The money ledger's atomic steps: reserve (check both caps, hold the amount), settle (one usage
 * event + both monthly aggregates + drop the reservation, committed before it resolves), release.
 */
export interface CapStore {
  /**
   * True when a call's rate-limit check-and-count can run inside the reservation step (the
   * counters live where the reservation runs: PostgreSQL rows, or this process's memory on
   * SQLite). The device step always can. Folding makes admission one atomic step: one round trip
   * on PostgreSQL, one synchronous block on SQLite — and a `stale` answer comes before anything
   * was counted.
   */
  foldsRate(limiter: RateLimiter): boolean;
  reserve(i: ReserveInput): Promise<ReserveResult>;
  settle(w: SettleWrite): Promise<SettleOutput>;
  /** Drop a reservation; returns the µ$ released (0 when it was already gone). */
  release(reservationId: string): Promise<number>;
  /**
   * A call admitted without a reservation (soft mode) ended without a settle. Bookkeeping only:
   * the stores count every admitted call in flight, held or not, to choose how to commit
   * settles (group commit, flush mode), and a soft call is otherwise never seen again.
   */
  endUnheld(callId: string): void;
  expiredReservations(now: number, limit: number): Promise<string[]>;
  /** Held reservations (operators, tests), optionally of one customer or one request. */
  reservations(f: { customerId?: string; requestId?: string }): Promise<HeldReservation[]>;
  /**
   * µ$ held outside the monthly rows' reserved_micros columns (SQLite keeps holds in memory);
   * null when the columns are authoritative (PostgreSQL).
   */
  readonly memoryHolds: MemoryHolds | null;
  /** Settle batches written so far and the calls in them (group commit at work). */
  readonly batchStats: { batches: number; items: number; maxBatch: number };
  /** Wait for queued settles to commit. */
  flush(): Promise<void>;
  /** Shutdown: flush, then let go of in-memory state. */
  close(): Promise<void>;
}

export interface MemoryHolds {
  customer(customerId: string, month: string): number;
  key(keyId: string, month: string): number;
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

/**
 * A usage event's values in EVENT_COLUMNS order (a missing optional one as NULL), as both cap
 * stores bind them. Spelled out rather than `EVENT_COLUMNS.map((c) => e[c])`: reading the event by a
 * different key each step is a megamorphic keyed load per column, ≈ 3 k instructions per settle
 * (bench --instructions); named reads of one object shape are not. test/governance/event-row.test.ts
 * holds the order to EVENT_COLUMNS.
 */
export function eventRow(e: UsageEventInsert): unknown[] {
  return [
    e.created_at,
    e.month,
    e.request_id,
    e.customer_id,
    e.api_key_id,
    e.kind,
    e.provider,
    e.model,
    e.upstream_provider,
    e.upstream_model,
    e.input_tokens,
    e.output_tokens,
    e.usage_source,
    e.cost_micros,
    e.install_id ?? null,
    e.app ?? null,
    e.build ?? null,
    e.status,
    e.latency_ms,
    e.ip_hash ?? null,
    e.ua ?? null,
  ];
}

/**
 * Per-call results of a batch of settles committed together: each call sees the totals as if the
 * batch had been applied one call after another in order (its own charge included, later ones not).
 */
export function perCallTotals(
  ws: readonly SettleWrite[],
  released: readonly number[],
  finals: { customer: Map<string, { spent: number; extra: number }>; key: Map<string, number> },
): SettleOutput[] {
  const laterC = new Map<string, number>();
  const laterK = new Map<string, number>();
  const out = new Array<SettleOutput>(ws.length);
  for (let i = ws.length - 1; i >= 0; i--) {
    const w = ws[i]!;
    const ck = `${w.customerId}\u0000${w.month}`;
    const kk = `${w.keyId}\u0000${w.month}`;
    const c = finals.customer.get(ck)!;
    const lc = laterC.get(ck) ?? 0;
    const lk = laterK.get(kk) ?? 0;
    out[i] = { cSpent: c.spent - lc, extraCents: c.extra, kSpent: finals.key.get(kk)! - lk, released: released[i] ?? 0 };
    laterC.set(ck, lc + w.cost);
    laterK.set(kk, lk + w.cost);
  }
  return out;
}
