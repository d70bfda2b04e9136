import type pg from 'pg';
import type { Db } from '../../storage/db.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import { GroupCommit } from './group-commit.ts';
import { PgAdmitter } from './pg-admit.ts';
import type { CapStore, HeldReservation, ReserveInput, ReserveResult, SettleOutput, SettleWrite } from './types.ts';
import { EVENT_COLUMNS, eventRow, perCallTotals } from './types.ts';

const EVENT_TYPES: Record<(typeof EVENT_COLUMNS)[number], string> = {
  created_at: 'bigint',
  month: 'text',
  request_id: 'text',
  customer_id: 'text',
  api_key_id: 'text',
  kind: 'text',
  provider: 'text',
  model: 'text',
  upstream_provider: 'text',
  upstream_model: 'text',
  input_tokens: 'bigint',
  output_tokens: 'bigint',
  usage_source: 'text',
  cost_micros: 'bigint',
  install_id: 'text',
  app: 'text',
  build: 'text',
  status: 'text',
  latency_ms: 'integer',
  ip_hash: 'text',
  ua: 'text',
};

const N = EVENT_COLUMNS.length;
const BATCH_TYPES = ['text', 'text', 'text', 'text', 'bigint', 'bigint', 'bigint', 'bigint', 'boolean'];
// The batch's usage events and its money rows in ONE statement: the data-modifying CTE and the
// function commit or roll back together. Fixed text whatever the batch size (arrays), so it is
// prepared once per connection.
const SETTLE_SQL =
  `with ev as (insert into usage_events (${EVENT_COLUMNS.join(', ')}) select * from unnest(${EVENT_COLUMNS.map((c, i) => `$${i + 1}::${EVENT_TYPES[c]}[]`).join(', ')})) ` +
  `select o_kind, o_id, o_month, o_a, o_b from kaixu_settle_batch(${BATCH_TYPES.map((t, i) => `$${N + i + 1}::${t}[]`).join(', ')}, $${N + BATCH_TYPES.length + 1}::boolean)`;

/** Settles written in one round trip at most (larger bursts take several). */
const MAX_BATCH = 200;

