import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.each(DIALECTS)('tenancy on %s', (dialect) => {
  let t: TestApp;
  let A: Awaited<ReturnType<TestApp['createCustomer']>>;
  let B: Awaited<ReturnType<TestApp['createCustomer']>>;
  let bSub: { key: string; keyId: string };
  const whoami = (key: string) => t.req('GET', '/.netlify/functions/push-whoami', { headers: { authorization: `Bearer ${key}` } });
  const rowsOf = (customerId: string) => t.c.storage.db.selectFrom('api_keys').selectAll().where('customer_id', '=', customerId).orderBy('id').execute();
  const customerRow = (id: string) => t.c.storage.db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  beforeAll(async () => {
    t = await makeTestApp(dialect);
    A = await t.createCustomer({ plan: 'a-plan' });
    B = await t.createCustomer({ plan: 'b-plan' });
    await t.createKey(A.customer.id, { label: 'a-sub' });
    bSub = await t.createKey(B.customer.id, { label: 'b-sub', rpm_limit: 7 });
  });
  afterAll(async () => t?.close());

  it("a key reports its own customer, never another's", async () => {
    const a = (await (await whoami(A.key)).json()) as Json;
    const b = (await (await whoami(bSub.key)).json()) as Json;
    expect(a).toMatchObject({ customer_id: A.customer.id, customer_email: A.customer.email, api_key_id: A.keyId, role: 'owner' });
    expect(b).toMatchObject({ customer_id: B.customer.id, customer_email: B.customer.email, api_key_id: bSub.keyId, role: 'deployer' });
  });

  it("A's key list never contains B's keys", async () => {
    const a = (await (await t.admin('GET', `/admin/api/customers/${A.customer.id}/keys`)).json()) as Json;
    expect(a.keys.map((k: Json) => k.label).sort()).toEqual(['a-sub', 'master']);
    expect(a.keys.every((k: Json) => k.customer_id === A.customer.id)).toBe(true);
    expect(JSON.stringify(a)).not.toContain(bSub.keyId);
    expect(JSON.stringify(a)).not.toContain(B.keyId);
  });

  it("B's key id under A's path is not found and B's key is never read or changed", async () => {
    const bBefore = await rowsOf(B.customer.id);
    const auditBefore = (await t.c.audit.list({ limit: 500 })).events.length;
    const base = `/admin/api/customers/${A.customer.id}/keys/${bSub.keyId}`;
    const attempts: [string, string, unknown][] = [
      ['GET', base, undefined],
      ['PATCH', base, { label: 'hijacked', rpm_limit: 100000 }],
      ['POST', `${base}/rotate`, undefined],
      ['POST', `${base}/revoke`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      const res = await t.admin(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      const text = await res.text();
      expect(text).not.toContain(B.customer.email);
      expect(JSON.parse(text).error.code).toBe('NOT_FOUND');
    }
    expect(await rowsOf(B.customer.id)).toEqual(bBefore);
    expect((await t.c.audit.list({ limit: 500 })).events.length).toBe(auditBefore);
    expect((await whoami(bSub.key)).status).toBe(200);

    // The same operations on the right customer's path work.
    const own = await t.admin('GET', `/admin/api/customers/${B.customer.id}/keys/${bSub.keyId}`);
    expect(own.status).toBe(200);
    expect(((await own.json()) as Json).api_key.label).toBe('b-sub');
  });

  it("customer-scoped key operations act on the customer's own key", async () => {
    const k = await t.createKey(A.customer.id, { label: 'scoped' });
    const base = `/admin/api/customers/${A.customer.id}/keys/${k.keyId}`;
    expect((await t.admin('PATCH', base, { label: 'scoped-2' })).status).toBe(200);
    const rot = await t.admin('POST', `${base}/rotate`);
    expect(rot.status).toBe(200);
    const r = (await rot.json()) as Json;
    expect(r.api_key).toMatchObject({ label: 'scoped-2', customer_id: A.customer.id, rotated_from: k.keyId });
    expect((await whoami(k.key)).status).toBe(401);
    expect((await t.admin('POST', `/admin/api/customers/${A.customer.id}/keys/${r.api_key.id}/revoke`)).status).toBe(200);
    expect((await whoami(r.key)).status).toBe(401);
    // A customer id that does not exist finds nothing either.
    expect((await t.admin('GET', `/admin/api/customers/cus_nope/keys/${bSub.keyId}`)).status).toBe(404);
  });

  it("changing or deactivating A leaves B's policy and keys alone", async () => {
    const bBefore = await customerRow(B.customer.id);
    await t.admin('PATCH', `/admin/api/customers/${A.customer.id}`, { plan: 'changed', rpm_limit: 1 });
    await t.admin('POST', `/admin/api/customers/${A.customer.id}/deactivate`);
    expect((await whoami(A.key)).status).toBe(403);
    expect((await whoami(bSub.key)).status).toBe(200);
    expect((await whoami(B.key)).status).toBe(200);
    expect(await customerRow(B.customer.id)).toEqual(bBefore);
    // A key created under A belongs to A.
    const k = await t.createKey(A.customer.id);
    const row = await t.c.storage.db.selectFrom('api_keys').select('customer_id').where('id', '=', k.keyId).executeTakeFirstOrThrow();
    expect(row.customer_id).toBe(A.customer.id);
  });
});
