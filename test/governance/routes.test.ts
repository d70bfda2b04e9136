import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, TARGET, type GovApp } from './helpers.ts';

const PREFIXES = ['/.netlify/functions', '/api'];
const settle = { target: TARGET, usage: { input_tokens: 1_000, output_tokens: 2_345 }, usageSource: 'provider' as const, status: 'ok' as const, latencyMs: 5 };

describe.each(DIALECTS)('usage, device and pricing endpoints on %s', (dialect) => {
  let t: GovApp;
  let cust: { id: string };
  let master: string;
  let sub: { key: string; keyId: string };
  let other: { key: string; keyId: string };
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

  beforeAll(async () => {
    t = await makeGovApp(dialect);
    const c = await t.createCustomer({ monthly_cap_cents: 500, plan: 'pro' });
    cust = c.customer;
    master = c.key;
    sub = await t.createKey(cust.id, { monthly_cap_cents: 50, label: 'phone app' });
    other = await t.createKey(cust.id);
    await t.c.billing.topups.manual(cust.id, { amount_cents: 25, month: '2026-01' }, { actor: 'test' });
    for (const [k, dev] of [
      [sub.key, 'dev-1'],
      [sub.key, 'dev-2'],
      [other.key, 'dev-9'],
    ] as const) {
      const a = await t.c.governance.admit(t.ctx(await t.auth(k), { installId: dev }), ONE_CENT_CALL);
      await a.settle(settle);
    }
    await (await t.c.governance.admit(t.ctx(await t.auth(master), { publicProvider: 'kaixu', publicModel: 'kaixu-chat' }), ONE_CENT_CALL)).settle(settle);
  });
  afterAll(async () => t?.close());

  it.each(PREFIXES)('user-summary (%s): the calling key’s month in exact cents', async (prefix) => {
    const res = await t.req('GET', `${prefix}/user-summary`, { headers: bearer(sub.key) });
    expect(res.status).toBe(200);
    const j = (await res.json()) as Record<string, Record<string, unknown>>;
    expect(j.customer).toMatchObject({ id: cust.id, plan_name: 'pro', monthly_cap_cents: 500, is_active: true });
    expect(j.key).toMatchObject({ id: sub.keyId, label: 'phone app', has_cap_override: true, key_cap_cents: 50 });
    expect(j.month).toMatchObject({
      month: '2026-01',
      cap_cents: 525,
      customer_cap_cents: 525,
      customer_spent_cents: 1.338,
      customer_remaining_cents: 523.6620,
      key_cap_cents: 50,
      key_spent_cents: 0.669,
      key_remaining_cents: 49.331,
      key_tokens: 6_690,
      customer_calls: 4,
      key_calls: 2,
    });
    const past = (await (await t.req('GET', `${prefix}/user-summary?month=2025-12`, { headers: bearer(sub.key) })).json()) as { month: Record<string, unknown> };
    expect(past.month).toMatchObject({ month: '2025-12', cap_cents: 500, spent_cents: 0 });
  });

  it('user-summary: bad month → 400 (seed flat body); no key → 401; disabled customer → 403', async () => {
    const bad = await t.req('GET', '/api/user-summary?month=2026-13', { headers: bearer(sub.key) });
    expect(bad.status).toBe(400);
    expect(typeof ((await bad.json()) as { error: unknown }).error).toBe('string');
    expect((await t.req('GET', '/api/user-summary')).status).toBe(401);
    const d = await t.createCustomer({});
    await t.admin('POST', `/admin/api/customers/${d.customer.id}/deactivate`);
    const res = await t.req('GET', '/api/user-summary', { headers: bearer(d.key) });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'Customer disabled' });
  });

  it.each(PREFIXES)('user-events (%s): only the calling key’s events, with summary_by_provider', async (prefix) => {
    const res = await t.req('GET', `${prefix}/user-events?limit=1`, { headers: bearer(sub.key) });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { key: { id: string }; events: { api_key_id: string; cost_cents: number; install_id: string }[]; summary_by_provider: unknown[]; next_before_id: number | null };
    expect(j.key.id).toBe(sub.keyId);
    expect(j.events).toHaveLength(1);
    expect(j.events[0]).toMatchObject({ api_key_id: sub.keyId, cost_cents: 0.3345, install_id: 'dev-2', usage_source: 'provider' });
    expect(j.summary_by_provider).toEqual([{ provider: 'testco', calls: 2, cost_cents: 0.669, input_tokens: 2_000, output_tokens: 4_690 }]);
    const next = (await (await t.req('GET', `${prefix}/user-events?limit=1&before_id=${j.next_before_id}`, { headers: bearer(sub.key) })).json()) as typeof j;
    expect(next.events[0]).toMatchObject({ install_id: 'dev-1' });
    expect(next.next_before_id).toBeNull();
    const bad = await t.req('GET', `${prefix}/user-events?limit=501`, { headers: bearer(sub.key) });
    expect(bad.status).toBe(400);
  });

  it('user-devices: list own devices; PATCH revokes only own devices (audited, actor user)', async () => {
    const list = (await (await t.req('GET', '/api/user-devices', { headers: bearer(sub.key) })).json()) as { api_key_id: string; devices: { install_id: string }[] };
    expect(list.api_key_id).toBe(sub.keyId);
    expect(list.devices.map((d) => d.install_id).sort()).toEqual(['dev-1', 'dev-2']);
    const foreign = await t.req('PATCH', '/.netlify/functions/user-devices', { headers: bearer(sub.key), body: { install_id: 'dev-9', revoked: true } });
    expect(foreign.status).toBe(404);
    const extra = await t.req('PATCH', '/api/user-devices', { headers: bearer(sub.key), body: { install_id: 'dev-1', revoked: true, nope: 1 } });
    expect(extra.status).toBe(400);
    const ok = await t.req('PATCH', '/api/user-devices', { headers: bearer(sub.key), body: { install_id: 'dev-1', revoked: true } });
    expect(ok.status).toBe(200);
    const j = (await ok.json()) as { ok: boolean; devices: { install_id: string; revoked_at: string | null; revoked_by: string | null }[] };
    expect(j.devices.find((d) => d.install_id === 'dev-1')).toMatchObject({ revoked_by: `user:key${sub.key.slice(-4)}` });
    const audit = await t.c.audit.list({ action: 'DEVICE_REVOKE', limit: 5 });
    expect(audit.events[0]).toMatchObject({ actor: 'user', target: `key:${sub.keyId}` });
    const e = (await (await t.req('PATCH', '/api/user-devices', { headers: bearer(sub.key), body: { install_id: 'dev-1', revoked: false } })).json()) as { ok: boolean };
    expect(e.ok).toBe(true);
  });

  it('admin usage: rollup, per key (by spend), events paginated; 404 unknown customer; 401 without admin', async () => {
    const res = await t.admin('GET', `/admin/api/customers/${cust.id}/usage?month=2026-01&limit=2`);
    expect(res.status).toBe(200);
    const j = (await res.json()) as {
      cap_cents: number;
      rollup: Record<string, unknown>;
      per_key: { id: string; spent_cents: number; calls: number }[];
      events: unknown[];
      next_before_id: number;
    };
    expect(j.cap_cents).toBe(525);
    expect(j.rollup).toMatchObject({ spent_cents: 1.338, spent_micros: 13_380, extra_cents: 25, calls: 4, reserved_cents: 0 });
    expect(j.per_key[0]).toMatchObject({ id: sub.keyId, spent_cents: 0.669, calls: 2 });
    expect(j.per_key).toHaveLength(3);
    expect(j.events).toHaveLength(2);
    const p2 = (await (await t.admin('GET', `/admin/api/customers/${cust.id}/usage?limit=2&before_id=${j.next_before_id}`)).json()) as typeof j;
    expect(p2.events).toHaveLength(2);
    const byKey = (await (await t.admin('GET', `/admin/api/customers/${cust.id}/usage?api_key_id=${other.keyId}`)).json()) as typeof j;
    expect(byKey.events).toHaveLength(1);
    expect((await t.admin('GET', '/admin/api/customers/cus_nope/usage')).status).toBe(404);
    expect((await t.req('GET', `/admin/api/customers/${cust.id}/usage`)).status).toBe(401);
  });

  it('admin devices: list, revoke and restore (audited); a key of another customer → 404', async () => {
    const list = (await (await t.admin('GET', `/admin/api/customers/${cust.id}/devices`)).json()) as { devices: { install_id: string; key_last4: string }[] };
    expect(list.devices).toHaveLength(3);
    const r = await t.admin('PATCH', `/admin/api/customers/${cust.id}/devices`, { api_key_id: other.keyId, install_id: 'dev-9', revoked: true });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { device: { revoked_by: string } }).device.revoked_by).toBe('admin:admin');
    const blocked = await t.c.governance.admit(t.ctx(await t.auth(other.key), { installId: 'dev-9' }), ONE_CENT_CALL).catch((e: { code: string }) => e.code);
    expect(blocked).toBe('DEVICE_REVOKED');
    expect((await t.admin('PATCH', `/admin/api/customers/${cust.id}/devices`, { api_key_id: other.keyId, install_id: 'dev-9', revoked: false })).status).toBe(200);
    const a = await t.c.governance.admit(t.ctx(await t.auth(other.key), { installId: 'dev-9' }), ONE_CENT_CALL);
    await a.release();
    const stranger = await t.createCustomer({});
    expect((await t.admin('PATCH', `/admin/api/customers/${stranger.customer.id}/devices`, { api_key_id: other.keyId, install_id: 'dev-9', revoked: true })).status).toBe(404);
    expect((await t.c.audit.list({ action: 'DEVICE_UNREVOKE', limit: 1 })).events[0]).toMatchObject({ actor: 'admin' });
  });

  it('admin pricing: list seeded prices, upsert (markup in % or bp), delete → 409 UNPRICED on the next call', async () => {
    const list = (await (await t.admin('GET', '/admin/api/pricing?provider=openai')).json()) as { prices: { model: string; input_usd_per_m: string }[] };
    expect(list.prices.find((p) => p.model === 'gpt-4o-mini')).toMatchObject({ input_usd_per_m: '0.15' });
    const all = (await (await t.admin('GET', '/admin/api/pricing')).json()) as { prices: { provider: string; model: string }[] };
    for (const m of ['openai:gpt-4.1-nano', 'openai:text-embedding-3-large', 'anthropic:claude-sonnet-4-5', 'anthropic:claude-3-5-haiku-latest', 'gemini:gemini-2.0-flash', 'gemini:gemini-embedding-001']) {
      expect(all.prices.some((p) => `${p.provider}:${p.model}` === m)).toBe(true);
    }
    const put = await t.admin('PUT', '/admin/api/pricing', { provider: 'groq', model: 'llama-3.1-8b', input_micros_per_m: 50_000, output_micros_per_m: 80_000, markup_pct: 31 });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ created: true, price: { markup_bp: 3100, input_usd_per_m: '0.05', updated_by: 'admin' } });
    expect((await t.admin('PUT', '/admin/api/pricing', { provider: 'groq', model: 'x', input_micros_per_m: 1, output_micros_per_m: 1, markup_pct: 1, markup_bp: 100 })).status).toBe(400);
    expect((await t.admin('PUT', '/admin/api/pricing', { provider: 'groq', model: 'x', input_micros_per_m: 1.5, output_micros_per_m: 1 })).status).toBe(400);
    expect((await t.admin('PUT', '/admin/api/pricing', { provider: 'groq', model: 'x', input_micros_per_m: 1, output_micros_per_m: 1, extra: true })).status).toBe(400);
    const upd = await t.admin('PUT', '/admin/api/pricing', { provider: 'testco', model: 'tok-1', input_micros_per_m: 2_000_000, output_micros_per_m: 1_000_000 });
    expect(await upd.json()).toMatchObject({ created: false });
    const a = await t.c.governance.admit(t.ctx(await t.auth(master)), ONE_CENT_CALL);
    expect((await a.settle({ ...settle, usage: { input_tokens: 10, output_tokens: 0 } })).cost_micros).toBe(20);
    expect((await t.admin('DELETE', '/admin/api/pricing?provider=testco&model=tok-1')).status).toBe(200);
    expect((await t.admin('DELETE', '/admin/api/pricing?provider=testco&model=tok-1')).status).toBe(404);
    const e = await t.c.governance.admit(t.ctx(await t.auth(master)), ONE_CENT_CALL).catch((x: { status: number }) => x.status);
    expect(e).toBe(409);
    expect((await t.c.audit.list({ action: 'PRICING_DELETE', limit: 1 })).events).toHaveLength(1);
    expect((await t.req('GET', '/admin/api/pricing')).status).toBe(401);
    await t.c.gov.pricing.upsert({ provider: 'testco', model: 'tok-1', input_micros_per_m: 1_000_000, output_micros_per_m: 1_000_000, markup_bp: 0 }, { actor: 'test' });
  });
});
