import type pg from 'pg';
import type { Db } from '../../storage/db.ts';
import type { CapSnapshot, CapStore, ReserveInput, ReserveOutcome, ReserveResult, SettleOutput, SettleWrite } from './types.ts';
import { EVENT_COLUMNS } from './types.ts';

interface ReserveRow {
  o_outcome: ReserveOutcome;
  o_mode: string | null;
  o_base_cap_cents: number | null;
  o_key_cap_cents: number | null;
  o_extra_cents: number | null;
  o_c_spent: number | null;
  o_c_reserved: number | null;
  o_k_spent: number | null;
  o_k_reserved: number | null;
}


const N = EVENT_COLUMNS.length;
// The usage event and the money rows in ONE statement: the data-modifying CTE and the function
// commit or roll back together.
const SETTLE_SQL =
  `with ev as (insert into usage_events (${EVENT_COLUMNS.join(', ')}) values (${EVENT_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})) ` +
  `select o_c_spent, o_extra_cents, o_k_spent, o_released from kaixu_settle(${Array.from({ length: 9 }, (_, i) => `$${N + i + 1}`).join(', ')})`;

/** PostgreSQL: each step is one call of a migration-003 function — one round trip, one transaction. */
export class PostgresCapStore implements CapStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly db: Db,
  ) {}

  async reserve(i: ReserveInput): Promise<ReserveResult> {
    const res = await this.pool.query<ReserveRow>({
      name: 'kaixu_reserve',
      text: 'select * from kaixu_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      values: [i.id, i.customerId, i.keyId, i.month, i.amount, i.installId, i.requestId, i.now, i.expiresAt],
    });
    const r = res.rows[0]!;
    if (r.o_c_spent == null) return { outcome: r.o_outcome, snap: null };
    const snap: CapSnapshot = {
      mode: r.o_mode === 'soft' ? 'soft' : 'hard',
      baseCapCents: Number(r.o_base_cap_cents),
      keyCapCents: r.o_key_cap_cents == null ? null : Number(r.o_key_cap_cents),
      extraCents: Number(r.o_extra_cents),
      cSpent: Number(r.o_c_spent),
      cReserved: Number(r.o_c_reserved) + (r.o_outcome === 'reserved' ? i.amount : 0),
      kSpent: Number(r.o_k_spent),
      kReserved: Number(r.o_k_reserved) + (r.o_outcome === 'reserved' ? i.amount : 0),
    };
    return { outcome: r.o_outcome, snap };
  }

  async settle(w: SettleWrite): Promise<SettleOutput> {
    const ev = w.event as Record<string, unknown>;
    const res = await this.pool.query<{ o_c_spent: number; o_extra_cents: number; o_k_spent: number; o_released: number }>({
      name: 'kaixu_settle',
      text: SETTLE_SQL,
      values: [
        ...EVENT_COLUMNS.map((c) => ev[c] ?? null),
        w.reservationId,
        w.customerId,
        w.keyId,
        w.month,
        w.cost,
        w.inputTokens,
        w.outputTokens,
        w.now,
        w.touchKey,
      ],
    });
    const r = res.rows[0]!;
    return { cSpent: Number(r.o_c_spent), extraCents: Number(r.o_extra_cents), kSpent: Number(r.o_k_spent), released: Number(r.o_released) };
  }

  async release(reservationId: string): Promise<number> {
    const res = await this.pool.query<{ n: number }>({ name: 'kaixu_release', text: 'select kaixu_release($1) as n', values: [reservationId] });
    return Number(res.rows[0]?.n ?? 0);
  }

  async expiredReservations(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('reservations').select('id').where('expires_at', '<', now).orderBy('expires_at').limit(limit).execute();
    return rows.map((r) => r.id);
  }
}
