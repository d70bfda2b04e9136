import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { seedUsage } from './helpers.ts';

const T = (s: string) => Date.parse(s);
type Rec = {
  exists: boolean;
  version: number | null;
  snapshot: {
    month: string;
    totals: Record<string, number>;
    keys: { api_key_id: string; spent_cents: number; spent_micros: number; calls: number; revoked: boolean; input_tokens: number; output_tokens: number }[];
    topups: { amount_cents: number; source: string }[];
    push: null;
  };
};

describe.each(DIALECTS)('invoice snapshots on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(T('2026-03-03T00:00:00Z'));
  let cus: string;
  let master: { key: string; keyId: string };
  let sub: { key: string; keyId: string };
  let gone: { key: string; keyId: string };
  let later: { key: string; keyId: string };
  const path = (m = '2026-02') => `/admin/api/customers/${cus}/invoices/${m}`;

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock });
    const c = await t.createCustomer({ monthly_cap_cents: 10_000 });
    cus = c.customer.id;
    master = { key: c.key, keyId: c.keyId };
    sub = await t.createKey(cus, { label: 'ci' });
    gone = await t.createKey(cus, { label: 'revoked in february' });
    const before = await t.createKey(cus, { label: 'revoked in january' });
    later = await t.createKey(cus, { label: 'created in march' });
    await t.admin('POST', `/admin/api/keys/${before.keyId}/revoke`);
    await t.admin('POST', `/admin/api/keys/${gone.keyId}/revoke`);
    // Place the keys' lifetimes in time (the clock stays put so the admin token stays valid).
    const db = t.c.storage.db;
    await db.updateTable('api_keys').set({ created_at: T('2026-01-20T00:00:00Z') }).where('id', '!=', later.keyId).where('customer_id', '=', cus).execute();
    await db.updateTable('api_keys').set({ revoked_at: T('2026-01-25T00:00:00Z') }).where('id', '=', before.keyId).execute();
    await db.updateTable('api_keys').set({ revoked_at: T('2026-02-10T00:00:00Z') }).where('id', '=', gone.keyId).execute();
    const ev = (apiKeyId: string, at: string, costMicros: number, input = 100, output = 50) => ({ customerId: cus, apiKeyId, createdAt: T(at), costMicros, input, output });
    await seedUsage(db, [
      // Three 0.4 ¢ calls: rounding per call would give 0 ¢; the invoice rounds the 1.2 ¢ sum once.
      ev(sub.keyId, '2026-02-01T00:00:00Z', 4000),
      ev(sub.keyId, '2026-02-02T00:00:00Z', 4000),
      ev(sub.keyId, '2026-02-03T00:00:00Z', 4000),
      ev(master.keyId, '2026-02-04T00:00:00Z', 1_234_567, 9000, 1000),
      ev(gone.keyId, '2026-02-05T00:00:00Z', 55_000),
      ev(master.keyId, '2026-01-31T23:59:59.999Z', 999_999),
    ]);
    await t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 700, month: '2026-02' });
  });
  afterAll(async () => t?.close());

  it('live preview: exists=false, totals reconcile to the ledger and the aggregates, rounded once', async () => {
    const res = await t.admin('GET', path());
    expect(res.status).toBe(200);
    const r = (await res.json()) as Rec;
    expect(r.exists).toBe(false);
    const s = r.snapshot;
    const ledger = await sql<{ micros: number; i: number; o: number; n: number }>`
      select sum(cost_micros) as micros, sum(input_tokens) as i, sum(output_tokens) as o, count(*) as n
      from usage_events where customer_id = ${cus} and month = '2026-02'`.execute(t.c.storage.db);
    const L = ledger.rows[0]!;
    expect(s.totals.spent_micros).toBe(Number(L.micros));
    expect(s.totals.input_tokens).toBe(Number(L.i));
    expect(s.totals.output_tokens).toBe(Number(L.o));
    expect(s.totals.calls).toBe(Number(L.n));
    const agg = await t.c.storage.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', cus).where('month', '=', '2026-02').executeTakeFirstOrThrow();
    expect(Number(agg.spent_micros)).toBe(s.totals.spent_micros);
    expect(s.keys.reduce((a, k) => a + k.spent_micros, 0)).toBe(s.totals.spent_micros);
    expect(s.keys.reduce((a, k) => a + k.calls, 0)).toBe(s.totals.calls);
    // 1 234 567 + 12 000 + 55 000 µ$ = 130.1567 ¢ → 130 ¢, rounded once.
    expect(s.totals).toMatchObject({ spent_micros: 1_301_567, spent_cents: 130, cap_cents: 10_000, extra_cents: 700, push_total_cents: 0, grand_total_cents: 830, total_tokens: 10_600 });
    expect(s.keys.find((k) => k.api_key_id === sub.keyId)).toMatchObject({ spent_cents: 1, spent_micros: 12_000, calls: 3, revoked: false });
    expect(s.keys.find((k) => k.api_key_id === gone.keyId)).toMatchObject({ revoked: true, spent_cents: 6 });
    // Keys that did not exist during the month are not lines; keys revoked before it neither.
    expect(s.keys.map((k) => k.api_key_id).sort()).toEqual([master.keyId, sub.keyId, gone.keyId].sort());
    expect(s.keys.some((k) => k.api_key_id === later.keyId)).toBe(false);
    expect(s.keys[0]!.api_key_id).toBe(master.keyId); // by spend, descending
    expect(s.topups).toEqual([expect.objectContaining({ amount_cents: 700, source: 'manual' })]);
    expect(s.push).toBeNull();
  });

  it('a stored snapshot does not change when later events arrive; re-snapshot is explicit, versioned and audited', async () => {
    const stored = await t.admin('POST', path());
    expect(stored.status).toBe(201);
    const first = (await stored.json()) as Rec;
    expect(first).toMatchObject({ exists: true, version: 1 });

    await seedUsage(t.c.storage.db, [{ customerId: cus, apiKeyId: sub.keyId, createdAt: T('2026-02-27T00:00:00Z'), costMicros: 5_000_000 }]);
    const after = (await (await t.admin('GET', path())).json()) as Rec;
    expect(after.exists).toBe(true);
    expect(after.snapshot).toEqual(first.snapshot);
    const live = await t.c.billing.invoices.live(cus, '2026-02');
    expect(live.totals.spent_micros).toBe(first.snapshot.totals.spent_micros + 5_000_000);

    const again = await t.admin('POST', path());
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');

    const forced = (await (await t.admin('POST', `${path()}?force=true`)).json()) as Rec;
    expect(forced.version).toBe(2);
    expect(forced.snapshot.totals.spent_micros).toBe(live.totals.spent_micros);
    const viaBody = await t.admin('POST', path(), { resnapshot: true });
    expect(viaBody.status).toBe(201);
    expect(((await viaBody.json()) as Rec).version).toBe(3);

    const audit = (await (await t.admin('GET', `/admin/api/audit?customer_id=${cus}`)).json()) as { events: { action: string; target: string }[] };
    const actions = audit.events.filter((e) => e.target === 'invoice:2026-02').map((e) => e.action);
    expect(actions.sort()).toEqual(['INVOICE_RESNAPSHOT', 'INVOICE_RESNAPSHOT', 'INVOICE_SNAPSHOT']);

    const list = (await (await t.admin('GET', `/admin/api/customers/${cus}/invoices`)).json()) as { invoices: { month: string; version: number }[] };
    expect(list.invoices).toEqual([expect.objectContaining({ month: '2026-02', version: 3 })]);
  });

  it('two concurrent first snapshots: one stores, the other gets 409', async () => {
    const res = await Promise.all([t.admin('POST', path('2026-01')), t.admin('POST', path('2026-01'))]);
    expect(res.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it('errors: future month 400, bad month 400, unknown field 400, unknown customer 404, no admin 401', async () => {
    expect((await t.admin('POST', path('2026-04'))).status).toBe(400);
    expect((await t.admin('GET', path('2026-2'))).status).toBe(400);
    expect((await t.admin('POST', path('2025-12'), { resnapshot: true, extra: 1 })).status).toBe(400);
    expect(await t.c.storage.db.selectFrom('monthly_invoices').select('month').where('month', '=', '2025-12').executeTakeFirst()).toBeUndefined();
    expect((await t.admin('GET', '/admin/api/customers/cus_missing/invoices/2026-02')).status).toBe(404);
    expect((await t.admin('POST', '/admin/api/customers/cus_missing/invoices/2026-02')).status).toBe(404);
    expect((await t.req('GET', path())).status).toBe(401);
  });

  it('key holders read their invoice (stored or live); a sub-key sees only its own line', async () => {
    const mine = await t.req('GET', '/api/user-invoices?month=2026-02', { headers: { authorization: `Bearer ${sub.key}` } });
    expect(mine.status).toBe(200);
    const r = (await mine.json()) as Rec;
    expect(r).toMatchObject({ exists: true, version: 3 });
    expect(r.snapshot.keys.map((k) => k.api_key_id)).toEqual([sub.keyId]);
    expect(r.snapshot.totals.spent_micros).toBeGreaterThan(0);
    const owner = (await (await t.req('GET', '/.netlify/functions/user-invoices?month=2026-02', { headers: { authorization: `Bearer ${master.key}` } })).json()) as Rec;
    expect(owner.snapshot.keys).toHaveLength(3);
    const live = (await (await t.req('GET', '/api/user-invoices?month=2025-11', { headers: { authorization: `Bearer ${sub.key}` } })).json()) as Rec;
    expect(live).toMatchObject({ exists: false, version: null });
    expect((await t.req('GET', '/api/user-invoices?month=2026-02')).status).toBe(401);
  });
});
