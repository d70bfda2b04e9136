import type SQLite from 'better-sqlite3';
import type { Storage } from '../../storage/db.ts';
import { SqliteDeviceStore } from '../device-store.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import { MemoryRateBackend } from '../rate-limit/memory.ts';
import { sqliteAtomic } from '../sqlite-atomic.ts';
import { GroupCommit } from './group-commit.ts';
import { holdBookFor, type HoldBook } from './holds.ts';
import type { CapSnapshot, CapStore, HeldReservation, ReserveInput, ReserveResult, SettleOutput, SettleWrite } from './types.ts';
import { capMicros, EVENT_COLUMNS, eventRow, perCallTotals } from './types.ts';

/**
 * The reservation's state row. Hot-path statements read rows as arrays (better-sqlite3's raw
 * mode): building a fresh object with a property per column cost about a third of this query
 * on a cold core (bench/README.md, "A lone settle without the queue").
 */
type State = [
  ccap: number,
  kcap: number | null,
  isActive: number,
  revokedAt: number | null,
  capMode: string,
  customerId: string,
  kUpd: number,
  cUpd: number,
  cSpent: number | null,
  extraCents: number | null,
  kSpent: number | null,
  devRevoked: number | null,
];

const MAX_BATCH = 256;

/**
 * SQLite: one node by construction (an embedded file owned by one `kaixu serve` process; the
 * design scales out only on PostgreSQL). So:
 *
 * - Reservations are held in process memory (HoldBook), not in the database. JavaScript runs one
 *   thing at a time and reserve is synchronous, so "read spent, add the holds, compare with the
 *   cap, hold" is atomic; the 200-concurrent-calls cap test exercises exactly this. A crash drops
 *   the holds, which is what "released" means — no sweeper needed for crashes; the sweeper still
 *   releases holds whose settle never came (past RESERVATION_TTL_MS).
 * - Everything that is not a hold stays authoritative in the database and is re-read by every
 *   reservation in ONE statement (key revoked?, key/customer updated_at, customer active?, caps,
 *   cap mode, this month's spend and top-ups, device revoked?): cap changes, top-ups,
 *   revocations and the month rollover take effect on the next call with no cache to
 *   invalidate. Reserving writes nothing (a device step, when due, is its own small commit).
 * - The whole admission — that read, the device step, the in-memory rate-limit count, the hold —
 *   is one synchronous block: the SQLite twin of kaixu_admit, in the same order, and atomic.
 * - Settle is the only write: the usage event, both monthly aggregates and the key touch in one
 *   transaction, after which the hold is dropped in the same synchronous step — spent and held
 *   never both count a call, nor neither. Settles that arrive together share one commit
 *   (group-commit.ts); a lone call commits at once.
 * - monthly_usage.reserved_micros / monthly_key_usage.reserved_micros stay 0 on SQLite; reads
 *   that report reservations add `memoryHolds` (metering/usage.ts).
 *
 * Every step runs through sqliteAtomic: never inside (nor rolled back with) an open Kysely
 * transaction, and never reading one's uncommitted rows.
 *
 * The one assumption: a single process serves a SQLite file (as for the in-memory rate-limit
 * counters). Containers of one process on the same file share their holds (holds.ts); a second
 * `kaixu serve` process on the same file is refused at startup (storage/serve-lock.ts) — several
 * nodes run on PostgreSQL.
 */
export class SqliteCapStore implements CapStore {
  private readonly devices: SqliteDeviceStore;
  private readonly holds: HoldBook;
  readonly memoryHolds: HoldBook;
  /**
   * Calls admitted without a hold (soft mode) that have not ended: call id → when to stop
   * counting one whose end never came. With the holds, the calls in flight (see `alone`).
   */
  private readonly unheld = new Map<string, number>();
  private readonly detach: () => void;
  private readonly s;
  private readonly settleTx: (ws: SettleWrite[]) => SettleOutput[];
  private readonly batcher: GroupCommit<SettleWrite, SettleOutput>;

