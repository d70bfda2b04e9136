import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectivePolicy } from '../../src/keys/policy.ts';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const OVERRIDES = {
  label: 'ci-bot',
  role: 'admin',
  monthly_cap_cents: 500,
  rpm_limit: 10,
  rpd_limit: 100,
  max_devices: 2,
  require_install_id: true,
  allowed_providers: ['openai'],
  allowed_models: { openai: ['gpt-4o-mini'] },
};
const INHERIT = { monthly_cap_cents: null, rpm_limit: null, rpd_limit: null, max_devices: null, require_install_id: null, allowed_providers: null, allowed_models: null };

describe.each(DIALECTS)('admin keys and key auth on %s', (dialect) => {
  let t: TestApp;
  const whoami = (key: string | undefined, path = '/.netlify/functions/push-whoami') =>
    t.req('GET', path, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
  const keyCount = async () => Number((await t.c.storage.db.selectFrom('api_keys').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    t = await makeTestApp(dialect);
  });
  afterAll(async () => t?.close());

  it('mints kx_live_ + 48 base64url chars and stores only HMAC-SHA256(KEY_PEPPER) + last4', async () => {
    const { customer, key, keyId } = await t.createCustomer();
    const sub = await t.createKey(customer.id);
    for (const [k, id] of [
      [key, keyId],
      [sub.key, sub.keyId],
    ] as const) {
      expect(k).toMatch(/^kx_live_[A-Za-z0-9_-]{48}$/);
      const row = await t.c.storage.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      expect(row.key_hash).toBe(createHmac('sha256', t.c.config.secrets.keyPepper).update(k).digest('hex'));
      expect(row.key_last4).toBe(k.slice(-4));
      expect(Object.values(row).map(String)).not.toContain(k);
    }
    expect(sub.key).not.toBe(key);
  });

  it('creates a sub-key with overrides; unset or null fields inherit from the customer', async () => {
    const { customer } = await t.createCustomer({ rpm_limit: 50, allowed_providers: ['openai', 'anthropic'], max_devices_per_key: 4 });
    const res = await t.admin('POST', `/admin/api/customers/${customer.id}/keys`, OVERRIDES);
    expect(res.status).toBe(201);
    const j = (await res.json()) as Json;
    expect(j.api_key).toMatchObject({ ...OVERRIDES, kind: 'sub', customer_id: customer.id, key_last4: j.key.slice(-4), is_revoked: false, rotated_from: null });
    expect(j.api_key).not.toHaveProperty('key_hash');

    const plain = await t.admin('POST', `/admin/api/customers/${customer.id}/keys`, { label: 'inherits', ...INHERIT });
    const pj = (await plain.json()) as Json;
    expect(pj.api_key).toMatchObject({ label: 'inherits', role: 'deployer', ...INHERIT });
    const defaulted = (await (await t.admin('POST', `/admin/api/customers/${customer.id}/keys`, {})).json()) as Json;
    expect(defaulted.api_key).toMatchObject({ label: 'subkey', role: 'deployer', ...INHERIT });

    // Inheritance as the data plane sees it.
    const auth = await t.c.keyAuth.authenticate(`Bearer ${pj.key}`);
    expect(effectivePolicy(auth.key, auth.customer, { rpm: 120 })).toMatchObject({ rpm: 50, allowedProviders: ['openai', 'anthropic'], maxDevices: 4, requireInstallId: false });
    const over = await t.c.keyAuth.authenticate(`Bearer ${j.key}`);
    expect(effectivePolicy(over.key, over.customer, { rpm: 120 })).toMatchObject({ rpm: 10, allowedProviders: ['openai'], maxDevices: 2, requireInstallId: true });
  });

  it('rejects bad key bodies (400, nothing written) and unknown customers (404)', async () => {
    const { customer } = await t.createCustomer();
    const before = await keyCount();
    for (const body of [{ role: 'root' }, { label: '' }, { rpm_limit: -1 }, { monthly_cap_cents: 'lots' }, { require_install_id: 'yes' }, { key: 'kx_live_x' }, { allowed_models: ['gpt'] }]) {
      const res = await t.admin('POST', `/admin/api/customers/${customer.id}/keys`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as Json).error.fields.length).toBeGreaterThan(0);
    }
    expect((await t.admin('POST', '/admin/api/customers/cus_missing/keys', {})).status).toBe(404);
    expect((await t.admin('GET', '/admin/api/customers/cus_missing/keys')).status).toBe(404);
    expect(await keyCount()).toBe(before);
  });

  it('lists keys with last4 only, revoked ones optional, paginated', async () => {
    const { customer, key } = await t.createCustomer();
    const a = await t.createKey(customer.id, { label: 'a' });
    const b = await t.createKey(customer.id, { label: 'b' });
    await t.admin('POST', `/admin/api/keys/${a.keyId}/revoke`);
    const all = (await (await t.admin('GET', `/admin/api/customers/${customer.id}/keys`)).json()) as Json;
    expect(all.keys).toHaveLength(3);
    const body = JSON.stringify(all);
    for (const k of [key, a.key, b.key]) expect(body).not.toContain(k);
    expect(body).not.toContain('key_hash');
    const active = (await (await t.admin('GET', `/admin/api/customers/${customer.id}/keys?include_revoked=false`)).json()) as Json;
    expect(active.keys.map((k: Json) => k.label).sort()).toEqual(['b', 'master']);
    const page = (await (await t.admin('GET', `/admin/api/customers/${customer.id}/keys?limit=1&offset=1`)).json()) as Json;
    expect(page.keys).toHaveLength(1);
  });

  it('updates a key (null = inherit) and the change applies on the next request', async () => {
    const { customer } = await t.createCustomer();
    const k = await t.createKey(customer.id, OVERRIDES);
    expect(((await (await whoami(k.key)).json()) as Json).role).toBe('admin');
    const res = await t.admin('PATCH', `/admin/api/keys/${k.keyId}`, { role: 'viewer', label: 'renamed', ...INHERIT });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).api_key).toMatchObject({ role: 'viewer', label: 'renamed', ...INHERIT });
    expect(((await (await whoami(k.key)).json()) as Json).role).toBe('viewer');
    const got = (await (await t.admin('GET', `/admin/api/keys/${k.keyId}`)).json()) as Json;
    expect(got.api_key).toMatchObject({ role: 'viewer', label: 'renamed', ...INHERIT });

    const audit = await t.c.audit.list({ action: 'KEY_UPDATE', target: `key:${k.keyId}`, limit: 5 });
    expect(audit.events).toHaveLength(1);
    for (const body of [{}, { role: 'god' }, { key_hash: 'x' }]) expect((await t.admin('PATCH', `/admin/api/keys/${k.keyId}`, body)).status).toBe(400);
    expect((await t.admin('PATCH', '/admin/api/keys/key_missing', { label: 'x' })).status).toBe(404);
    expect((await t.admin('GET', '/admin/api/keys/key_missing')).status).toBe(404);
  });

  it('rotates: new key works with the same settings, the old one is refused, in one transaction', async () => {
    const { customer } = await t.createCustomer();
    const k = await t.createKey(customer.id, OVERRIDES);
    expect((await whoami(k.key)).status).toBe(200); // cached now
    const res = await t.admin('POST', `/admin/api/keys/${k.keyId}/rotate`);
    expect(res.status).toBe(200);
    const j = (await res.json()) as Json;
    expect(j.old_key_id).toBe(k.keyId);
    expect(j.key).toMatch(/^kx_live_[A-Za-z0-9_-]{48}$/);
    expect(j.api_key).toMatchObject({ ...OVERRIDES, rotated_from: k.keyId, customer_id: customer.id, kind: 'sub', is_revoked: false });
    expect(j.api_key.id).not.toBe(k.keyId);

    const old = await whoami(k.key);
    expect(old.status).toBe(401);
    expect(await old.json()).toMatchObject({ error: 'Invalid or revoked key' });
    const fresh = await whoami(j.key);
    expect(fresh.status).toBe(200);
    expect(((await fresh.json()) as Json).api_key_id).toBe(j.api_key.id);

    const oldRow = ((await (await t.admin('GET', `/admin/api/keys/${k.keyId}`)).json()) as Json).api_key;
    expect(oldRow.is_revoked).toBe(true);
    expect(oldRow.revoked_at).toBe(j.api_key.created_at);
    const audit = await t.c.audit.list({ action: 'KEY_ROTATE', target: `key:${k.keyId}`, limit: 5 });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]!.summary).toContain(j.api_key.id);
    expect(JSON.stringify(audit)).not.toContain(j.key);

    // Rotating a revoked key is a conflict; an unknown key is 404.
    const again = await t.admin('POST', `/admin/api/keys/${k.keyId}/rotate`);
    expect(again.status).toBe(409);
    expect(((await again.json()) as Json).error.code).toBe('CONFLICT');
    expect((await t.admin('POST', '/admin/api/keys/key_missing/rotate')).status).toBe(404);
  });

  it('two concurrent rotations of one key yield exactly one successor', async () => {
    const { customer } = await t.createCustomer();
    const k = await t.createKey(customer.id);
    const before = await keyCount();
    const statuses = await Promise.all([1, 2, 3].map(() => t.admin('POST', `/admin/api/keys/${k.keyId}/rotate`).then((r) => r.status)));
    expect(statuses.sort()).toEqual([200, 409, 409]);
    expect(await keyCount()).toBe(before + 1);
    const successors = await t.c.storage.db.selectFrom('api_keys').select('id').where('rotated_from', '=', k.keyId).execute();
    expect(successors).toHaveLength(1);
  });

  it('revokes: refused on the next request, idempotent, 404 for unknown keys', async () => {
    const { customer, key } = await t.createCustomer();
    const k = await t.createKey(customer.id);
    expect((await whoami(k.key)).status).toBe(200);
    const res = await t.admin('POST', `/admin/api/keys/${k.keyId}/revoke`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).api_key).toMatchObject({ id: k.keyId, is_revoked: true });
    for (const path of ['/.netlify/functions/push-whoami', '/api/push-whoami']) {
      const r = await whoami(k.key, path);
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ error: 'Invalid or revoked key' });
    }
    // The sibling master key is untouched.
    expect((await whoami(key)).status).toBe(200);
    expect((await t.admin('POST', `/admin/api/keys/${k.keyId}/revoke`)).status).toBe(200);
    expect((await t.c.audit.list({ action: 'KEY_REVOKE', target: `key:${k.keyId}`, limit: 5 })).events).toHaveLength(1);
    expect((await t.admin('POST', '/admin/api/keys/key_missing/revoke')).status).toBe(404);
  });

  it('answers missing and wrong keys with the seed bodies', async () => {
    for (const path of ['/.netlify/functions/push-whoami', '/api/push-whoami']) {
      for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
        const r = await t.req('GET', path, { headers });
        expect(r.status).toBe(401);
        const j = (await r.json()) as Json;
        expect(j).toMatchObject({ error: 'Missing Authorization: Bearer <virtual_key>', code: 'MISSING_KEY' });
        expect(typeof j.request_id).toBe('string');
      }
      const { key } = await t.createCustomer();
      const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
      for (const bad of [tampered, 'kx_live_short', 'sk-not-ours', 'a.b.c']) {
        const r = await whoami(bad, path);
        expect(r.status).toBe(401);
        expect(await r.json()).toMatchObject({ error: 'Invalid or revoked key', code: 'INVALID_KEY' });
      }
    }
  });
});
