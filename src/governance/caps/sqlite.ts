import type SQLite from 'better-sqlite3';
import type { Storage } from '../../storage/db.ts';
import { sqliteAtomic } from '../sqlite-atomic.ts';
import type { CapSnapshot, CapStore, ReserveInput, ReserveResult, SettleOutput, SettleWrite } from './types.ts';
import { capMicros, EVENT_COLUMNS } from './types.ts';

interface KeyState {
  ccap: number;
  kcap: number | null;
  is_active: number;
  revoked_at: number | null;
  cap_mode: string;
  customer_id: string;
}


/**
 * SQLite: the same steps as the PostgreSQL functions (migration 003), as prepared statements in
 * one synchronous better-sqlite3 transaction each (tens of µs, no Kysely compile per call).
 */
export class SqliteCapStore implements CapStore {
  private readonly s;
  private readonly reserveTx: (i: ReserveInput) => ReserveResult;
  private readonly settleTx: (w: SettleWrite) => SettleOutput;
  private readonly releaseTx: (id: string) => number;

  constructor(private readonly storage: Storage) {
    const h: SQLite.Database = storage.sqlite!;
    this.s = {
      keyState: h.prepare<[string], KeyState>(
        `select c.monthly_cap_cents as ccap, k.monthly_cap_cents as kcap, c.is_active, k.revoked_at, c.cap_mode, k.customer_id
         from api_keys k join customers c on c.id = k.customer_id where k.id = ?`,
      ),
      deviceRevoked: h.prepare<[string, string], { one: number }>(
        'select 1 as one from key_devices where api_key_id = ? and install_id = ? and revoked_at is not null',
      ),
      getCust: h.prepare<[string, string], { spent_micros: number; reserved_micros: number; extra_cents: number }>(
        'select spent_micros, reserved_micros, extra_cents from monthly_usage where customer_id = ? and month = ?',
      ),
      insCust: h.prepare('insert into monthly_usage (customer_id, month, updated_at) values (?, ?, ?) on conflict do nothing'),
      getKey: h.prepare<[string, string], { spent_micros: number; reserved_micros: number }>(
        'select spent_micros, reserved_micros from monthly_key_usage where api_key_id = ? and month = ?',
      ),
      insKey: h.prepare('insert into monthly_key_usage (api_key_id, customer_id, month, updated_at) values (?, ?, ?, ?) on conflict do nothing'),
      holdCust: h.prepare('update monthly_usage set reserved_micros = reserved_micros + ?, updated_at = ? where customer_id = ? and month = ?'),
      holdKey: h.prepare('update monthly_key_usage set reserved_micros = reserved_micros + ?, updated_at = ? where api_key_id = ? and month = ?'),
      insRes: h.prepare(
        'insert into reservations (id, customer_id, api_key_id, month, amount_micros, request_id, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      delRes: h.prepare<[string], { customer_id: string; api_key_id: string; month: string; amount_micros: number }>(
        'delete from reservations where id = ? returning customer_id, api_key_id, month, amount_micros',
      ),
      unholdCust: h.prepare('update monthly_usage set reserved_micros = reserved_micros - ? where customer_id = ? and month = ?'),
      unholdKey: h.prepare('update monthly_key_usage set reserved_micros = reserved_micros - ? where api_key_id = ? and month = ?'),
      chargeCust: h.prepare<unknown[], { spent_micros: number; extra_cents: number }>(
        `insert into monthly_usage (customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at) values (?, ?, ?, ?, ?, 1, ?)
         on conflict (customer_id, month) do update set spent_micros = spent_micros + excluded.spent_micros,
           reserved_micros = reserved_micros - ?, input_tokens = input_tokens + excluded.input_tokens,
           output_tokens = output_tokens + excluded.output_tokens, calls = calls + 1, updated_at = excluded.updated_at
         returning spent_micros, extra_cents`,
      ),
      chargeKey: h.prepare<unknown[], { spent_micros: number }>(
        `insert into monthly_key_usage (api_key_id, customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at) values (?, ?, ?, ?, ?, ?, 1, ?)
         on conflict (api_key_id, month) do update set spent_micros = spent_micros + excluded.spent_micros,
           reserved_micros = reserved_micros - ?, input_tokens = input_tokens + excluded.input_tokens,
           output_tokens = output_tokens + excluded.output_tokens, calls = calls + 1, updated_at = excluded.updated_at
         returning spent_micros`,
      ),
      insEvent: h.prepare(`insert into usage_events (${EVENT_COLUMNS.join(', ')}) values (${EVENT_COLUMNS.map(() => '?').join(', ')})`),
      touchKey: h.prepare('update api_keys set last_seen_at = ? where id = ?'),
      expired: h.prepare<[number, number], { id: string }>('select id from reservations where expires_at < ? order by expires_at limit ?'),
    };
    this.reserveTx = h.transaction((i: ReserveInput) => this.reserveSync(i));
    this.settleTx = h.transaction((w: SettleWrite) => this.settleSync(w));
    this.releaseTx = h.transaction((id: string) => this.releaseSync(id));
  }

