import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Row counts of the tables a customer write touches. */
async function counts(t: TestApp) {
  const db = t.c.storage.db;
  const n = async (table: 'customers' | 'api_keys' | 'audit_events' | 'invalidations') =>
    Number((await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);
  return { customers: await n('customers'), api_keys: await n('api_keys'), audit: await n('audit_events'), invalidations: await n('invalidations') };
}

/** Every text value in every row of a table, as one string. */
async function tableDump(t: TestApp, table: 'api_keys' | 'customers' | 'audit_events' | 'invalidations'): Promise<string> {
  return JSON.stringify(await t.c.storage.db.selectFrom(table).selectAll().execute());
}

describe.each(DIALECTS)('admin customers on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect, { env: { MAX_BODY_BYTES: '2048' } });
    await t.adminToken();
  });
  afterAll(async () => t?.close());

  it('creates a customer with defaults and a master key shown once', async () => {
    const res = await t.admin('POST', '/admin/api/customers', { email: 'Alice@Example.com' });
    expect(res.status).toBe(201);
    const j = (await res.json()) as Json;
    expect(j.customer).toMatchObject({
      id: expect.stringMatching(/^cus_/),
      email: 'alice@example.com',
      plan: 'starter',
      monthly_cap_cents: 2000,
      is_active: true,
      cap_mode: 'hard',
      require_install_id: false,
      allowed_providers: null,
      allowed_models: null,
    });
    const key: string = j.master_key.key;
    expect(key).toMatch(/^kx_live_[A-Za-z0-9_-]{48}$/);
    expect(j.master_key.api_key).toMatchObject({ role: 'owner', kind: 'master', key_last4: key.slice(-4), customer_id: j.customer.id, is_revoked: false });
    expect(j.master_key.api_key).not.toHaveProperty('key_hash');

    // Shown once: no later read returns it.
    const get = await (await t.admin('GET', `/admin/api/customers/${j.customer.id}`)).text();
    const keys = await (await t.admin('GET', `/admin/api/customers/${j.customer.id}/keys`)).text();
    const list = await (await t.admin('GET', '/admin/api/customers')).text();
    for (const body of [get, keys, list]) expect(body).not.toContain(key);
    expect((JSON.parse(keys) as Json).keys[0]).toMatchObject({ key_last4: key.slice(-4), role: 'owner' });

    // The key string is stored nowhere: no column of any row holds it (or its random part).
    for (const table of ['api_keys', 'customers', 'audit_events', 'invalidations'] as const) {
      const dump = await tableDump(t, table);
      expect(dump).not.toContain(key);
      expect(dump).not.toContain(key.slice(8, 30));
    }
    // The key works on the data plane.
    const who = await t.req('GET', '/.netlify/functions/push-whoami', { headers: { authorization: `Bearer ${key}` } });
    expect(who.status).toBe(200);
  });

  it('creates with every policy field', async () => {
    const body = {
      email: 'full@example.com',
      plan: 'pro',
      monthly_cap_cents: 12345,
      is_active: true,
      cap_mode: 'soft',
      max_devices_per_key: 3,
      require_install_id: true,
      allowed_providers: ['openai'],
      allowed_models: { openai: ['gpt-4o-mini'] },
      rpm_limit: 30,
      rpd_limit: 1000,
    };
    const res = await t.admin('POST', '/admin/api/customers', body);
    expect(res.status).toBe(201);
    const { email: _e, ...rest } = body;
    expect(((await res.json()) as Json).customer).toMatchObject(rest);
  });

  it('a duplicate email (any case) is 409 EMAIL_TAKEN and writes nothing', async () => {
    await t.admin('POST', '/admin/api/customers', { email: 'dup@example.com' });
    const before = await counts(t);
    const res = await t.admin('POST', '/admin/api/customers', { email: 'DUP@example.COM', plan: 'pro' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as Json).error).toMatchObject({ code: 'EMAIL_TAKEN' });
    expect(await counts(t)).toEqual(before);
  });

  it('rejects invalid bodies with field-level detail and writes nothing', async () => {
    const before = await counts(t);
    const cases: [unknown, string[]][] = [
      [{ email: 'not-an-email' }, ['json.email']],
      [{}, ['json.email']],
      [{ email: 'x@example.com', monthly_cap_cents: '100' }, ['json.monthly_cap_cents']],
      [{ email: 'x@example.com', monthly_cap_cents: -1 }, ['json.monthly_cap_cents']],
      [{ email: 'x@example.com', monthly_cap_cents: 1.5 }, ['json.monthly_cap_cents']],
      [{ email: 'x@example.com', is_active: 'yes' }, ['json.is_active']],
      [{ email: 'x@example.com', allowed_providers: 'openai' }, ['json.allowed_providers']],
      [{ email: 'x@example.com', allowed_models: { openai: 'gpt' } }, ['json.allowed_models.openai']],
      [{ email: 'x@example.com', cap_mode: 'maybe' }, ['json.cap_mode']],
      [{ email: 'x@example.com', surprise: 1 }, ['json']],
      [[{ email: 'x@example.com' }], ['json']],
    ];
    for (const [body, paths] of cases) {
      const res = await t.admin('POST', '/admin/api/customers', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const j = (await res.json()) as Json;
      expect(j.error.code).toBe('VALIDATION_ERROR');
      expect(Array.isArray(j.error.fields)).toBe(true);
      const got = j.error.fields.map((f: Json) => f.path) as string[];
      for (const p of paths) expect(got.some((g) => g === p || g.startsWith(`${p}.`)), `${JSON.stringify(body)} → ${got}`).toBe(true);
    }
    expect(await counts(t)).toEqual(before);
  });

  it('invalid JSON is 400 INVALID_JSON, a non-JSON body 415, an oversized body 413; nothing written', async () => {
    const before = await counts(t);
    const token = await t.adminToken();
    const auth = { authorization: `Bearer ${token}` };
    const bad = await t.req('POST', '/admin/api/customers', { raw: '{"email": "a@b.co",', headers: { ...auth, 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error.code).toBe('INVALID_JSON');
    const text = await t.req('POST', '/admin/api/customers', { raw: 'email=a@b.co', headers: { ...auth, 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(((await text.json()) as Json).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const huge = JSON.stringify({ email: 'big@example.com', plan: 'x'.repeat(4000) });
    const big = await t.req('POST', '/admin/api/customers', { raw: huge, headers: { ...auth, 'content-type': 'application/json' } });
    expect(big.status).toBe(413);
    expect(((await big.json()) as Json).error.code).toBe('PAYLOAD_TOO_LARGE');
    const bigLen = await t.req('POST', '/admin/api/customers', {
      raw: huge,
      headers: { ...auth, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(huge)) },
    });
    expect(bigLen.status).toBe(413);
    expect(await counts(t)).toEqual(before);
  });

  it('lists with pagination, total and active key count', async () => {
    const base = (await (await t.admin('GET', '/admin/api/customers?limit=1')).json()) as Json;
    const a = await t.createCustomer();
    const b = await t.createCustomer();
    await t.createKey(b.customer.id);
    const k2 = await t.createKey(b.customer.id);
    await t.admin('POST', `/admin/api/keys/${k2.keyId}/revoke`);

    const page1 = (await (await t.admin('GET', '/admin/api/customers?limit=2&offset=0')).json()) as Json;
    expect(page1).toMatchObject({ limit: 2, offset: 0, total: base.total + 2 });
    expect(page1.customers.map((c: Json) => c.id)).toEqual([b.customer.id, a.customer.id]);
    expect(page1.customers[0].active_keys).toBe(2);
    expect(page1.customers[1].active_keys).toBe(1);
    const page2 = (await (await t.admin('GET', '/admin/api/customers?limit=2&offset=2')).json()) as Json;
    expect(page2.customers.map((c: Json) => c.id)).not.toContain(a.customer.id);
    expect(page2.total).toBe(page1.total);
    expect(JSON.stringify(page1)).not.toMatch(/kx_live_|key_hash/);

    const q = (await (await t.admin('GET', `/admin/api/customers?q=${encodeURIComponent(a.customer.email)}`)).json()) as Json;
    expect(q.customers.map((c: Json) => c.id)).toEqual([a.customer.id]);
    expect(q.total).toBe(1);
    for (const bad of ['limit=0', 'limit=501', 'offset=-1', 'limit=abc', 'active=maybe']) {
      expect((await t.admin('GET', `/admin/api/customers?${bad}`)).status, bad).toBe(400);
    }
  });

  it('get returns the customer, or 404', async () => {
    const a = await t.createCustomer();
    const res = await t.admin('GET', `/admin/api/customers/${a.customer.id}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).customer.id).toBe(a.customer.id);
    const missing = await t.admin('GET', '/admin/api/customers/cus_nope');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as Json).error.code).toBe('NOT_FOUND');
  });

  it('updates every policy field, clears nullable ones, and rejects bad updates', async () => {
    const a = await t.createCustomer();
    const patch = {
      email: 'Renamed@Example.com',
      plan: 'enterprise',
      monthly_cap_cents: 99999,
      cap_mode: 'soft',
      max_devices_per_key: 5,
      require_install_id: true,
      allowed_providers: ['openai', 'anthropic'],
      allowed_models: { openai: ['gpt-4o-mini'], anthropic: ['*'] },
      rpm_limit: 60,
      rpd_limit: 5000,
    };
    const res = await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, patch);
    expect(res.status).toBe(200);
    const j = (await res.json()) as Json;
    expect(j.customer).toMatchObject({ ...patch, email: 'renamed@example.com' });
    const fetched = ((await (await t.admin('GET', `/admin/api/customers/${a.customer.id}`)).json()) as Json).customer;
    expect(fetched).toMatchObject({ ...patch, email: 'renamed@example.com' });

    const cleared = await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, { max_devices_per_key: null, allowed_providers: null, allowed_models: null, rpm_limit: null, rpd_limit: null });
    expect(((await cleared.json()) as Json).customer).toMatchObject({ max_devices_per_key: null, allowed_providers: null, allowed_models: null, rpm_limit: null, rpd_limit: null, plan: 'enterprise' });

    const before = await counts(t);
    expect((await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, {})).status).toBe(400);
    expect((await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, { plan: 5 })).status).toBe(400);
    expect((await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, { id: 'cus_other' })).status).toBe(400);
    expect((await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, { monthly_cap_cents: null })).status).toBe(400);
    expect((await t.admin('PATCH', '/admin/api/customers/cus_nope', { plan: 'x' })).status).toBe(404);
    const other = await t.createCustomer();
    const after = await counts(t);
    const taken = await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, { email: other.customer.email.toUpperCase() });
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as Json).error.code).toBe('EMAIL_TAKEN');
    expect(await counts(t)).toEqual(after);
    expect(after.audit - before.audit).toBe(2); // only the second customer's create + master key
  });

  it('deactivation refuses the customer key on the next request (403 Customer disabled); reactivation restores it', async () => {
    const a = await t.createCustomer();
    const sub = await t.createKey(a.customer.id);
    const who = (key: string) => t.req('GET', '/.netlify/functions/push-whoami', { headers: { authorization: `Bearer ${key}` } });
    expect((await who(a.key)).status).toBe(200);
    expect((await who(sub.key)).status).toBe(200);
    const res = await t.admin('POST', `/admin/api/customers/${a.customer.id}/deactivate`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).customer.is_active).toBe(false);
    for (const k of [a.key, sub.key]) {
      const r = await who(k);
      expect(r.status).toBe(403);
      expect(await r.json()).toMatchObject({ error: 'Customer disabled' });
    }
    const api = await t.req('GET', '/api/push-whoami', { headers: { authorization: `Bearer ${a.key}` } });
    expect(api.status).toBe(403);
    await t.admin('PATCH', `/admin/api/customers/${a.customer.id}`, { is_active: true });
    expect((await who(a.key)).status).toBe(200);
    expect((await t.admin('POST', '/admin/api/customers/cus_nope/deactivate')).status).toBe(404);
  });
});