/** A flush barrier failed after its batch committed: the batch must not be written again. */
class FlushError extends Error {
  constructor(cause: unknown) {
    super(`settle committed but its WAL flush could not be confirmed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * PostgreSQL: admission is one call of kaixu_admit (key/customer re-check, device seat and rate
 * limit when folded, reservation); calls of one key and device arriving together share one
 * kaixu_admit_batch (pg-admit.ts). Settles are group-committed through kaixu_settle_batch — a
 * call alone is sent at once; calls settling while `maxInFlight` batches are on the wire go
 * together in the next one (the customer's month row is locked once per batch, not once per
 * call). When other calls of this node are in flight, a batch commits without waiting for the
 * disk and a shared flush barrier makes it durable before its callers are answered, so
 * admissions never queue behind a settle's WAL flush (migrations/003_governance_pg.ts,
 * "Durability"). Release is one kaixu_release call.
 */
export class PostgresCapStore implements CapStore {
  readonly memoryHolds = null;
  private readonly batcher: GroupCommit<SettleWrite, SettleOutput>;
  readonly admitter: PgAdmitter;
  /**
   * Calls this node admitted and has not settled or released yet, held (hard mode) or not (soft
   * mode, whose admissions lock the same month rows): the calls in flight.
   */
  private readonly open = new Set<string>();
  private barrierOnWire: Promise<void> | null = null;
  private barrierNext: Promise<void> | null = null;
  /** Flush barriers run (diagnostics, tests). */
  barriers = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly db: Db,
    opts: { maxInFlight?: number } = {},
  ) {
    this.admitter = new PgAdmitter(pool);
    this.batcher = new GroupCommit<SettleWrite, SettleOutput>({
      maxInFlight: opts.maxInFlight ?? 2,
      maxBatch: MAX_BATCH,
      write: (ws) => this.writeBatch(ws),
      // An error reported by the server: the statement (its own transaction) was rolled back.
      retryable: (e) => !(e instanceof FlushError) && typeof (e as { severity?: unknown })?.severity === 'string',
    });
  }

  foldsRate(limiter: RateLimiter): boolean {
    return limiter.single && limiter.backend.name === 'postgres';
  }

  async reserve(i: ReserveInput): Promise<ReserveResult> {
    const out = await this.admitter.admit(i);
    if (out.outcome === 'reserved' || out.outcome === 'ok') {
      // Only a hint for choosing the flush mode: forget abandoned calls rather than grow.
      if (this.open.size >= 10_000) this.open.clear();
      this.open.add(i.id);
    }
    return out;
  }

  settle(w: SettleWrite): Promise<SettleOutput> {
    this.open.delete(w.callId);
    return this.batcher.submit(w);
  }

  private async writeBatch(ws: SettleWrite[]): Promise<SettleOutput[]> {
    const rows = ws.map((w) => eventRow(w.event));
    // Other calls in flight may be waiting to lock this customer's rows: commit without holding
    // them through the disk flush, then wait for the flush with a barrier.
    const deferFlush = this.open.size > 0;
    const res = await this.pool.query<{ o_kind: 'c' | 'k' | 'r'; o_id: string; o_month: string | null; o_a: number; o_b: number | null }>({
      name: 'kaixu_settle_batch',
      text: SETTLE_SQL,
      values: [
        ...EVENT_COLUMNS.map((_, i) => rows.map((r) => r[i])),
        ws.map((w) => w.reservationId),
        ws.map((w) => w.customerId),
        ws.map((w) => w.keyId),
        ws.map((w) => w.month),
        ws.map((w) => w.cost),
        ws.map((w) => w.inputTokens),
        ws.map((w) => w.outputTokens),
        ws.map((w) => w.now),
        ws.map((w) => w.touchKey),
        deferFlush,
      ],
    });
    if (deferFlush) await this.flushed();
    const finals = { customer: new Map<string, { spent: number; extra: number }>(), key: new Map<string, number>() };
    const released = new Array<number>(ws.length).fill(0);
    for (const r of res.rows) {
      if (r.o_kind === 'c') finals.customer.set(`${r.o_id}\u0000${r.o_month}`, { spent: Number(r.o_a), extra: Number(r.o_b) });
      else if (r.o_kind === 'k') finals.key.set(`${r.o_id}\u0000${r.o_month}`, Number(r.o_a));
      else released[Number(r.o_id) - 1] = Number(r.o_a);
    }
    return perCallTotals(ws, released, finals);
  }

  /**
   * Resolves once the WAL is flushed past everything this node committed before the call. A
   * barrier already on the wire may have been sent before the caller's commit, so callers that
   * arrive while one is out share the next one.
   */
  private flushed(): Promise<void> {
    if (!this.barrierOnWire) return this.startBarrier();
    this.barrierNext ??= this.barrierOnWire.then(
      () => ((this.barrierNext = null), this.startBarrier()),
      () => ((this.barrierNext = null), this.startBarrier()),
    );
    return this.barrierNext;
  }

  private startBarrier(): Promise<void> {
    this.barriers++;
    const p = this.barrier().finally(() => {
      if (this.barrierOnWire === p) this.barrierOnWire = null;
    });
    this.barrierOnWire = p;
    return p;
  }

  /** A transaction with an xid, committed synchronously: its flush covers every earlier commit. Retried once. */
  private async barrier(): Promise<void> {
    const q = { name: 'kaixu_flush_barrier', text: 'select txid_current()' };
    try {
      await this.pool.query(q);
    } catch {
      try {
        await this.pool.query(q);
      } catch (e) {
        throw new FlushError(e);
      }
    }
  }

  endUnheld(callId: string): void {
    this.open.delete(callId);
  }

  async release(reservationId: string): Promise<number> {
    this.open.delete(reservationId);
    const res = await this.pool.query<{ n: number }>({ name: 'kaixu_release', text: 'select kaixu_release($1) as n', values: [reservationId] });
    return Number(res.rows[0]?.n ?? 0);
  }

  async expiredReservations(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('reservations').select('id').where('expires_at', '<', now).orderBy('expires_at').limit(limit).execute();
    return rows.map((r) => r.id);
  }

  async reservations(f: { customerId?: string; requestId?: string }): Promise<HeldReservation[]> {
    let q = this.db.selectFrom('reservations').selectAll();
    if (f.customerId) q = q.where('customer_id', '=', f.customerId);
    if (f.requestId) q = q.where('request_id', '=', f.requestId);
    const rows = await q.orderBy('created_at').execute();
    return rows.map((r) => ({
      id: r.id,
      customerId: r.customer_id,
      keyId: r.api_key_id,
      month: r.month,
      amount: Number(r.amount_micros),
      requestId: r.request_id,
      createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at),
    }));
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }

  close(): Promise<void> {
    return this.batcher.flush();
  }

  get batchStats() {
    return this.batcher.stats;
  }
}
