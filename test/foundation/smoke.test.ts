import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

describe.each(DIALECTS)('smoke on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect);
  });
  afterAll(async () => t?.close());

  it('health is ok', async () => {
    const res = await t.req('GET', '/health');
    expect(res.status).toBe(200);
    const j = (await res.json()) as { ok: boolean; db: { ok: boolean; dialect: string } };
    expect(j.db).toMatchObject({ ok: true, dialect });
    expect(res.headers.get('x-kaixu-request-id')).toMatch(/^req_/);
  });

  it('creates a customer with a master key', async () => {
    const { customer, key } = await t.createCustomer({ plan: 'pro' });
    expect(key).toMatch(/^kx_live_[A-Za-z0-9_-]{48}$/);
    const res = await t.admin('GET', `/admin/api/customers/${customer.id}/keys`);
    const j = (await res.json()) as { keys: { key_last4: string; role: string }[] };
    expect(j.keys).toHaveLength(1);
    expect(j.keys[0]).toMatchObject({ key_last4: key.slice(-4), role: 'owner' });
    expect(JSON.stringify(j)).not.toContain(key);
  });
});
