import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPgUrl } from '../helpers/db.ts';
import { http, SECRETS, startGateway, tempDir, type Child } from './proc.ts';

/**
 * Two real gateway processes on one PostgreSQL: state changed through node 1 is enforced by
 * node 2 on its very next request (revocation, deactivation, rotation, policy changes).
 */
describe('two gateway processes on one PostgreSQL', { timeout: 60_000 }, () => {
  let n1: Child & { url: string };
  let n2: Child & { url: string };
  let token = '';
  const dir = tempDir();
  const whoami = (key: string) => http(n2.url, 'GET', '/.netlify/functions/push-whoami', { key });

  beforeAll(async () => {
    const env = { ...SECRETS, DATABASE_URL: await freshPgUrl(), DATA_DIR: dir, LOG_LEVEL: 'warn', KEY_CACHE_TTL_MS: '600000' };
    // Started together: concurrent migrations must not trip over each other.
    [n1, n2] = await Promise.all([startGateway({ ...env, NODE_ID: 'node-1' }), startGateway({ ...env, NODE_ID: 'node-2' })]);
    const login = await http(n1.url, 'POST', '/admin/api/login', { body: { password: SECRETS.ADMIN_PASSWORD } });
    expect(login.status).toBe(200);
    token = login.json.token;
  });
  afterAll(async () => {
    await Promise.all([n1?.stop(), n2?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an admin token from node 1 is accepted by node 2', async () => {
    expect((await http(n2.url, 'GET', '/admin/api/customers', { token })).status).toBe(200);
  });

  it('a key revoked through node 1 is refused by node 2 on its next request', async () => {
    const c = await http(n1.url, 'POST', '/admin/api/customers', { token, body: { email: 'mp-revoke@example.com' } });
    expect(c.status).toBe(201);
    const key: string = c.json.master_key.key;
    for (let i = 0; i < 3; i++) expect((await whoami(key)).status).toBe(200); // warm node 2's cache
    const sub = await http(n1.url, 'POST', `/admin/api/customers/${c.json.customer.id}/keys`, { token, body: { label: 'sub' } });
    expect((await whoami(sub.json.key)).status).toBe(200);

    const rev = await http(n1.url, 'POST', `/admin/api/keys/${sub.json.api_key.id}/revoke`, { token });
    expect(rev.status).toBe(200);
    const refused = await whoami(sub.json.key);
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ error: 'Invalid or revoked key' });
    expect((await whoami(key)).status).toBe(200);
  });

  it('a customer deactivated through node 1 is refused (403) by node 2 on its next request, and reactivation applies too', async () => {
    const c = await http(n1.url, 'POST', '/admin/api/customers', { token, body: { email: 'mp-deact@example.com' } });
    const key: string = c.json.master_key.key;
    expect((await whoami(key)).status).toBe(200);
    expect((await http(n1.url, 'POST', `/admin/api/customers/${c.json.customer.id}/deactivate`, { token })).status).toBe(200);
    const refused = await whoami(key);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: 'Customer disabled' });
    expect((await http(n1.url, 'PATCH', `/admin/api/customers/${c.json.customer.id}`, { token, body: { is_active: true } })).status).toBe(200);
    expect((await whoami(key)).status).toBe(200);
  });

  it('rotation and key updates through node 1 apply on node 2 at once', async () => {
    const c = await http(n1.url, 'POST', '/admin/api/customers', { token, body: { email: 'mp-rotate@example.com' } });
    const key: string = c.json.master_key.key;
    expect((await whoami(key)).json.role).toBe('owner');
    await http(n1.url, 'PATCH', `/admin/api/keys/${c.json.master_key.api_key.id}`, { token, body: { role: 'viewer' } });
    expect((await whoami(key)).json.role).toBe('viewer');
    const rot = await http(n1.url, 'POST', `/admin/api/keys/${c.json.master_key.api_key.id}/rotate`, { token });
    expect(rot.status).toBe(200);
    expect((await whoami(key)).status).toBe(401);
    const fresh = await whoami(rot.json.key);
    expect(fresh.status).toBe(200);
    expect(fresh.json).toMatchObject({ role: 'viewer', api_key_id: rot.json.api_key.id });
  });
});