  constructor(private readonly storage: Storage) {
    const h: SQLite.Database = storage.sqlite!;
    this.devices = new SqliteDeviceStore(storage);
    const b = holdBookFor(h);
    this.holds = this.memoryHolds = b.book;
    this.detach = b.detach;
    this.s = {
      state: h
        .prepare<[string | null, string, string, string], State>(
          `select c.monthly_cap_cents as ccap, k.monthly_cap_cents as kcap, c.is_active, k.revoked_at, c.cap_mode, k.customer_id,
                k.updated_at as k_upd, c.updated_at as c_upd, cu.spent_micros as c_spent, cu.extra_cents, ku.spent_micros as k_spent,
                (select d.revoked_at is not null from key_devices d where d.api_key_id = k.id and d.install_id = ?) as dev_revoked
         from api_keys k join customers c on c.id = k.customer_id
         left join monthly_usage cu on cu.customer_id = k.customer_id and cu.month = ?
         left join monthly_key_usage ku on ku.api_key_id = k.id and ku.month = ?
         where k.id = ?`,
        )
        .raw(true),
      // The totals are read back by a second statement rather than `returning`: SQLite buffers a
      // RETURNING statement's rows in an ephemeral table, opened and freed on every run — ≈ 5 k
      // instructions per upsert more than the upsert and a primary-key read together (bench/README.md,
      // "What a settle costs SQLite"). Same transaction, same connection: the same values.
      chargeCust: h.prepare(
        `insert into monthly_usage (customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at) values (?, ?, ?, ?, ?, ?, ?)
         on conflict (customer_id, month) do update set spent_micros = spent_micros + excluded.spent_micros,
           input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
           calls = calls + excluded.calls, updated_at = excluded.updated_at`,
      ),
      custTotal: h.prepare<[string, string], [spent: number, extraCents: number]>('select spent_micros, extra_cents from monthly_usage where customer_id = ? and month = ?').raw(true),
      chargeKey: h.prepare(
        `insert into monthly_key_usage (api_key_id, customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (api_key_id, month) do update set spent_micros = spent_micros + excluded.spent_micros,
           input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
           calls = calls + excluded.calls, updated_at = excluded.updated_at`,
      ),
      keyTotal: h.prepare<[string, string], number>('select spent_micros from monthly_key_usage where api_key_id = ? and month = ?').pluck(true),
      // Run with the values as arguments (`run(...eventRow(e))`), not as one array: better-sqlite3
      // reads an array's elements through one V8 API call each, ≈ 8 k instructions more per event.
      insEvent: h.prepare(`insert into usage_events (${EVENT_COLUMNS.join(', ')}) values (${EVENT_COLUMNS.map(() => '?').join(', ')})`),
      touchKey: h.prepare('update api_keys set last_seen_at = ? where id = ?'),
    };
    this.settleTx = h.transaction((ws: SettleWrite[]) => (ws.length === 1 ? [this.writeOne(ws[0]!)] : this.writeMany(ws)));
    this.batcher = new GroupCommit<SettleWrite, SettleOutput>({
      maxInFlight: 1,
      maxBatch: MAX_BATCH,
      // Write at once unless another call is still in flight, held or not (it may settle in this
      // same turn), or a Kysely transaction is open (sqliteAtomic then queues behind it).
      alone: () => this.holds.size + this.unheld.size <= 1 && !h.inTransaction,
      // better-sqlite3 rolled the whole transaction back.
      retryable: () => true,
      write: (ws) => sqliteAtomic(this.storage, () => this.commit(ws)),
      writeOne: (w) => this.commit([w])[0]!,
    });
  }

