import { sql, type Kysely } from 'kysely';
import type { AuditLog } from '../../audit/audit.ts';
import type { InvalidationBus } from '../../cluster/invalidation.ts';
import type { Actor } from '../../keys/service.ts';
import { iso, monthOf, type Clock } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';
import type { Db } from '../../storage/db.ts';
import type { Database, TopupEventsTable } from '../../storage/types.ts';

export interface TopupInput {
  customerId: string;
  month: string;
  amountCents: number;
  source: 'manual' | 'stripe';
  note?: string | null;
  stripeSessionId?: string | null;
  stripeEventId?: string | null;
}

/** A top-up as the API shows it (ISO time; the Stripe event id stays internal). */
export type TopupView = Omit<TopupEventsTable, 'id' | 'created_at' | 'stripe_event_id'> & { id: number; created_at: string | null };

export const topupView = (r: Omit<TopupEventsTable, 'id'> & { id: number }): TopupView => ({
  id: Number(r.id),
  customer_id: r.customer_id,
  month: r.month,
  amount_cents: Number(r.amount_cents),
  source: r.source,
  status: r.status,
  stripe_session_id: r.stripe_session_id,
  note: r.note,
  actor: r.actor,
  created_at: iso(r.created_at),
});

/**
 * Top-ups raise a month's cap: `monthly_usage.extra_cents` (what governance adds to the
 * customer cap) and a `topup_events` row move together in one transaction.
 */
export class TopupService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
  ) {}

  /**
   * Credit inside the caller's transaction. A Stripe session credits at most once: the
   * insert is `ON CONFLICT (stripe_session_id) DO NOTHING`, so a second credit for the same
   * session returns null and changes nothing (no check-then-act window).
   */
  async applyIn(trx: Kysely<Database>, t: TopupInput, by: Actor): Promise<{ topup: TopupView; extra_cents: number } | null> {
    const now = this.clock.now();
    const values = {
      customer_id: t.customerId,
      month: t.month,
      amount_cents: t.amountCents,
      source: t.source,
      status: 'applied',
      stripe_session_id: t.stripeSessionId ?? null,
      stripe_event_id: t.stripeEventId ?? null,
      note: t.note ?? null,
      actor: by.actor,
      created_at: now,
    };
    const inserted = await trx
      .insertInto('topup_events')
      .values(values)
      .onConflict((oc) => oc.column('stripe_session_id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return null;
    const usage = await trx
      .insertInto('monthly_usage')
      .values({
        customer_id: t.customerId,
        month: t.month,
        spent_micros: 0,
        reserved_micros: 0,
        extra_cents: t.amountCents,
        input_tokens: 0,
        output_tokens: 0,
        calls: 0,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['customer_id', 'month']).doUpdateSet({ extra_cents: sql`monthly_usage.extra_cents + ${t.amountCents}`, updated_at: now }),
      )
      .returning('extra_cents')
      .executeTakeFirstOrThrow();
    await this.bus.record(trx, 'customer', t.customerId);
    await this.audit.record(
      {
        ...by,
        action: t.source === 'stripe' ? 'TOPUP_STRIPE' : 'TOPUP_MANUAL',
        target: `customer:${t.customerId}`,
        customerId: t.customerId,
        summary: `month=${t.month} amount_cents=${t.amountCents}`,
        meta: { month: t.month, amount_cents: t.amountCents, note: t.note ?? undefined, stripe_session_id: t.stripeSessionId ?? undefined, stripe_event_id: t.stripeEventId ?? undefined },
      },
      trx,
    );
    return { topup: topupView({ ...values, id: Number(inserted.id) }), extra_cents: Number(usage.extra_cents) };
  }

  /** Admin manual top-up (current month unless given). */
  async manual(customerId: string, input: { amount_cents: number; month?: string; note?: string }, by: Actor) {
    const month = input.month ?? monthOf(this.clock.now());
    const out = await this.db.transaction().execute(async (trx) => {
      const cust = await trx.selectFrom('customers').select('id').where('id', '=', customerId).executeTakeFirst();
      if (!cust) throw new AppError('NOT_FOUND', 'Customer not found');
      const res = await this.applyIn(trx, { customerId, month, amountCents: input.amount_cents, source: 'manual', note: input.note ?? null }, by);
      if (!res) throw new Error('manual top-up was not inserted');
      return res;
    });
    await this.bus.emit('customer', customerId);
    return out;
  }

  async list(customerId: string, month?: string): Promise<TopupView[]> {
    const cust = await this.db.selectFrom('customers').select('id').where('id', '=', customerId).executeTakeFirst();
    if (!cust) throw new AppError('NOT_FOUND', 'Customer not found');
    let q = this.db.selectFrom('topup_events').selectAll().where('customer_id', '=', customerId);
    if (month) q = q.where('month', '=', month);
    const rows = await q.orderBy('id', 'desc').limit(500).execute();
    return rows.map((r) => topupView({ ...r, id: Number(r.id) }));
  }

  /** Emit the post-commit invalidation for a credit made through applyIn. */
  emitCredited(customerId: string): Promise<void> {
    return this.bus.emit('customer', customerId);
  }
}
