import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatApp, liveServer, startFakes, totalRequests, userMsg, type Fakes, type LiveServer } from '../chat/harness.ts';
import { postStream } from '../chat/http-client.ts';
import { DIALECTS } from '../helpers/db.ts';
import type { TestApp } from '../helpers/app.ts';
import { reservedMicros } from './helpers.ts';

const body = (model = 'gpt-4o-mini', provider = 'openai') => ({ provider, model, messages: userMsg('hello governed world'), max_tokens: 200 });

describe.each(DIALECTS)('governance through the chat endpoints on %s', (dialect) => {
  let f: Fakes;
  let t: TestApp & { key: string; customerId: string };
  const bearer = (k: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${k}`, ...extra });
  const reserved = (customerId: string) => reservedMicros(t, customerId, new Date(t.c.clock.now()).toISOString().slice(0, 7));
  const events = (customerId: string) => t.c.storage.db.selectFrom('usage_events').selectAll().where('customer_id', '=', customerId).execute();

  beforeAll(async () => {
    f = await startFakes();
    t = await chatApp(dialect, f);
  });
  afterAll(async () => {
    await t?.close();
    await f?.close();
  });
  beforeEach(() => f.reset());

  it('an answered call is priced from the provider usage, recorded once, and reports the post-call month', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    const res = await t.req('POST', '/api/gateway-chat', { body: body(), headers: bearer(key, { 'x-kaixu-app': 'tests', 'x-kaixu-install-id': 'i-1' }) });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { usage: { input_tokens: number; output_tokens: number; cost_cents: number }; month: Record<string, number> };
    const evs = await events(customer.id);
    expect(evs).toHaveLength(1);
    // gpt-4o-mini: $0.15 / $0.60 per 1M → 0.15 µ$ and 0.6 µ$ per token, rounded up once per call.
    const micros = Math.ceil((j.usage.input_tokens * 150_000 + j.usage.output_tokens * 600_000) / 1_000_000);
    expect(Number(evs[0]!.cost_micros)).toBe(micros);
    expect(j.usage.cost_cents).toBe(micros / 10_000);
    expect(j.month).toMatchObject({ cap_cents: 100, spent_cents: micros / 10_000, key_spent_cents: micros / 10_000 });
    expect(evs[0]).toMatchObject({ provider: 'openai', upstream_model: 'gpt-4o-mini', app: 'tests', install_id: 'i-1', usage_source: 'provider', status: 'ok' });
    expect(await reserved(customer.id)).toBe(0);
    expect((await t.c.metrics.render()).body).toMatch(/kaixu_cost_micros_total\{provider="openai",model="gpt-4o-mini"\} \d+/);
  });

  it('RPM 5: the sixth call within the minute → 429 with Retry-After, never sent upstream', async () => {
    const { customer } = await t.createCustomer({ monthly_cap_cents: 100 });
    const k = await t.createKey(customer.id, { rpm_limit: 5 });
    const statuses: number[] = [];
    const remaining: (string | null)[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) {
      last = await t.req('POST', '/.netlify/functions/gateway-chat', { body: body(), headers: bearer(k.key) });
      statuses.push(last.status);
      remaining.push(last.headers.get('ratelimit-remaining'));
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // RateLimit-* on every answer, not only on the refusal.
    expect(remaining).toEqual(['4', '3', '2', '1', '0', '0']);
    expect(last!.headers.get('ratelimit-limit')).toBe('5');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(last!.headers.get('ratelimit-remaining')).toBe('0');
    expect(await last!.json()).toMatchObject({ error: 'Rate limit exceeded', ratelimit: { limit: 5, remaining: 0 } });
    expect(f.openai.requests).toHaveLength(5);
    const v1 = await t.req('POST', '/v1/chat/completions', { body: { model: 'gpt-4o-mini', messages: userMsg() }, headers: bearer(k.key) });
    expect(v1.status).toBe(429);
    expect(v1.headers.get('retry-after')).toBeTruthy();
    expect(((await v1.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });

  it('seats, allowlists, revoked device, disabled customer, unpriced model, cap: refused, nothing charged, nothing upstream', async () => {
    const seat = await t.createCustomer({ max_devices_per_key: 1 });
    const call = (k: string, h: Record<string, string> = {}, b = body()) => t.req('POST', '/api/gateway-chat', { body: b, headers: bearer(k, h) });
    const expectRefused = async (res: Response, status: number, error: string) => {
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ error });
    };
    await expectRefused(await call(seat.key), 400, 'Missing x-kaixu-install-id (required for this key)');
    expect((await call(seat.key, { 'x-kaixu-install-id': 'a' })).status).toBe(200);
    const before = totalRequests(f);
    await expectRefused(await call(seat.key, { 'x-kaixu-install-id': 'b' }), 403, 'Device limit reached (1/1). Revoke an old device or raise seats.');
    await t.admin('PATCH', `/admin/api/customers/${seat.customer.id}/devices`, { api_key_id: seat.keyId, install_id: 'a', revoked: true });
    await expectRefused(await call(seat.key, { 'x-kaixu-install-id': 'a' }), 403, 'Device revoked for this key');

    const allow = await t.createCustomer({ allowed_providers: ['anthropic'] });
    await expectRefused(await call(allow.key), 403, 'Provider not allowed for this key (openai)');
    const models = await t.createCustomer({ allowed_models: { openai: ['gpt-4.1'] } });
    await expectRefused(await call(models.key), 403, 'Model not allowed for this key (openai:gpt-4o-mini)');

    const off = await t.createCustomer({});
    await t.admin('POST', `/admin/api/customers/${off.customer.id}/deactivate`);
    await expectRefused(await call(off.key), 403, 'Customer disabled');

    const unpriced = await t.createCustomer({});
    const u = await call(unpriced.key, {}, body('gpt-unpriced-9'));
    expect(u.status).toBe(409);
    expect(await u.json()).toMatchObject({ error: 'Unpriced model: openai:gpt-unpriced-9', code: 'UNPRICED_MODEL', hint: expect.any(String) });

    const broke = await t.createCustomer({ monthly_cap_cents: 0 });
    const cap = await call(broke.key);
    expect(cap.status).toBe(402);
    expect(await cap.json()).toMatchObject({ error: 'Monthly cap reached', scope: 'customer', cap_cents: 0, spent_cents: 0, remaining_cents: 0, month: { cap_cents: 0 } });

    expect(totalRequests(f)).toBe(before);
    for (const c of [seat, allow, models, off, unpriced, broke]) expect(await reserved(c.customer.id)).toBe(0);
    expect(await events(seat.customer.id)).toHaveLength(1);
    for (const c of [allow, models, off, unpriced, broke]) expect(await events(c.customer.id)).toHaveLength(0);
  });

  it('a failed upstream call costs nothing and releases its reservation', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    f.openai.enqueue({ kind: 'error', status: 400, message: 'bad request' });
    const res = await t.req('POST', '/api/gateway-chat', { body: body(), headers: bearer(key) });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await events(customer.id)).toHaveLength(0);
    expect(await reserved(customer.id)).toBe(0);
  });
});

describe.each(DIALECTS)('stream billing over real sockets on %s', (dialect) => {
  let f: Fakes;
  let s: LiveServer;
  beforeAll(async () => {
    f = await startFakes();
    s = await liveServer(dialect, f);
  });
  afterAll(async () => {
    await s?.close();
    await f?.close();
  });

  it('a stream cut by the client mid-way: one usage event with the generated tokens, the reservation released', async () => {
    const db = s.srv.container.storage.db;
    f.openai.setDefault({ kind: 'ok', chunks: 80, chunkDelayMs: 30 });
    const st = await postStream(s.url, '/api/gateway-stream', body(), { authorization: `Bearer ${s.key}` });
    const requestId = st.res.headers['x-kaixu-request-id'] as string;
    const frames = await st.until((fr) => fr.filter((x) => x.event === 'delta').length >= 4);
    const meta = JSON.parse(frames[0]!.data) as { month: { month: string } };
    expect(meta.month.month).toMatch(/^\d{4}-\d{2}$/);
    const caps = s.srv.container.gov.caps;
    const held = await caps.reservations({ requestId });
    expect(held).toHaveLength(1);
    st.destroy();
    await expect
      .poll(async () => db.selectFrom('usage_events').selectAll().where('request_id', '=', requestId).execute(), { timeout: 5_000 })
      .toHaveLength(1);
    const [ev] = await db.selectFrom('usage_events').selectAll().where('request_id', '=', requestId).execute();
    // Usage had not arrived (OpenAI sends it last): the generated text is estimated, and flagged so.
    expect(ev).toMatchObject({ status: 'client_disconnect', usage_source: 'estimated' });
    expect(Number(ev!.output_tokens)).toBeGreaterThan(0);
    expect(Number(ev!.output_tokens)).toBeLessThan(80);
    expect(Number(ev!.cost_micros)).toBeGreaterThan(0);
    expect(await caps.reservations({ requestId })).toHaveLength(0);
    const cu = await db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', ev!.customer_id).executeTakeFirstOrThrow();
    expect(Number(cu.reserved_micros) + (caps.memoryHolds?.customer(cu.customer_id, cu.month) ?? 0)).toBe(0);
    expect(Number(cu.spent_micros)).toBe(Number(ev!.cost_micros));
  });
});
