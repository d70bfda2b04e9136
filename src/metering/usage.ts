import { sql } from 'kysely';
import { iso } from '../lib/clock.ts';
import { microsToCents } from '../lib/money.ts';
import type { Db } from '../storage/db.ts';
import type { UsageEventsTable } from '../storage/types.ts';
import type { Selectable } from 'kysely';

export interface CapFacts {
  customerId: string;
  keyId: string;
  month: string;
  customerCapCents: number;
  keyCapCents: number | null;
}

const n = (v: unknown): number => Number(v ?? 0);

export const eventView = (r: Selectable<UsageEventsTable>) => ({
  id: Number(r.id),
  created_at: iso(r.created_at),
  request_id: r.request_id,
  api_key_id: r.api_key_id,
  kind: r.kind,
  provider: r.provider,
  model: r.model,
  upstream_provider: r.upstream_provider,
  upstream_model: r.upstream_model,
  input_tokens: n(r.input_tokens),
  output_tokens: n(r.output_tokens),
  usage_source: r.usage_source,
  cost_micros: n(r.cost_micros),
  cost_cents: microsToCents(n(r.cost_micros)),
  install_id: r.install_id,
  app: r.app,
  build: r.build,
  status: r.status,
  latency_ms: n(r.latency_ms),
});
export type EventView = ReturnType<typeof eventView>;

/** µ$ held by cap reservations outside the monthly rows (SQLite keeps them in memory: governance/caps/sqlite.ts). */
export interface HeldAmounts {
  customer(customerId: string, month: string): number;
  key(keyId: string, month: string): number;
}

/**
 * Read side of the usage ledger: month summaries, event pages, rollups and reconciliation.
 * Reserved amounts are the rows' reserved_micros plus `holds` (when the cap store keeps them elsewhere).
 */
export class UsageQueries {
  constructor(
    private readonly db: Db,
    private readonly holds: HeldAmounts | null = null,
  ) {}

  private heldC(customerId: string, month: string, row: unknown): number {
    return n(row) + (this.holds?.customer(customerId, month) ?? 0);
  }

  private heldK(keyId: string, month: string, row: unknown): number {
    return n(row) + (this.holds?.key(keyId, month) ?? 0);
  }

  /** The key holder's month (seed user-summary `month`): caps, spend, remaining, tokens, in exact cents. */
  async keyMonth(f: CapFacts) {
    const [cu, ku] = await Promise.all([
      this.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', f.customerId).where('month', '=', f.month).executeTakeFirst(),
      this.db.selectFrom('monthly_key_usage').selectAll().where('api_key_id', '=', f.keyId).where('month', '=', f.month).executeTakeFirst(),
    ]);
    const customerCap = f.customerCapCents + n(cu?.extra_cents);
    const keyCap = f.keyCapCents ?? customerCap;
    const cSpent = n(cu?.spent_micros);
    const kSpent = n(ku?.spent_micros);
    const cHeld = this.heldC(f.customerId, f.month, cu?.reserved_micros);
    const kHeld = this.heldK(f.keyId, f.month, ku?.reserved_micros);
    const cUsed = cSpent + cHeld;
    const kUsed = kSpent + kHeld;
    return {
      month: f.month,
      cap_cents: customerCap,
      spent_cents: microsToCents(cSpent),
      customer_cap_cents: customerCap,
      customer_spent_cents: microsToCents(cSpent),
      customer_extra_cents: n(cu?.extra_cents),
      customer_reserved_cents: microsToCents(cHeld),
      customer_remaining_cents: microsToCents(Math.max(0, customerCap * 10_000 - cUsed)),
      key_cap_cents: keyCap,
      key_spent_cents: microsToCents(kSpent),
      key_reserved_cents: microsToCents(kHeld),
      key_remaining_cents: microsToCents(Math.max(0, keyCap * 10_000 - kUsed)),
      customer_tokens: n(cu?.input_tokens) + n(cu?.output_tokens),
      key_tokens: n(ku?.input_tokens) + n(ku?.output_tokens),
      customer_calls: n(cu?.calls),
      key_calls: n(ku?.calls),
    };
  }

  /** A page of usage events, newest first; filter by customer and/or key. */
  async events(f: { customerId?: string; keyId?: string; month: string; limit: number; beforeId?: number }) {
    let q = this.db.selectFrom('usage_events').selectAll().where('month', '=', f.month);
    if (f.keyId) q = q.where('api_key_id', '=', f.keyId);
    if (f.customerId) q = q.where('customer_id', '=', f.customerId);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    const rows = await q.orderBy('id', 'desc').limit(f.limit + 1).execute();
    const page = rows.slice(0, f.limit).map(eventView);
    return { events: page, next_before_id: rows.length > f.limit ? page[page.length - 1]!.id : null };
  }

