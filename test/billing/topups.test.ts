import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthOf } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

describe.each(DIALECTS)('manual top-ups on %s', (dialect) => {
  let t: TestApp;
  let cus: string;
  const extra = async (month: string) =>
    Number((await t.c.storage.db.selectFrom('monthly_usage').select('extra_cents').where('customer_id', '=', cus).where('month', '=', month).executeTakeFirst())?.extra_cents ?? 0);

  beforeAll(async () => {
    t = await makeTestApp(dialect);
    cus = (await t.createCustomer()).customer.id;
  });
  afterAll(async () => t?.close());

  it('adds to this month’s extra_cents (creating the row), records the top-up and audits TOPUP_MANUAL', async () => {
    const month = monthOf(t.clock.now());
    const res = await t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 1500, note: 'paid by invoice #12' });
    expect(res.status).toBe(201);
    const j = (await res.json()) as { ok: boolean; month: string; amount_cents: number; extra_cents: number; topup: { source: string; status: string; note: string; actor: string } };
    expect(j).toMatchObject({ ok: true, month, amount_cents: 1500, extra_cents: 1500 });
    expect(j.topup).toMatchObject({ source: 'manual', status: 'applied', note: 'paid by invoice #12', actor: 'admin' });
    const again = (await (await t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 250, month })).json()) as { extra_cents: number };
    expect(again.extra_cents).toBe(1750);
    expect(await extra(month)).toBe(1750);
    const audit = (await (await t.admin('GET', `/admin/api/audit?customer_id=${cus}&action=TOPUP_MANUAL`)).json()) as { events: { summary: string }[] };
    expect(audit.events.map((e) => e.summary)).toEqual([`month=${month} amount_cents=250`, `month=${month} amount_cents=1500`]);
  });

  it('targets another month when given, and lists top-ups (optionally by month)', async () => {
    await t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 99, month: '2031-07' });
    expect(await extra('2031-07')).toBe(99);
    const all = (await (await t.admin('GET', `/admin/api/customers/${cus}/topups`)).json()) as { topups: { month: string }[] };
    expect(all.topups).toHaveLength(3);
    const july = (await (await t.admin('GET', `/admin/api/customers/${cus}/topups?month=2031-07`)).json()) as { topups: { amount_cents: number }[] };
    expect(july.topups).toEqual([expect.objectContaining({ amount_cents: 99 })]);
  });

  it('concurrent top-ups all count (atomic upsert)', async () => {
    const month = '2031-08';
    const res = await Promise.all(Array.from({ length: 8 }, () => t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 125, month })));
    expect(res.every((r) => r.status === 201)).toBe(true);
    expect(await extra(month)).toBe(1000);
  });

  it('validates at the edge and writes nothing on error', async () => {
    const month = '2031-09';
    for (const body of [{ amount_cents: 0, month }, { amount_cents: -5, month }, { amount_cents: 1.5, month }, { amount_cents: 10, month, bonus: true }, { amount_cents: 10, month: '2031-9' }, {}]) {
      const r = await t.admin('POST', `/admin/api/customers/${cus}/topups`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect(await extra(month)).toBe(0);
    expect((await t.admin('POST', '/admin/api/customers/cus_nope/topups', { amount_cents: 10 })).status).toBe(404);
    expect((await t.admin('GET', '/admin/api/customers/cus_nope/topups')).status).toBe(404);
    expect((await t.req('POST', `/admin/api/customers/${cus}/topups`, { body: { amount_cents: 10 } })).status).toBe(401);
  });
});
