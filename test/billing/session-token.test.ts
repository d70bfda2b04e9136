import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { seedUsage } from './helpers.ts';

type Json = Record<string, unknown>;

describe.each(DIALECTS)('user session tokens on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 8));
  let cus: string;
  let sub: { key: string; keyId: string };

  const mint = async (key: string, body?: unknown, path = '/.netlify/functions/session-token') => {
    const res = await t.req('POST', path, { body, headers: { authorization: `Bearer ${key}` } });
    return { res, j: (await res.json()) as Json };
  };
  const whoami = (token: string) => t.req('GET', '/.netlify/functions/push-whoami', { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock });
    const c = await t.createCustomer();
    cus = c.customer.id;
    sub = await t.createKey(cus, { label: 'dashboard' });
  });
  afterAll(async () => t?.close());

  it('a raw key mints an HS256 user_session JWT (default TTL from config)', async () => {
    const { res, j } = await mint(sub.key);
    expect(res.status).toBe(200);
    expect(j).toMatchObject({ expires_in: 21_600, key_last4: sub.key.slice(-4), token: expect.any(String) });
    const claims = decodeJwt(j.token as string);
    expect(claims).toMatchObject({ type: 'user_session', api_key_id: sub.keyId, customer_id: cus, key_last4: sub.key.slice(-4) });
    expect(claims.exp! - claims.iat!).toBe(21_600);
    expect(JSON.stringify(claims)).not.toContain(sub.key);
  });

  it('ttl_seconds is clamped to 60..86400; no body is fine; unknown fields are 400', async () => {
    expect((await mint(sub.key, { ttl_seconds: 5 })).j.expires_in).toBe(60);
    expect((await mint(sub.key, { ttl_seconds: 10_000_000 })).j.expires_in).toBe(86_400);
    expect((await mint(sub.key, { ttl_seconds: 3600.7 }, '/api/session-token')).j.expires_in).toBe(3600);
    expect((await mint(sub.key)).res.status).toBe(200);
    expect((await mint(sub.key, { ttl_seconds: 60, scope: 'admin' })).res.status).toBe(400);
  });

  it('a session token is accepted wherever a virtual key is: push-whoami, user exports, user invoices', async () => {
    const token = (await mint(sub.key)).j.token as string;
    const who = await whoami(token);
    expect(who.status).toBe(200);
    expect((await who.json()) as Json).toMatchObject({ api_key_id: sub.keyId, customer_id: cus, via: 'session' });
    await seedUsage(t.c.storage.db, [{ customerId: cus, apiKeyId: sub.keyId, createdAt: clock.now(), costMicros: 100, requestId: 'req_session_1' }]);
    const csv = await t.req('GET', '/api/user-export?type=events', { headers: { authorization: `Bearer ${token}` } });
    expect(csv.status).toBe(200);
    expect(await csv.text()).toContain('req_session_1');
    expect((await t.req('GET', '/api/user-invoices', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('a session token cannot mint another one (400, seed message)', async () => {
    const token = (await mint(sub.key)).j.token as string;
    const { res, j } = await mint(token);
    expect(res.status).toBe(400);
    expect(j.error).toMatch(/^Provide a sub-key \(not a session token\)/);
  });

  it('refused as soon as the key is revoked, and after it expires', async () => {
    const k = await t.createKey(cus, { label: 'to revoke' });
    const token = (await mint(k.key)).j.token as string;
    expect((await whoami(token)).status).toBe(200);
    expect((await t.admin('POST', `/admin/api/keys/${k.keyId}/revoke`)).status).toBe(200);
    expect((await whoami(token)).status).toBe(401);

    const short = (await mint(sub.key, { ttl_seconds: 60 })).j.token as string;
    expect((await whoami(short)).status).toBe(200);
    clock.advance(61_000);
    expect((await whoami(short)).status).toBe(401);
  });

  it('forged, tampered and admin tokens are not sessions; a session is not an admin token', async () => {
    const token = (await mint(sub.key)).j.token as string;
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Json;
    const otherKey = (await t.createCustomer()).keyId;
    const forgedPayload = Buffer.from(JSON.stringify({ ...payload, api_key_id: otherKey })).toString('base64url');
    expect((await whoami(`${h}.${forgedPayload}.${s}`)).status).toBe(401);
    const flipped = (s![0] === 'A' ? 'B' : 'A') + s!.slice(1);
    expect((await whoami(`${h}.${p}.${flipped}`)).status).toBe(401);
    expect((await whoami(await t.adminToken())).status).toBe(401);
    expect((await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it('a disabled customer’s sessions are refused (403); no Authorization → 401', async () => {
    const c = await t.createCustomer();
    const token = (await mint(c.key)).j.token as string;
    await t.admin('POST', `/admin/api/customers/${c.customer.id}/deactivate`);
    expect((await whoami(token)).status).toBe(403);
    expect((await t.req('POST', '/api/session-token')).status).toBe(401);
  });
});