  private reserveSync(i: ReserveInput): ReserveResult {
    const s = this.s;
    const k = s.keyState.get(i.keyId);
    if (!k || k.revoked_at != null || k.customer_id !== i.customerId) return { outcome: 'key_revoked', snap: null };
    if (Number(k.is_active) !== 1) return { outcome: 'customer_disabled', snap: null };
    if (i.installId != null && s.deviceRevoked.get(i.keyId, i.installId)) return { outcome: 'device_revoked', snap: null };
    let cu = s.getCust.get(i.customerId, i.month);
    if (!cu) {
      s.insCust.run(i.customerId, i.month, i.now);
      cu = s.getCust.get(i.customerId, i.month)!;
    }
    let ku = s.getKey.get(i.keyId, i.month);
    if (!ku) {
      s.insKey.run(i.keyId, i.customerId, i.month, i.now);
      ku = s.getKey.get(i.keyId, i.month)!;
    }
    const snap: CapSnapshot = {
      mode: k.cap_mode === 'soft' ? 'soft' : 'hard',
      baseCapCents: Number(k.ccap),
      keyCapCents: k.kcap == null ? null : Number(k.kcap),
      extraCents: Number(cu.extra_cents),
      cSpent: Number(cu.spent_micros),
      cReserved: Number(cu.reserved_micros),
      kSpent: Number(ku.spent_micros),
      kReserved: Number(ku.reserved_micros),
    };
    const cap = capMicros(snap);
    if (snap.mode === 'soft') {
      if (snap.cSpent >= cap.customer) return { outcome: 'customer_cap', snap };
      if (snap.kSpent >= cap.key) return { outcome: 'key_cap', snap };
      return { outcome: 'ok', snap };
    }
    if (snap.cSpent + snap.cReserved + i.amount > cap.customer) return { outcome: 'customer_cap', snap };
    if (snap.kSpent + snap.kReserved + i.amount > cap.key) return { outcome: 'key_cap', snap };
    s.holdCust.run(i.amount, i.now, i.customerId, i.month);
    s.holdKey.run(i.amount, i.now, i.keyId, i.month);
    s.insRes.run(i.id, i.customerId, i.keyId, i.month, i.amount, i.requestId, i.now, i.expiresAt);
    snap.cReserved += i.amount;
    snap.kReserved += i.amount;
    return { outcome: 'reserved', snap };
  }

  private settleSync(w: SettleWrite): SettleOutput {
    const s = this.s;
    let released = 0;
    if (w.reservationId) released = Number(s.delRes.get(w.reservationId)?.amount_micros ?? 0);
    const c = s.chargeCust.get(w.customerId, w.month, w.cost, w.inputTokens, w.outputTokens, w.now, released)!;
    const k = s.chargeKey.get(w.keyId, w.customerId, w.month, w.cost, w.inputTokens, w.outputTokens, w.now, released)!;
    const ev = w.event as Record<string, unknown>;
    s.insEvent.run(...EVENT_COLUMNS.map((col) => ev[col] ?? null));
    if (w.touchKey) s.touchKey.run(w.now, w.keyId);
    return { cSpent: Number(c.spent_micros), extraCents: Number(c.extra_cents), kSpent: Number(k.spent_micros), released };
  }

  private releaseSync(id: string): number {
    const r = this.s.delRes.get(id);
    if (!r) return 0;
    this.s.unholdCust.run(r.amount_micros, r.customer_id, r.month);
    this.s.unholdKey.run(r.amount_micros, r.api_key_id, r.month);
    return Number(r.amount_micros);
  }

  reserve(i: ReserveInput): Promise<ReserveResult> {
    return sqliteAtomic(this.storage, () => this.reserveTx(i));
  }

  settle(w: SettleWrite): Promise<SettleOutput> {
    return sqliteAtomic(this.storage, () => this.settleTx(w));
  }

  release(reservationId: string): Promise<number> {
    return sqliteAtomic(this.storage, () => this.releaseTx(reservationId));
  }

  async expiredReservations(now: number, limit: number): Promise<string[]> {
    return this.s.expired.all(now, limit).map((r) => r.id);
  }
}