  /** Per public provider totals of a key's month (seed user-events `summary_by_provider`). */
  async summaryByProvider(keyId: string, month: string) {
    const rows = await this.db
      .selectFrom('usage_events')
      .select([
        'provider',
        sql<number>`count(*)`.as('calls'),
        sql<number>`coalesce(sum(cost_micros), 0)`.as('cost_micros'),
        sql<number>`coalesce(sum(input_tokens), 0)`.as('input_tokens'),
        sql<number>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
      ])
      .where('api_key_id', '=', keyId)
      .where('month', '=', month)
      .groupBy('provider')
      .orderBy('provider')
      .execute();
    return rows.map((r) => ({
      provider: r.provider,
      calls: n(r.calls),
      cost_cents: microsToCents(n(r.cost_micros)),
      input_tokens: n(r.input_tokens),
      output_tokens: n(r.output_tokens),
    }));
  }

  /** Admin rollup of a customer's month: the aggregate row and one line per key (revoked keys included). */
  async customerMonth(customerId: string, month: string) {
    const [cu, keys] = await Promise.all([
      this.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', customerId).where('month', '=', month).executeTakeFirst(),
      this.db
        .selectFrom('api_keys as k')
        .leftJoin('monthly_key_usage as u', (j) => j.onRef('u.api_key_id', '=', 'k.id').on('u.month', '=', month))
        .select([
          'k.id',
          'k.key_last4',
          'k.label',
          'k.revoked_at',
          'k.monthly_cap_cents',
          'u.spent_micros',
          'u.reserved_micros',
          'u.input_tokens',
          'u.output_tokens',
          'u.calls',
          'u.updated_at',
        ])
        .where('k.customer_id', '=', customerId)
        .orderBy('k.created_at')
        .orderBy('k.id')
        .execute(),
    ]);
    return {
      rollup: {
        spent_cents: microsToCents(n(cu?.spent_micros)),
        spent_micros: n(cu?.spent_micros),
        reserved_cents: microsToCents(this.heldC(customerId, month, cu?.reserved_micros)),
        extra_cents: n(cu?.extra_cents),
        input_tokens: n(cu?.input_tokens),
        output_tokens: n(cu?.output_tokens),
        calls: n(cu?.calls),
        updated_at: iso(cu?.updated_at),
      },
      per_key: keys
        .map((k) => ({
          id: k.id,
          key_last4: k.key_last4,
          label: k.label,
          is_revoked: k.revoked_at != null,
          key_cap_cents: k.monthly_cap_cents == null ? null : n(k.monthly_cap_cents),
          spent_cents: microsToCents(n(k.spent_micros)),
          spent_micros: n(k.spent_micros),
          reserved_cents: microsToCents(this.heldK(k.id, month, k.reserved_micros)),
          input_tokens: n(k.input_tokens),
          output_tokens: n(k.output_tokens),
          calls: n(k.calls),
          updated_at: iso(k.updated_at),
        }))
        .sort((a, b) => b.spent_micros - a.spent_micros),
    };
  }

  /**
   * Σ usage events against the monthly aggregates, to the µ$ (customer and every key). `ok` is
   * true when the ledger and the aggregates agree on spend, tokens and calls.
   */
  async reconcile(customerId: string, month: string) {
    const sums = (col: 'customer_id' | 'api_key_id') =>
      this.db
        .selectFrom('usage_events')
        .select([
          col,
          sql<number>`count(*)`.as('calls'),
          sql<number>`coalesce(sum(cost_micros), 0)`.as('cost'),
          sql<number>`coalesce(sum(input_tokens), 0)`.as('tin'),
          sql<number>`coalesce(sum(output_tokens), 0)`.as('tout'),
        ])
        .where('customer_id', '=', customerId)
        .where('month', '=', month)
        .groupBy(col)
        .execute();
    const [byCustomer, byKey, cu, ku] = await Promise.all([
      sums('customer_id'),
      sums('api_key_id'),
      this.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', customerId).where('month', '=', month).executeTakeFirst(),
      this.db.selectFrom('monthly_key_usage').selectAll().where('customer_id', '=', customerId).where('month', '=', month).execute(),
    ]);
    const ev = byCustomer[0];
    const customer = {
      events_micros: n(ev?.cost),
      aggregate_micros: n(cu?.spent_micros),
      events_calls: n(ev?.calls),
      aggregate_calls: n(cu?.calls),
      events_tokens: n(ev?.tin) + n(ev?.tout),
      aggregate_tokens: n(cu?.input_tokens) + n(cu?.output_tokens),
    };
    const keyIds = new Set([...byKey.map((r) => r.api_key_id), ...ku.map((r) => r.api_key_id)]);
    const keys = [...keyIds].map((id) => {
      const e = byKey.find((r) => r.api_key_id === id);
      const a = ku.find((r) => r.api_key_id === id);
      return { api_key_id: id, events_micros: n(e?.cost), aggregate_micros: n(a?.spent_micros), events_calls: n(e?.calls), aggregate_calls: n(a?.calls) };
    });
    const same = (o: { events_micros: number; aggregate_micros: number; events_calls: number; aggregate_calls: number }) =>
      o.events_micros === o.aggregate_micros && o.events_calls === o.aggregate_calls;
    const ok = same(customer) && customer.events_tokens === customer.aggregate_tokens && keys.every(same);
    return { ok, customer, keys };
  }
}
