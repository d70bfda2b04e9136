import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallContext } from '../../src/gateway/governance.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

/**
 * Billing over real metering: calls admitted and settled through the governance seam (the
 * same path the chat routes use) write the ledger and the aggregates; the invoice and the
 * exports must agree with both, and a top-up must lift the cap governance enforces.
 */
const PRICE = { provider: 'billco', model: 'bill-1', input_micros_per_m: 1_000_000, output_micros_per_m: 3_000_000, markup_bp: 0 };
const TARGET = { provider: PRICE.provider, model: PRICE.model };
let rq = 0;

describe.each(DIALECTS)('billing over real metering on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(Date.UTC(2026, 6, 10, 12));
  let cus: string;
  let keys: string[];

  const call = async (key: string, input: number, output: number) => {
    const auth = await t.c.keyAuth.authenticate(`Bearer ${key}`);
    const ctx: CallContext = { auth, requestId: `req_bill_${++rq}`, publicProvider: TARGET.provider, publicModel: TARGET.model, ip: '203.0.113.9', kind: 'chat' };
    const adm = await t.c.governance.admit(ctx, { targets: [TARGET], inputTokensUpperBound: input, maxOutputTokens: output });
    return adm.settle({ target: TARGET, usage: { input_tokens: input, output_tokens: output }, usageSource: 'provider', status: 'ok', latencyMs: 3 });
  };

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock });
    await t.c.gov.pricing.upsert(PRICE, { actor: 'test' });
    const c = await t.createCustomer({ monthly_cap_cents: 100 });
    cus = c.customer.id;
    keys = [c.key, (await t.createKey(cus)).key];
    for (let i = 0; i < 12; i++) await call(keys[i % 2]!, 1_000 + i * 37, 500 + i * 11);
  });
  afterAll(async () => t?.close());

  it('invoice totals reconcile to the ledger and to the monthly aggregates', async () => {
    const inv = (await (await t.admin('GET', `/admin/api/customers/${cus}/invoices/2026-07`)).json()) as {
      snapshot: { totals: { spent_micros: number; spent_cents: number; calls: number; input_tokens: number; output_tokens: number }; keys: { spent_micros: number; calls: number }[] };
    };
    const L = (
      await sql<{ m: number; n: number; i: number; o: number }>`select sum(cost_micros) as m, count(*) as n, sum(input_tokens) as i, sum(output_tokens) as o
        from usage_events where customer_id = ${cus} and month = '2026-07'`.execute(t.c.storage.db)
    ).rows[0]!;
    const agg = await t.c.storage.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', cus).where('month', '=', '2026-07').executeTakeFirstOrThrow();
    const tot = inv.snapshot.totals;
    expect(Number(L.n)).toBe(12);
    expect(tot).toMatchObject({ spent_micros: Number(L.m), calls: 12, input_tokens: Number(L.i), output_tokens: Number(L.o) });
    expect(tot.spent_micros).toBe(Number(agg.spent_micros));
    expect(tot.spent_cents).toBe(Math.round(Number(L.m) / 10_000));
    expect(inv.snapshot.keys.reduce((a, k) => a + k.spent_micros, 0)).toBe(tot.spent_micros);

    const csv = await (await t.admin('GET', `/admin/api/customers/${cus}/exports/events.csv?month=2026-07`)).text();
    const rows = csv.trim().split('\r\n').slice(1);
    expect(rows).toHaveLength(12);
    const microsCol = 11;
    expect(rows.reduce((a, r) => a + Number(r.split(',')[microsCol]), 0)).toBe(tot.spent_micros);
  });

  it('a manual top-up lifts the cap governance enforces (402 before, admitted after)', async () => {
    // Spend the rest of the 100 ¢ cap.
    const spent = Number((await t.c.storage.db.selectFrom('monthly_usage').select('spent_micros').where('customer_id', '=', cus).executeTakeFirstOrThrow()).spent_micros);
    const remaining = 1_000_000 - spent;
    await call(keys[0]!, remaining, 0);
    await expect(call(keys[0]!, 10, 10)).rejects.toMatchObject({ status: 402 });
    expect((await t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 50 })).status).toBe(201);
    const r = await call(keys[0]!, 10, 10);
    expect(r.month.customer_cap_cents).toBe(150);
  });
});
