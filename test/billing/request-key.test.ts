import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

type Json = Record<string, unknown>;
interface Issued {
  ok: boolean;
  key: string;
  key_last4: string;
  customer_id: string;
  plan: string;
  limits: Json;
  endpoints: Record<string, string>;
  usage: string;
  message: string;
}

let n = 0;
const email = (tag: string) => `${tag}-${++n}-${Date.now()}@example.com`;

describe.each(DIALECTS)('self-service request-key on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(Date.UTC(2026, 4, 5, 10, 30));
  let ipSeq = 0;
  const ask = (body: unknown, ip = `10.1.${++ipSeq >> 8}.${ipSeq & 255}`, path = '/.netlify/functions/request-key') =>
    t.req('POST', path, { body, headers: { 'x-forwarded-for': ip } });
  const whoami = (key: string) => t.req('GET', '/api/push-whoami', { headers: { authorization: `Bearer ${key}` } });

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock, env: { REQUEST_KEY_PER_IP_PER_HOUR: '3', PUBLIC_BASE_URL: 'https://gw.example.com' } });
  });
  afterAll(async () => t?.close());

  it('creates the customer with DEFAULT_SELFSERVE_* defaults and returns the key once, in the seed shape', async () => {
    const addr = email('new');
    const res = await ask({ email: `  ${addr.toUpperCase()} ` });
    expect(res.status).toBe(200);
    const j = (await res.json()) as Issued;
    expect(j).toMatchObject({
      ok: true,
      key: expect.stringMatching(/^kx_live_[A-Za-z0-9_-]{48}$/),
      plan: 'starter',
      limits: { monthly_cap_cents: 2000, monthly_cap_dollars: '$20.00', requests_per_minute: 10, max_devices: 3 },
      endpoints: {
        chat: 'https://gw.example.com/.netlify/functions/gateway-chat',
        stream: 'https://gw.example.com/.netlify/functions/gateway-stream',
        health: 'https://gw.example.com/.netlify/functions/health',
        openai_base_url: 'https://gw.example.com/v1',
      },
      usage: 'Set header: Authorization: Bearer <your-key>',
    });
    expect(j.key_last4).toBe(j.key.slice(-4));
    const cust = await t.c.customers.get(j.customer_id);
    expect(cust).toMatchObject({ email: addr, plan: 'starter', monthly_cap_cents: 2000, is_active: true });
    const keys = await t.c.storage.db.selectFrom('api_keys').selectAll().where('customer_id', '=', j.customer_id).execute();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kind: 'self-service', label: 'self-service', role: 'deployer', rpm_limit: 10, max_devices: 3, monthly_cap_cents: null });
    expect(JSON.stringify(keys)).not.toContain(j.key);
    expect((await whoami(j.key)).status).toBe(200);
    const audit = (await (await t.admin('GET', `/admin/api/audit?customer_id=${j.customer_id}`)).json()) as { events: { actor: string; action: string }[] };
    expect(audit.events.map((e) => `${e.actor}:${e.action}`).sort()).toEqual(['self-service:CUSTOMER_CREATE', 'self-service:KEY_CREATE']);
  });

  it('a second request revokes the previous self-service key (next request refused), but not other keys', async () => {
    const addr = email('again');
    const first = (await (await ask({ email: addr })).json()) as Issued;
    const sub = await t.createKey(first.customer_id, { label: 'admin-issued' });
    const second = (await (await ask({ email: addr }, undefined, '/api/request-key')).json()) as Issued;
    expect(second.customer_id).toBe(first.customer_id);
    expect(second.key).not.toBe(first.key);
    expect(second.message).toContain('previous self-service key was revoked');
    expect((await whoami(first.key)).status).toBe(401);
    expect((await whoami(second.key)).status).toBe(200);
    expect((await whoami(sub.key)).status).toBe(200);
    const audit = (await (await t.admin('GET', `/admin/api/audit?customer_id=${first.customer_id}&action=KEY_REVOKE_ROTATION`)).json()) as { events: { actor: string }[] };
    expect(audit.events).toEqual([expect.objectContaining({ actor: 'self-service' })]);
  });

  it('an existing admin-created customer keeps its plan and cap; the key inherits them', async () => {
    const { customer, key } = await t.createCustomer({ email: email('existing'), plan: 'pro', monthly_cap_cents: 90_000 });
    const j = (await (await ask({ email: customer.email })).json()) as Issued;
    expect(j).toMatchObject({ customer_id: customer.id, plan: 'pro', limits: { monthly_cap_cents: 90_000, monthly_cap_dollars: '$900.00' } });
    expect((await whoami(key)).status).toBe(200); // the master key is not a self-service key
  });

  it('invalid or missing email → 400 with the seed message; unknown fields → 400; nothing created', async () => {
    for (const body of [{ email: 'not-an-email' }, { email: 'a@b' }, { email: '' }, {}]) {
      const res = await ask(body);
      expect(res.status).toBe(400);
      expect((await res.json()) as Json).toMatchObject({ error: 'A valid email address is required.' });
    }
    expect((await ask({ email: email('x'), plan: 'enterprise' })).status).toBe(400);
    const res = await t.req('POST', '/api/request-key', { raw: '{"email":', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
  });

  it('abuse guard: 5 per email per hour → 429 with Retry-After; a new hour resets it', async () => {
    const addr = email('limit');
    for (let i = 0; i < 5; i++) expect((await ask({ email: addr })).status).toBe(200);
    const res = await ask({ email: addr });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await res.json()) as Json).toMatchObject({ error: 'Too many key requests. Please wait an hour before requesting again.', code: 'RATE_LIMITED' });
    const active = await t.c.storage.db
      .selectFrom('api_keys as k')
      .innerJoin('customers as c', 'c.id', 'k.customer_id')
      .select('k.id')
      .where('c.email', '=', addr)
      .where('k.revoked_at', 'is', null)
      .execute();
    expect(active).toHaveLength(1);
    clock.advance(3_600_000);
    expect((await ask({ email: addr })).status).toBe(200);
  });

  it('abuse guard: per client IP (REQUEST_KEY_PER_IP_PER_HOUR) across emails', async () => {
    const ip = '192.0.2.77';
    for (let i = 0; i < 3; i++) expect((await ask({ email: email('ip') }, ip)).status).toBe(200);
    const res = await ask({ email: email('ip') }, ip);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect((await ask({ email: email('ip') }, '192.0.2.78')).status).toBe(200);
  });

  it('a suspended customer gets 403 and no key', async () => {
    const { customer } = await t.createCustomer({ email: email('suspended') });
    await t.admin('POST', `/admin/api/customers/${customer.id}/deactivate`);
    const res = await ask({ email: customer.email });
    expect(res.status).toBe(403);
    expect((await res.json()) as Json).toMatchObject({ code: 'CUSTOMER_DISABLED' });
    const keys = await t.c.storage.db.selectFrom('api_keys').select('kind').where('customer_id', '=', customer.id).execute();
    expect(keys.map((k) => k.kind)).toEqual(['master']);
  });

  it('concurrent requests for one new email: one customer, exactly one live self-service key', async () => {
    const addr = email('race');
    const res = await Promise.all(Array.from({ length: 4 }, () => ask({ email: addr })));
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const ids = new Set(await Promise.all(res.map(async (r) => ((await r.json()) as Issued).customer_id)));
    expect(ids.size).toBe(1);
    const live = await t.c.storage.db.selectFrom('api_keys').select('id').where('customer_id', '=', [...ids][0]!).where('revoked_at', 'is', null).execute();
    expect(live).toHaveLength(1);
  });
});

describe('request-key defaults come from config', () => {
  it('uses DEFAULT_SELFSERVE_* values', async () => {
    const t = await makeTestApp('sqlite', {
      env: { DEFAULT_SELFSERVE_CAP_CENTS: '3550', DEFAULT_SELFSERVE_RPM: '7', DEFAULT_SELFSERVE_MAX_DEVICES: '1', DEFAULT_SELFSERVE_PLAN: 'trial' },
    });
    try {
      const res = await t.req('POST', '/api/request-key', { body: { email: 'cfg@example.com' } });
      expect((await res.json()) as Json).toMatchObject({ plan: 'trial', limits: { monthly_cap_cents: 3550, monthly_cap_dollars: '$35.50', requests_per_minute: 7, max_devices: 1 } });
    } finally {
      await t.close();
    }
  });
});
