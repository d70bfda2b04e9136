import type { Kysely } from 'kysely';
import { iso, monthBounds } from '../../lib/clock.ts';
import { roundCents } from '../../lib/money.ts';
import type { Database } from '../../storage/types.ts';
import type { Customer } from '../../keys/policy.ts';
import type { InvoiceKeyLine, InvoiceSnapshot, InvoiceTopup } from './types.ts';

interface LedgerLine {
  api_key_id: string;
  micros: number;
  input_tokens: number;
  output_tokens: number;
  calls: number;
}

/** Σ usage_events per key for one customer and month: the ledger is the invoice's source of truth. */
export async function ledgerByKey(db: Kysely<Database>, customerId: string, month: string): Promise<LedgerLine[]> {
  const rows = await db
    .selectFrom('usage_events')
    .select((eb) => [
      'api_key_id',
      eb.fn.sum<number>('cost_micros').as('micros'),
      eb.fn.sum<number>('input_tokens').as('input_tokens'),
      eb.fn.sum<number>('output_tokens').as('output_tokens'),
      eb.fn.countAll<number>().as('calls'),
    ])
    .where('customer_id', '=', customerId)
    .where('month', '=', month)
    .groupBy('api_key_id')
    .execute();
  return rows.map((r) => ({
    api_key_id: r.api_key_id,
    micros: Number(r.micros ?? 0),
    input_tokens: Number(r.input_tokens ?? 0),
    output_tokens: Number(r.output_tokens ?? 0),
    calls: Number(r.calls ?? 0),
  }));
}

export async function topupsFor(db: Kysely<Database>, customerId: string, month: string): Promise<InvoiceTopup[]> {
  const rows = await db.selectFrom('topup_events').selectAll().where('customer_id', '=', customerId).where('month', '=', month).orderBy('id').execute();
  return rows.map((r) => ({
    id: Number(r.id),
    amount_cents: Number(r.amount_cents),
    source: r.source,
    status: r.status,
    stripe_session_id: r.stripe_session_id,
    note: r.note,
    created_at: iso(r.created_at),
  }));
}

/**
 * A live invoice for one customer and month. Key lines cover every key that existed during
 * the month (revoked ones included) plus any key with ledger entries; amounts are rounded
 * once, here, from exact µ$ sums.
 */
export async function computeInvoice(db: Kysely<Database>, customer: Customer, month: string, now: number): Promise<InvoiceSnapshot> {
  const { start, end } = monthBounds(month);
  const [ledger, keyRows, usage, topups] = await Promise.all([
    ledgerByKey(db, customer.id, month),
    db.selectFrom('api_keys').select(['id', 'key_last4', 'label', 'revoked_at', 'created_at']).where('customer_id', '=', customer.id).execute(),
    db.selectFrom('monthly_usage').select('extra_cents').where('customer_id', '=', customer.id).where('month', '=', month).executeTakeFirst(),
    topupsFor(db, customer.id, month),
  ]);

  const byKey = new Map(ledger.map((l) => [l.api_key_id, l]));
  const known = new Map(keyRows.map((k) => [k.id, k]));
  const lineIds = new Set(ledger.map((l) => l.api_key_id));
  for (const k of keyRows) {
    const existed = Number(k.created_at) < end && (k.revoked_at == null || Number(k.revoked_at) >= start);
    if (existed) lineIds.add(k.id);
  }

  const keys: InvoiceKeyLine[] = [...lineIds].map((id) => {
    const l = byKey.get(id);
    const k = known.get(id);
    const micros = l?.micros ?? 0;
    return {
      api_key_id: id,
      key_last4: k?.key_last4 ?? null,
      label: k?.label ?? null,
      revoked: k ? k.revoked_at != null : true,
      spent_cents: roundCents(micros),
      spent_micros: micros,
      input_tokens: l?.input_tokens ?? 0,
      output_tokens: l?.output_tokens ?? 0,
      calls: l?.calls ?? 0,
    };
  });
  keys.sort((a, b) => b.spent_micros - a.spent_micros || a.api_key_id.localeCompare(b.api_key_id));

  const spentMicros = ledger.reduce((s, l) => s + l.micros, 0);
  const inputTokens = ledger.reduce((s, l) => s + l.input_tokens, 0);
  const outputTokens = ledger.reduce((s, l) => s + l.output_tokens, 0);
  const calls = ledger.reduce((s, l) => s + l.calls, 0);
  const extraCents = Number(usage?.extra_cents ?? 0);
  const spentCents = roundCents(spentMicros);
  const pushTotal = 0;

  return {
    generated_at: new Date(now).toISOString(),
    month,
    currency: 'USD',
    customer: { id: customer.id, email: customer.email, plan: customer.plan, plan_name: customer.plan, monthly_cap_cents: customer.monthly_cap_cents },
    totals: {
      cap_cents: customer.monthly_cap_cents,
      extra_cents: extraCents,
      spent_cents: spentCents,
      spent_micros: spentMicros,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      total_tokens: inputTokens + outputTokens,
      calls,
      push_total_cents: pushTotal,
      grand_total_cents: spentCents + extraCents + pushTotal,
    },
    keys,
    topups,
    push: null,
  };
}
