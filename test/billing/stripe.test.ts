import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthOf } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe.ts';

const WHSEC = 'whsec_test_0123456789abcdefghijklmnopqrstuv';
type Json = Record<string, unknown>;

describe.each(DIALECTS)('Stripe top-ups on %s', (dialect) => {
  let fake: FakeStripe;
  let t: TestApp;
  let bare: TestApp;
  let cus: string;
  let key: string;
  let month: string;

  const extra = async (m = month) =>
    Number((await t.c.storage.db.selectFrom('monthly_usage').select('extra_cents').where('customer_id', '=', cus).where('month', '=', m).executeTakeFirst())?.extra_cents ?? 0);
  const stripeTopups = () => t.c.storage.db.selectFrom('topup_events').selectAll().where('customer_id', '=', cus).where('source', '=', 'stripe').execute();

  /** Deliver an event the way Stripe does: raw JSON body, signed with the SDK's own test helper. */
  const deliver = (event: Json | string, opts: { secret?: string; timestamp?: number; header?: string | null; app?: TestApp; path?: string } = {}) => {
    const payload = typeof event === 'string' ? event : JSON.stringify(event);
    const header =
      opts.header === null
        ? undefined
        : (opts.header ?? Stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? WHSEC, timestamp: opts.timestamp ?? Math.floor(t.clock.now() / 1000) }));
    return (opts.app ?? t).req('POST', opts.path ?? '/.netlify/functions/stripe-webhook', {
      raw: payload,
      headers: { 'content-type': 'application/json', ...(header ? { 'stripe-signature': header } : {}) },
    });
  };
  const checkout = async (amount_cents: number, m?: string) => {
    const res = await t.admin('POST', `/admin/api/customers/${cus}/topups/checkout`, { amount_cents, ...(m ? { month: m } : {}) });
    expect(res.status).toBe(200);
    return (await res.json()) as { ok: boolean; url: string; id: string; month: string };
  };

  beforeAll(async () => {
    fake = await startFakeStripe();
    t = await makeTestApp(dialect, {
      env: {
        STRIPE_SECRET_KEY: fake.secretKey,
        STRIPE_WEBHOOK_SECRET: WHSEC,
        STRIPE_API_HOST: fake.host,
        STRIPE_API_PORT: String(fake.port),
        STRIPE_API_PROTOCOL: 'http',
        PUBLIC_BASE_URL: 'https://gw.example.com',
      },
    });
    bare = await makeTestApp(dialect);
    const c = await t.createCustomer();
    cus = c.customer.id;
    key = c.key;
    month = monthOf(t.clock.now());
  });
  afterAll(async () => {
    await t?.close();
    await bare?.close();
    await fake?.close();
  });

  it('without Stripe configured: checkouts and the webhook answer 501 with a clear message', async () => {
    const c = await bare.createCustomer();
    const admin = await bare.admin('POST', `/admin/api/customers/${c.customer.id}/topups/checkout`, { amount_cents: 1000 });
    expect(admin.status).toBe(501);
    expect(((await admin.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'NOT_CONFIGURED', message: expect.stringContaining('STRIPE_SECRET_KEY') });
    const user = await bare.req('POST', '/api/user-topup-checkout', { body: { amount_cents: 1000 }, headers: { authorization: `Bearer ${c.key}` } });
    expect(user.status).toBe(501);
    expect((await user.json()) as Json).toMatchObject({ code: 'NOT_CONFIGURED', error: expect.stringContaining('Stripe is not configured') });
    const hook = await deliver({ id: 'evt_x', type: 'checkout.session.completed' }, { app: bare });
    expect(hook.status).toBe(501);
    expect((await hook.json()) as Json).toMatchObject({ error: expect.stringContaining('STRIPE_WEBHOOK_SECRET') });
  });

  it('admin checkout: the real SDK posts a form-encoded payment session to the fake, metadata carries customer/month/amount', async () => {
    const s = await checkout(2500);
    expect(s).toMatchObject({ ok: true, month, url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/), id: expect.stringMatching(/^cs_test_/) });
    const req = fake.requests.at(-1)!;
    expect(req.path).toBe('/v1/checkout/sessions');
    expect(req.headers['idempotency-key']).toBeTruthy();
    expect(req.headers['stripe-version']).toBeTruthy();
    expect(req.form).toMatchObject({
      mode: 'payment',
      line_items: [{ quantity: '1', price_data: { currency: 'usd', unit_amount: '2500', product_data: { name: `Kaixu Usage Top-up (${month})` } } }],
      metadata: { customer_id: cus, month, amount_cents: '2500' },
      client_reference_id: cus,
      success_url: 'https://gw.example.com/admin?billing=success&session_id={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://gw.example.com/admin?billing=cancel',
    });
  });

  it('key-holder checkout: 100..500000 ¢, own customer, customer_email, dashboard return URLs', async () => {
    for (const amount_cents of [99, 500_001]) {
      expect((await t.req('POST', '/api/user-topup-checkout', { body: { amount_cents }, headers: { authorization: `Bearer ${key}` } })).status).toBe(400);
    }
    expect((await t.req('POST', '/api/user-topup-checkout', { body: { amount_cents: 500, customer_id: 'cus_other' }, headers: { authorization: `Bearer ${key}` } })).status).toBe(400);
    expect((await t.req('POST', '/api/user-topup-checkout', { body: { amount_cents: 500, month: '2020-01' }, headers: { authorization: `Bearer ${key}` } })).status).toBe(400);
    expect((await t.req('POST', '/api/user-topup-checkout', { body: { amount_cents: 500 } })).status).toBe(401);
    const res = await t.req('POST', '/.netlify/functions/user-topup-checkout', { body: { amount_cents: 100 }, headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect((await res.json()) as Json).toMatchObject({ ok: true, url: expect.any(String) });
    const form = fake.requests.at(-1)!.form;
    expect(form).toMatchObject({ metadata: { customer_id: cus, amount_cents: '100' }, customer_email: expect.stringContaining('@example.com'), success_url: expect.stringContaining('/dashboard?billing=success') });
  });

  it('Stripe errors map to our envelope: invalid request → 400, bad API key → 502', async () => {
    fake.failNext(400, { type: 'invalid_request_error', code: 'parameter_invalid_integer', param: 'line_items[0][price_data][unit_amount]', message: 'Invalid integer: abc' });
    const bad = await t.admin('POST', `/admin/api/customers/${cus}/topups/checkout`, { amount_cents: 1000 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: Json }).error).toMatchObject({ message: 'Stripe rejected the checkout: Invalid integer: abc', provider: 'stripe', upstream_status: 400 });
    const small = await t.admin('POST', `/admin/api/customers/${cus}/topups/checkout`, { amount_cents: 10 });
    expect(small.status).toBe(400);
    const wrong = await makeTestApp(dialect, { env: { STRIPE_SECRET_KEY: 'sk_test_wrong', STRIPE_API_HOST: fake.host, STRIPE_API_PORT: String(fake.port), STRIPE_API_PROTOCOL: 'http', PUBLIC_BASE_URL: 'https://gw.example.com' } });
    try {
      const c = await wrong.createCustomer();
      const r = await wrong.admin('POST', `/admin/api/customers/${c.customer.id}/topups/checkout`, { amount_cents: 1000 });
      expect(r.status).toBe(502);
      const body = JSON.stringify(await r.json());
      expect(body).toContain('STRIPE_SECRET_KEY');
      expect(body).not.toContain('sk_test_wrong');
    } finally {
      await wrong.close();
    }
  });

  it('webhook: missing or bad signature → 400, nothing credited', async () => {
    const s = await checkout(1000);
    const ev = fake.event(s.id);
    const before = await extra();
    expect((await deliver(ev, { header: null })).status).toBe(400);
    expect((await deliver(ev, { secret: 'whsec_someone_else' })).status).toBe(400);
    const signed = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(ev), secret: WHSEC, timestamp: Math.floor(t.clock.now() / 1000) });
    const tampered = await deliver(JSON.stringify({ ...ev, data: { object: { ...(ev.data as { object: Json }).object, metadata: { customer_id: cus, month, amount_cents: '999999' } } } }), { header: signed });
    expect(tampered.status).toBe(400);
    expect((await deliver(ev, { timestamp: Math.floor(t.clock.now() / 1000) - 3600 })).status).toBe(400);
    const res = await deliver(ev, { header: 't=1,v1=deadbeef' });
    expect(res.status).toBe(400);
    expect((await res.json()) as Json).toMatchObject({ error: expect.stringContaining('Stripe-Signature') });
    expect(await extra()).toBe(before);
  });

  it('webhook: a paid checkout.session.completed credits once; a replay is a no-op', async () => {
    const s = await checkout(1200);
    const ev = fake.event(s.id);
    const before = await extra();
    const res = await deliver(ev);
    expect(res.status).toBe(200);
    expect((await res.json()) as Json).toMatchObject({ ok: true, received: true, outcome: 'credited', event_id: ev.id });
    expect(await extra()).toBe(before + 1200);
    for (let i = 0; i < 3; i++) {
      const replay = await deliver(ev, { path: '/api/stripe-webhook' });
      expect(replay.status).toBe(200);
      expect(((await replay.json()) as Json).outcome).toBe('duplicate_event');
    }
    expect(await extra()).toBe(before + 1200);
    expect((await stripeTopups()).filter((r) => r.stripe_session_id === s.id)).toHaveLength(1);
    const audit = (await (await t.admin('GET', `/admin/api/audit?customer_id=${cus}&action=TOPUP_STRIPE`)).json()) as { events: Json[] };
    expect(audit.events.filter((e) => String(e.summary).includes('amount_cents=1200'))).toHaveLength(1);
  });

  it('webhook: concurrent deliveries of one event credit once; two events for one session credit once', async () => {
    const s = await checkout(3000);
    const ev = fake.event(s.id);
    const before = await extra();
    const res = await Promise.all(Array.from({ length: 6 }, () => deliver(ev)));
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const outcomes = await Promise.all(res.map(async (r) => ((await r.json()) as Json).outcome));
    expect(outcomes.filter((o) => o === 'credited')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate_event')).toHaveLength(5);
    expect(await extra()).toBe(before + 3000);

    const s2 = await checkout(400);
    const a = fake.event(s2.id);
    const b = fake.event(s2.id, { type: 'checkout.session.async_payment_succeeded' });
    const pair = await Promise.all([deliver(a), deliver(b)]);
    const o2 = await Promise.all(pair.map(async (r) => ((await r.json()) as Json).outcome));
    expect(o2.sort()).toEqual(['credited', 'duplicate_session']);
    expect(await extra()).toBe(before + 3400);
  });

  it('webhook: unpaid completion waits for async_payment_succeeded; unknown types and bad metadata are 200 and credit nothing', async () => {
    const s = await checkout(800);
    const before = await extra();
    const unpaid = await deliver(fake.event(s.id, { paymentStatus: 'unpaid' }));
    expect(((await unpaid.json()) as Json).outcome).toBe('awaiting_payment');
    expect(await extra()).toBe(before);
    const later = await deliver(fake.event(s.id, { type: 'checkout.session.async_payment_succeeded' }));
    expect(((await later.json()) as Json).outcome).toBe('credited');
    expect(await extra()).toBe(before + 800);

    const unknown = await deliver({ id: 'evt_unknown_1', object: 'event', type: 'customer.subscription.updated', data: { object: { id: 'sub_1' } } });
    expect(unknown.status).toBe(200);
    expect(((await unknown.json()) as Json).outcome).toBe('ignored');

    const s3 = await checkout(900);
    const mismatch = await deliver(fake.event(s3.id, { amountTotal: 1 }));
    expect(((await mismatch.json()) as Json).outcome).toBe('amount_mismatch');
    const noMeta = fake.event(s3.id, { id: 'evt_nometa' });
    ((noMeta.data as { object: Json }).object as Json).metadata = { customer_id: cus, month: 'soon', amount_cents: '900' };
    expect(((await (await deliver(noMeta)).json()) as Json).outcome).toBe('invalid_metadata');
    expect(await extra()).toBe(before + 800);
    const rows = await t.c.storage.db.selectFrom('stripe_events').select(['event_id', 'outcome']).where('event_id', 'in', ['evt_unknown_1', 'evt_nometa']).execute();
    expect(Object.fromEntries(rows.map((r) => [r.event_id, r.outcome]))).toEqual({ evt_unknown_1: 'ignored', evt_nometa: 'invalid_metadata' });
  });

  it('credits land in the invoice snapshot’s top-ups', async () => {
    const inv = (await (await t.admin('GET', `/admin/api/customers/${cus}/invoices/${month}`)).json()) as { snapshot: { totals: { extra_cents: number }; topups: { source: string; amount_cents: number }[] } };
    const stripeSum = inv.snapshot.topups.filter((x) => x.source === 'stripe').reduce((a, x) => a + x.amount_cents, 0);
    expect(stripeSum).toBe(1200 + 3000 + 400 + 800);
    expect(inv.snapshot.totals.extra_cents).toBe(await extra());
  });
});
