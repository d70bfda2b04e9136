import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, rejection, TARGET, usageRows, type GovApp } from './helpers.ts';

const usage = (input: number, output: number) => ({ input_tokens: input, output_tokens: output });
const settleInput = (input = 3_000, output = 5_000) => ({ target: TARGET, usage: usage(input, output), usageSource: 'provider' as const, status: 'ok' as const, latencyMs: 12 });

describe.each(DIALECTS)('caps by reservation on %s', (dialect) => {
  let t: GovApp;
  beforeAll(async () => {
    t = await makeGovApp(dialect);
  });
  afterAll(async () => t?.close());

  it('reserves the upper bound, settles to the exact cost, records one event and the aggregates in one step', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 100 });
    const auth = await t.auth(key);
    const adm = await t.c.governance.admit(t.ctx(auth, { installId: 'dev-1', app: 'app-x', build: 'b7' }), ONE_CENT_CALL);
    expect(adm.month).toMatchObject({ month: '2026-01', cap_cents: 100, spent_cents: 0, key_cap_cents: 100, key_spent_cents: 0 });
    let u = await usageRows(t, customer.id);
    expect(u.reserved).toBe(10_000);
    expect(u.reservations).toHaveLength(1);

    const res = await adm.settle(settleInput(3_001, 5_003));
    expect(res.cost_micros).toBe(8_004);
    expect(res.cost_cents).toBe(0.8004);
    expect(res.month).toMatchObject({ spent_cents: 0.8004, customer_spent_cents: 0.8004, key_spent_cents: 0.8004 });
    u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: 8_004, reserved: 0, calls: 1, eventCost: 8_004 });
    expect(u.reservations).toHaveLength(0);
    expect(u.events).toHaveLength(1);
    expect(u.events[0]).toMatchObject({
      api_key_id: keyId,
      provider: TARGET.provider,
      upstream_model: TARGET.model,
      input_tokens: 3_001,
      output_tokens: 5_003,
      usage_source: 'provider',
      install_id: 'dev-1',
      app: 'app-x',
      build: 'b7',
      status: 'ok',
      latency_ms: 12,
    });
    expect(u.events[0]!.ip_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(u.events[0]!.ip_hash).not.toContain('203.0.113.7');
    const k = await t.c.storage.db.selectFrom('monthly_key_usage').selectAll().where('api_key_id', '=', keyId).executeTakeFirstOrThrow();
    expect(Number(k.spent_micros)).toBe(8_004);
    expect(Number(k.reserved_micros)).toBe(0);
    expect(Number(k.calls)).toBe(1);
    // Exactly one of settle/release takes effect.
    await expect(adm.settle(settleInput())).rejects.toThrow();
    await adm.release();
    expect((await usageRows(t, customer.id)).spent).toBe(8_004);
  });

  it('a small call is never free: sub-cent costs accumulate exactly', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    const auth = await t.auth(key);
    for (let i = 0; i < 3; i++) {
      const adm = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
      const r = await adm.settle(settleInput(7, 3));
      expect(r.cost_micros).toBe(10);
      expect(r.cost_cents).toBe(0.001);
    }
    expect((await usageRows(t, customer.id)).spent).toBe(30);
  });

  it('release drops the reservation and records nothing', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    const adm = await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL);
    await adm.release();
    await adm.release();
    const u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: 0, reserved: 0, calls: 0 });
    expect(u.events).toHaveLength(0);
  });

  it('refuses with 402 when the reservation does not fit, with scope, month and remaining', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 2 });
    const auth = await t.auth(key);
    const a1 = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    const a2 = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    const e = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e.status).toBe(402);
    expect(e.message).toBe('Monthly cap reached');
    expect(e.details).toMatchObject({ scope: 'customer', cap_cents: 2, spent_cents: 0, reserved_cents: 2, remaining_cents: 0, required_cents: 1 });
    expect(e.details.month).toMatchObject({ month: '2026-01', cap_cents: 2, spent_cents: 0, customer_cap_cents: 2, key_cap_cents: 2 });
    await a1.settle(settleInput());
    await a2.release();
    // 2¢ cap − 0.8¢ spent = 1.2¢ left: one more 1¢ reservation fits, then not.
    const a3 = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    const e2 = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e2.details).toMatchObject({ scope: 'customer', spent_cents: 0.8, reserved_cents: 1, remaining_cents: 0.2 });
    await a3.release();
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });

  it('a key cap override is its own hard cap (top-ups not added); without one the key shares the customer cap', async () => {
    const { customer } = await t.createCustomer({ monthly_cap_cents: 100 });
    const capped = await t.createKey(customer.id, { monthly_cap_cents: 1 });
    const free = await t.createKey(customer.id);
    await t.c.billing.topups.manual(customer.id, { amount_cents: 50, month: '2026-01' }, { actor: 'test' });
    const ca = await t.auth(capped.key);
    const a = await t.c.governance.admit(t.ctx(ca), ONE_CENT_CALL);
    expect(a.month).toMatchObject({ customer_cap_cents: 150, key_cap_cents: 1 });
    const e = await rejection(t.c.governance.admit(t.ctx(ca), ONE_CENT_CALL));
    expect(e.details).toMatchObject({ scope: 'key', cap_cents: 1, reserved_cents: 1, remaining_cents: 0 });
    const b = await t.c.governance.admit(t.ctx(await t.auth(free.key)), ONE_CENT_CALL);
    expect(b.month).toMatchObject({ customer_cap_cents: 150, key_cap_cents: 150 });
    await a.release();
    await b.release();
  });

  it('200 concurrent ~1¢ calls against a 10¢ cap: spend ≤ cap, one event per answered call, the rest 402', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 10, rpm_limit: 0 });
    const auth = await t.auth(key);
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, async () => {
        try {
          const adm = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
          await new Promise((r) => setTimeout(r, 5));
          await adm.settle(settleInput(3_500, 5_600)); // 0.91 ¢
          return 'ok';
        } catch (e) {
          return (e as { code: string }).code;
        }
      }),
    );
    const ok = outcomes.filter((o) => o === 'ok').length;
    expect([...new Set(outcomes.filter((o) => o !== 'ok'))]).toEqual(['CAP_REACHED']);
    expect(ok).toBeGreaterThanOrEqual(10);
    const u = await usageRows(t, customer.id);
    expect(u.spent).toBeLessThanOrEqual(100_000);
    expect(u.events).toHaveLength(ok);
    expect(u.calls).toBe(ok);
    expect(u.eventCost).toBe(u.spent);
    expect(u.reserved).toBe(0);
    expect(new Set(u.events.map((e) => e.request_id)).size).toBe(ok);
    const rec = await t.c.gov.usage.reconcile(customer.id, '2026-01');
    expect(rec.ok).toBe(true);
  });

  it.runIf(dialect === 'sqlite')('hot-path statements never join (or get rolled back with) an open Kysely transaction', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    const auth = await t.auth(key);
    await (await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL)).release(); // warm caches: the next admit needs no Kysely query
    let admitted: Promise<unknown> | undefined;
    await t.c.storage.db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable('customers').set({ plan: 'rolled-back' }).where('id', '=', customer.id).execute();
        admitted = t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('roll back');
      })
      .catch(() => undefined);
    const adm = (await admitted) as { settle: (i: unknown) => Promise<unknown> };
    expect((await usageRows(t, customer.id)).reserved).toBe(10_000);
    await adm.settle(settleInput());
    const u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: 8_000, reserved: 0, calls: 1 });
    const c = await t.c.storage.db.selectFrom('customers').select('plan').where('id', '=', customer.id).executeTakeFirstOrThrow();
    expect(c.plan).not.toBe('rolled-back');
  });

  it('soft cap mode keeps check-then-charge: no reservation, refused only once spent ≥ cap', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1, cap_mode: 'soft' });
    const auth = await t.auth(key);
    const a = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    const b = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
    await a.settle(settleInput(3_000, 5_000));
    await b.settle(settleInput(3_000, 5_000));
    const u = await usageRows(t, customer.id);
    expect(u.spent).toBe(16_000); // soft caps may overshoot by the calls in flight
    const e = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e.details).toMatchObject({ scope: 'customer', cap_mode: 'soft', spent_cents: 1.6 });
  });

  it('the sweeper releases reservations whose holder never came back', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1 });
    const auth = await t.auth(key);
    await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL); // "crashes": never settles
    expect((await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL))).status).toBe(402);
    expect(await t.c.gov.sweepExpiredReservations()).toBe(0);
    t.clock.advance(t.c.config.RESERVATION_TTL_MS + 1);
    expect(await t.c.gov.sweepExpiredReservations()).toBeGreaterThanOrEqual(1);
    const u = await usageRows(t, customer.id);
    expect(u.reserved).toBe(0);
    expect(u.reservations).toHaveLength(0);
    const adm = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    await adm.release();
    t.clock.set(Date.UTC(2026, 0, 15, 12));
  });

  it('the sweeper runs as the recurring durable job governance.sweep_reservations', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 5 });
    await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL);
    expect(t.c.jobs.kinds()).toContain('governance.sweep_reservations');
    const outcomes: string[] = [];
    const off = t.c.jobs.onOutcome((o) => o.job.kind === 'governance.sweep_reservations' && outcomes.push(o.outcome));
    t.clock.advance(t.c.config.RESERVATION_TTL_MS + 60_001);
    await t.c.jobs.runDue();
    off();
    expect(outcomes).toContain('succeeded');
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
    t.clock.set(Date.UTC(2026, 0, 15, 12));
  });

  it('a settle after the sweeper released the reservation still charges, without double-releasing', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    const adm = await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL);
    t.clock.advance(t.c.config.RESERVATION_TTL_MS + 1);
    await t.c.gov.sweepExpiredReservations();
    await adm.settle(settleInput());
    const u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: 8_000, reserved: 0, calls: 1 });
    t.clock.set(Date.UTC(2026, 0, 15, 12));
  });

  it('month rollover (UTC): spend starts from zero on the 1st; top-ups apply to their month only', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1 });
    const auth = await t.auth(key);
    await t.c.billing.topups.manual(customer.id, { amount_cents: 1, month: '2026-01' }, { actor: 'test' });
    t.clock.set(Date.UTC(2026, 0, 31, 23, 59, 59));
    const a = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    expect(a.month).toMatchObject({ month: '2026-01', cap_cents: 2 });
    await a.settle(settleInput(4_000, 6_000));
    const b = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    await b.settle(settleInput(4_000, 6_000));
    expect((await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL))).status).toBe(402);
    t.clock.set(Date.UTC(2026, 1, 1, 0, 0, 0));
    const c = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
    expect(c.month).toMatchObject({ month: '2026-02', cap_cents: 1, spent_cents: 0, key_spent_cents: 0 });
    const r = await c.settle(settleInput(4_000, 6_000));
    expect(r.month).toMatchObject({ month: '2026-02', spent_cents: 1 });
    expect((await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL))).details).toMatchObject({ scope: 'customer', cap_cents: 1 });
    expect((await usageRows(t, customer.id, '2026-01')).spent).toBe(20_000);
    expect((await usageRows(t, customer.id, '2026-02')).spent).toBe(10_000);
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-01')).ok).toBe(true);
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-02')).ok).toBe(true);
    t.clock.set(Date.UTC(2026, 0, 15, 12));
  });

  it('reconciliation: Σ usage events = the monthly aggregates to the µ$, per customer and per key', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1000 });
    const k2 = await t.createKey(customer.id);
    const auths = [await t.auth(key), await t.auth(k2.key)];
    for (let i = 0; i < 30; i++) {
      const adm = await t.c.governance.admit(t.ctx(auths[i % 2]!), ONE_CENT_CALL);
      if (i % 7 === 3) await adm.release();
      else await adm.settle(settleInput(101 + i * 13, 7 + i * 31));
    }
    const rec = await t.c.gov.usage.reconcile(customer.id, '2026-01');
    expect(rec.ok).toBe(true);
    expect(rec.keys).toHaveLength(2);
    expect(rec.customer.events_micros).toBe(rec.customer.aggregate_micros);
    expect(rec.customer.events_calls).toBe(26);
    // And it notices a drift.
    await t.c.storage.db.updateTable('monthly_usage').set({ spent_micros: rec.customer.aggregate_micros + 1 }).where('customer_id', '=', customer.id).execute();
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-01')).ok).toBe(false);
  });
});
