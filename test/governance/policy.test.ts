import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, rejection, TARGET, usageRows, type GovApp } from './helpers.ts';

describe.each(DIALECTS)('device seats, allowlists, customer state, pricing on %s', (dialect) => {
  let t: GovApp;
  beforeAll(async () => {
    t = await makeGovApp(dialect);
  });
  afterAll(async () => t?.close());

  const admitWith = async (key: string, installId?: string, input = ONE_CENT_CALL) =>
    t.c.governance.admit(t.ctx(await t.auth(key), { installId, userAgent: 'ua/1.0' }), input);

  it('requires an install id when the policy says so (400, seed message), nothing charged', async () => {
    const { customer, key } = await t.createCustomer({ require_install_id: true });
    const e = await rejection(admitWith(key));
    expect(e).toMatchObject({ status: 400, code: 'MISSING_INSTALL_ID', message: 'Missing x-kaixu-install-id (required for this key)' });
    const e2 = await rejection(admitWith(key, 'x'.repeat(81)));
    expect(e2.status).toBe(400);
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });

  it('auto-registers devices up to the seat limit, records first/last seen and UA, refuses the next (403)', async () => {
    const { customer, key, keyId } = await t.createCustomer({ max_devices_per_key: 2 });
    await (await admitWith(key, 'dev-a')).release();
    await (await admitWith(key, '  dev-b ')).release();
    await (await admitWith(key, 'dev-a')).release();
    const e = await rejection(admitWith(key, 'dev-c'));
    expect(e).toMatchObject({ status: 403, code: 'DEVICE_LIMIT', message: 'Device limit reached (2/2). Revoke an old device or raise seats.' });
    const devices = await t.c.gov.devices.list({ customerId: customer.id, limit: 10 });
    expect(devices.map((d) => d.install_id).sort()).toEqual(['dev-a', 'dev-b']);
    expect(devices[0]).toMatchObject({ api_key_id: keyId, last_seen_ua: 'ua/1.0', revoked_at: null });
    expect(devices[0]!.first_seen_at).toBe(new Date(t.clock.now()).toISOString());
  });

  it('a revoked device is refused, does not count, and revocation holds even while the device is cached', async () => {
    const { customer, key, keyId } = await t.createCustomer({ max_devices_per_key: 1 });
    await (await admitWith(key, 'phone')).release(); // now cached as known-good
    await t.c.gov.devices.setRevoked({ customerId: customer.id, keyId, installId: 'phone', revoked: true, maxDevices: 1 }, { actor: 'admin', revokedBy: 'admin:admin' });
    const e = await rejection(admitWith(key, 'phone'));
    expect(e).toMatchObject({ status: 403, code: 'DEVICE_REVOKED', message: 'Device revoked for this key' });
    // Seat freed: a new device fits; restoring the old one would exceed the limit.
    await (await admitWith(key, 'tablet')).release();
    const e2 = await rejection(
      t.c.gov.devices.setRevoked({ customerId: customer.id, keyId, installId: 'phone', revoked: false, maxDevices: 1 }, { actor: 'admin', revokedBy: 'admin:admin' }),
    );
    expect(e2.code).toBe('DEVICE_LIMIT');
    expect((await usageRows(t, customer.id)).spent).toBe(0);
  });

  it('revocation made directly in the database (another node) is still enforced at reservation', async () => {
    const { key, keyId } = await t.createCustomer({});
    await (await admitWith(key, 'laptop')).release();
    await t.c.storage.db.updateTable('key_devices').set({ revoked_at: 1, revoked_by: 'admin:other-node' }).where('api_key_id', '=', keyId).execute();
    expect((await rejection(admitWith(key, 'laptop'))).code).toBe('DEVICE_REVOKED');
  });

  it('two new devices racing for the last seat: exactly one gets it', async () => {
    const { key, customer } = await t.createCustomer({ max_devices_per_key: 3 });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => admitWith(key, `racer-${i}`).then((a) => a.release())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const devices = await t.c.gov.devices.list({ customerId: customer.id, limit: 50 });
    expect(devices).toHaveLength(3);
  });

  it('allowlists: key overrides customer; public name and every upstream target are checked (403 seed messages)', async () => {
    const { customer, key } = await t.createCustomer({ allowed_providers: ['testco', 'kaixu'] });
    const openai = { targets: [{ provider: 'openai', model: 'gpt-4o-mini' }], inputTokensUpperBound: 10, maxOutputTokens: 10 };
    const e = await rejection(t.c.governance.admit(t.ctx(await t.auth(key), { publicProvider: 'openai', publicModel: 'gpt-4o-mini' }), openai));
    expect(e).toMatchObject({ status: 403, code: 'PROVIDER_NOT_ALLOWED', message: 'Provider not allowed for this key (openai)' });
    // A lane named kaixu is allowed, but its upstream target (openai) is not.
    const e2 = await rejection(t.c.governance.admit(t.ctx(await t.auth(key), { publicProvider: 'kaixu', publicModel: 'kaixu-chat' }), openai));
    expect(e2.message).toBe('Provider not allowed for this key (openai)');
    const models = await t.createKey(customer.id, { allowed_providers: null, allowed_models: { testco: ['tok-2'] } });
    const e3 = await rejection(admitWith(models.key));
    expect(e3).toMatchObject({ status: 403, code: 'MODEL_NOT_ALLOWED', message: 'Model not allowed for this key (testco:tok-1)' });
    const other = await t.createKey(customer.id, { allowed_models: { anthropic: ['*'] } });
    const e4 = await rejection(admitWith(other.key));
    expect(e4.message).toBe('Provider not allowed by model allowlist (testco)');
    const star = await t.createKey(customer.id, { allowed_providers: ['*'], allowed_models: { '*': ['*'] } });
    await (await admitWith(star.key)).release();
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });

  it('an unpriced target is refused with 409 UNPRICED_MODEL before anything is counted', async () => {
    const { customer, key } = await t.createCustomer({ rpm_limit: 1 });
    const input = { targets: [TARGET, { provider: 'testco', model: 'no-price' }], inputTokensUpperBound: 10, maxOutputTokens: 10 };
    const e = await rejection(t.c.governance.admit(t.ctx(await t.auth(key)), input));
    expect(e).toMatchObject({ status: 409, code: 'UNPRICED_MODEL', message: 'Unpriced model: testco:no-price' });
    expect(e.details.hint).toMatch(/admin/);
    // The rate-limit slot was not used (RPM 1) and nothing was reserved.
    await (await admitWith(key)).release();
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });

  it('the reservation takes the most expensive target of the lane, markup included', async () => {
    await t.c.gov.pricing.upsert({ provider: 'testco', model: 'pricey', input_micros_per_m: 3_000_000, output_micros_per_m: 3_000_000, markup_bp: 5_000 }, { actor: 'test' });
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100 });
    const a = await t.c.governance.admit(t.ctx(await t.auth(key)), { ...ONE_CENT_CALL, targets: [TARGET, { provider: 'testco', model: 'pricey' }] });
    expect((await usageRows(t, customer.id)).reserved).toBe(45_000); // 10 000 tokens × 3 µ$ × 1.5
    const r = await a.settle({ target: { provider: 'testco', model: 'pricey' }, usage: { input_tokens: 1, output_tokens: 0 }, usageSource: 'estimated', status: 'client_disconnect', latencyMs: 3 });
    expect(r.cost_micros).toBe(5); // 4.5 µ$ rounded up once
    const ev = (await usageRows(t, customer.id)).events[0]!;
    expect(ev).toMatchObject({ upstream_model: 'pricey', usage_source: 'estimated', status: 'client_disconnect' });
  });

  it('a disabled customer or a revoked key is refused even when the key is cached', async () => {
    const { customer, key, keyId } = await t.createCustomer({});
    const auth = await t.auth(key);
    await t.c.storage.db.updateTable('customers').set({ is_active: 0 }).where('id', '=', customer.id).execute();
    const e = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e).toMatchObject({ status: 403, code: 'CUSTOMER_DISABLED', message: 'Customer disabled' });
    await t.c.storage.db.updateTable('customers').set({ is_active: 1 }).where('id', '=', customer.id).execute();
    await t.c.storage.db.updateTable('api_keys').set({ revoked_at: 1 }).where('id', '=', keyId).execute();
    const e2 = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e2).toMatchObject({ status: 401, code: 'INVALID_KEY' });
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });
});