  /** Writes the calls in one transaction; once committed, drops their holds in the same synchronous step. */
  private commit(ws: SettleWrite[]): SettleOutput[] {
    const out = this.settleTx(ws);
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      if (w.reservationId) out[i]!.released = this.holds.remove(w.reservationId);
      else this.unheld.delete(w.callId);
    }
    return out;
  }

  foldsRate(limiter: RateLimiter): boolean {
    return limiter.single && limiter.backend instanceof MemoryRateBackend;
  }

  private reserveSync(i: ReserveInput): ReserveResult {
    const row = this.s.state.get(i.installId, i.month, i.month, i.keyId);
    if (!row) return { outcome: 'key_revoked', snap: null };
    const [ccap, kcap, isActive, revokedAt, capMode, customerId, kUpd, cUpd, cSpent, extraCents, kSpent, devRevoked] = row;
    if (revokedAt != null || customerId !== i.customerId) return { outcome: 'key_revoked', snap: null };
    if (Number(kUpd) !== i.expect.keyUpdatedAt || Number(cUpd) !== i.expect.customerUpdatedAt) return { outcome: 'stale', snap: null };
    if (Number(isActive) !== 1) return { outcome: 'customer_disabled', snap: null };
    const out: ReserveResult = { outcome: 'ok', snap: null };
    if (i.device) {
      const d = (out.device = this.devices.seenSync(i.device));
      if (d.outcome === 'revoked') return { ...out, outcome: 'device_revoked' };
      if (d.outcome === 'limit') return { ...out, outcome: 'device_limit' };
    } else if (Number(devRevoked) === 1) return { outcome: 'device_revoked', snap: null };
    if (i.rate) {
      const r = (out.rate = (i.rate.backend as MemoryRateBackend).hitSync(i.rate.windows));
      if (!r.allowed) return { ...out, outcome: 'rate_limited' };
    }
    const snap: CapSnapshot = {
      mode: capMode === 'soft' ? 'soft' : 'hard',
      baseCapCents: Number(ccap),
      keyCapCents: kcap == null ? null : Number(kcap),
      extraCents: Number(extraCents ?? 0),
      cSpent: Number(cSpent ?? 0),
      cReserved: this.holds.customer(i.customerId, i.month),
      kSpent: Number(kSpent ?? 0),
      kReserved: this.holds.key(i.keyId, i.month),
    };
    const cap = capMicros(snap);
    out.snap = snap;
    if (snap.mode === 'soft') {
      if (snap.cSpent >= cap.customer) return { ...out, outcome: 'customer_cap' };
      if (snap.kSpent >= cap.key) return { ...out, outcome: 'key_cap' };
      this.unheld.set(i.id, i.expiresAt);
      return out;
    }
    if (snap.cSpent + snap.cReserved + i.amount > cap.customer) return { ...out, outcome: 'customer_cap' };
    if (snap.kSpent + snap.kReserved + i.amount > cap.key) return { ...out, outcome: 'key_cap' };
    this.holds.add({ id: i.id, customerId: i.customerId, keyId: i.keyId, month: i.month, amount: i.amount, requestId: i.requestId, createdAt: i.now, expiresAt: i.expiresAt });
    snap.cReserved += i.amount;
    snap.kReserved += i.amount;
    out.outcome = 'reserved';
    return out;
  }

  /** One call's rows, inside its transaction: the lone call's path (most calls at low concurrency). */
  private writeOne(w: SettleWrite): SettleOutput {
    const s = this.s;
    s.insEvent.run(...eventRow(w.event));
    s.chargeCust.run(w.customerId, w.month, w.cost, w.inputTokens, w.outputTokens, 1, w.now);
    s.chargeKey.run(w.keyId, w.customerId, w.month, w.cost, w.inputTokens, w.outputTokens, 1, w.now);
    const [cSpent, extraCents] = s.custTotal.get(w.customerId, w.month)!;
    const kSpent = s.keyTotal.get(w.keyId, w.month)!;
    if (w.touchKey) s.touchKey.run(w.now, w.keyId);
    return { cSpent: Number(cSpent), extraCents: Number(extraCents), kSpent: Number(kSpent), released: 0 };
  }

  /** A batch's rows, inside its transaction: events, then one upsert per monthly row, then key touches. */
  private writeMany(ws: SettleWrite[]): SettleOutput[] {
    const s = this.s;
    const cust = new Map<string, { w: SettleWrite; cost: number; tin: number; tout: number; calls: number; now: number }>();
    const keys = new Map<string, { w: SettleWrite; cost: number; tin: number; tout: number; calls: number; now: number }>();
    const touch = new Map<string, number>();
    for (const w of ws) {
      s.insEvent.run(...eventRow(w.event));
      add(cust, `${w.customerId}\u0000${w.month}`, w);
      add(keys, `${w.keyId}\u0000${w.month}`, w);
      if (w.touchKey) touch.set(w.keyId, Math.max(touch.get(w.keyId) ?? 0, w.now));
    }
    const finals = { customer: new Map<string, { spent: number; extra: number }>(), key: new Map<string, number>() };
    for (const [id, a] of cust) {
      s.chargeCust.run(a.w.customerId, a.w.month, a.cost, a.tin, a.tout, a.calls, a.now);
      const [spent, extra] = s.custTotal.get(a.w.customerId, a.w.month)!;
      finals.customer.set(id, { spent: Number(spent), extra: Number(extra) });
    }
    for (const [id, a] of keys) {
      s.chargeKey.run(a.w.keyId, a.w.customerId, a.w.month, a.cost, a.tin, a.tout, a.calls, a.now);
      finals.key.set(id, Number(s.keyTotal.get(a.w.keyId, a.w.month)!));
    }
    for (const [keyId, now] of touch) s.touchKey.run(now, keyId);
    return perCallTotals(ws, [], finals);
  }

  reserve(i: ReserveInput): Promise<ReserveResult> {
    return sqliteAtomic(this.storage, () => this.reserveSync(i));
  }

  settle(w: SettleWrite): Promise<SettleOutput> {
    return this.batcher.submit(w);
  }

  async release(reservationId: string): Promise<number> {
    return this.holds.remove(reservationId);
  }

  endUnheld(callId: string): void {
    this.unheld.delete(callId);
  }

  async expiredReservations(now: number, limit: number): Promise<string[]> {
    // The sweep also stops counting soft calls whose end never came: counted, they would keep
    // every later lone settle from committing at once.
    for (const [id, until] of this.unheld) if (until < now) this.unheld.delete(id);
    return this.holds.expired(now, limit);
  }

  async reservations(f: { customerId?: string; requestId?: string }): Promise<HeldReservation[]> {
    return this.holds.list(f);
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }

  async close(): Promise<void> {
    await this.batcher.flush();
    this.detach();
  }

  get batchStats() {
    return this.batcher.stats;
  }
}

function add(m: Map<string, { w: SettleWrite; cost: number; tin: number; tout: number; calls: number; now: number }>, id: string, w: SettleWrite) {
  const a = m.get(id);
  if (!a) m.set(id, { w, cost: w.cost, tin: w.inputTokens, tout: w.outputTokens, calls: 1, now: w.now });
  else {
    a.cost += w.cost;
    a.tin += w.inputTokens;
    a.tout += w.outputTokens;
    a.calls++;
    a.now = Math.max(a.now, w.now);
  }
}
