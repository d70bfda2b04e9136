import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { DIALECTS } from '../helpers/db.ts';
import { ADMIN_PASSWORD, makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const login = (t: TestApp, password: string, ip: string) => t.req('POST', '/admin/api/login', { body: { password }, headers: { 'x-forwarded-for': ip } });

/** Every registered /admin/api/* route except login, with path params filled in. */
function adminRoutes(t: TestApp): { method: string; path: string }[] {
  const seen = new Set<string>();
  const out: { method: string; path: string }[] = [];
  for (const r of t.app.routes) {
    if (r.method === 'ALL' || !r.path.startsWith('/admin/api/') || r.path === '/admin/api/login') continue;
    const path = r.path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, 'x_$1');
    const k = `${r.method} ${path}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ method: r.method, path });
  }
  return out;
}

describe.each(DIALECTS)('admin auth on %s', (dialect) => {
  let t: TestApp;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = new ManualClock(Date.now());
    t = await makeTestApp(dialect, { clock });
  });
  afterAll(async () => t?.close());

  it('logs in with the password: a 12 h HS256 token that opens the admin API', async () => {
    const res = await login(t, ADMIN_PASSWORD, '10.0.0.1');
    expect(res.status).toBe(200);
    const j = (await res.json()) as Json;
    expect(Object.keys(j).sort()).toEqual(['expires_at', 'token']);
    expect(JSON.parse(Buffer.from(j.token.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'HS256' });
    const ttl = Date.parse(j.expires_at) - clock.now();
    expect(ttl).toBeGreaterThan(12 * 3600_000 - 2000);
    expect(ttl).toBeLessThanOrEqual(12 * 3600_000);
    const list = await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${j.token}` } });
    expect(list.status).toBe(200);
    const audit = await t.c.audit.list({ action: 'ADMIN_LOGIN_OK', limit: 10 });
    expect(audit.events.some((e) => e.ip === '10.0.0.1')).toBe(true);
  });

  it('a wrong password is 401 INVALID_CREDENTIALS and audited with the client ip', async () => {
    const res = await login(t, 'not-the-password', '10.0.0.2');
    expect(res.status).toBe(401);
    const j = (await res.json()) as Json;
    expect(j.error).toMatchObject({ code: 'INVALID_CREDENTIALS', message: 'Invalid credentials' });
    expect(typeof j.error.request_id).toBe('string');
    const audit = await t.c.audit.list({ action: 'ADMIN_LOGIN_FAIL', limit: 10 });
    expect(audit.events[0]).toMatchObject({ action: 'ADMIN_LOGIN_FAIL', ip: '10.0.0.2' });
    expect(JSON.stringify(audit)).not.toContain('not-the-password');
  });

  it('a missing or malformed password field is 400 with field detail', async () => {
    const res = await t.req('POST', '/admin/api/login', { body: { pass: 'x' } });
    expect(res.status).toBe(400);
    const j = (await res.json()) as Json;
    expect(j.error.code).toBe('VALIDATION_ERROR');
    expect(j.error.fields.map((f: Json) => f.path)).toEqual(expect.arrayContaining(['json.password']));
    const bad = await t.req('POST', '/admin/api/login', { raw: '{"password":', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error.code).toBe('INVALID_JSON');
  });

  it('throttles the 6th failure from one IP in the window with 429 + Retry-After; other IPs are unaffected', async () => {
    const ip = '10.0.1.1';
    for (let i = 0; i < 5; i++) expect((await login(t, `wrong-${i}`, ip)).status).toBe(401);
    const sixth = await login(t, 'wrong-6', ip);
    expect(sixth.status).toBe(429);
    const ra = Number(sixth.headers.get('retry-after'));
    expect(ra).toBeGreaterThan(0);
    expect(ra).toBeLessThanOrEqual(900);
    expect(((await sixth.json()) as Json).error.code).toBe('LOGIN_THROTTLED');
    // Even the right password is refused from that IP while throttled.
    expect((await login(t, ADMIN_PASSWORD, ip)).status).toBe(429);
    // Another IP still logs in.
    expect((await login(t, ADMIN_PASSWORD, '10.0.1.2')).status).toBe(200);
    // After the window the IP may try again.
    clock.advance(901_000);
    expect((await login(t, ADMIN_PASSWORD, ip)).status).toBe(200);
  });

  it('takes the client ip from the last x-forwarded-for entry, so a client cannot spoof its way past the throttle', async () => {
    for (let i = 0; i < 5; i++) expect((await login(t, `spoof-${i}`, `198.51.100.${i}, 10.0.4.1`)).status).toBe(401);
    expect((await login(t, ADMIN_PASSWORD, '198.51.100.99, 10.0.4.1')).status).toBe(429);
    const fails = await t.c.audit.list({ action: 'ADMIN_LOGIN_FAIL', limit: 100 });
    expect(fails.events.filter((e) => e.ip === '10.0.4.1')).toHaveLength(5);
  });

  it('concurrent wrong guesses from one IP cannot exceed the limit', async () => {
    const ip = '10.0.2.1';
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => login(t, `guess-${i}`, ip).then((r) => r.status)));
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(7);
  });

  it('every /admin/api/* route refuses a request without a token (401)', async () => {
    const routes = adminRoutes(t);
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const r of routes) {
      const res = await t.req(r.method, r.path, r.method === 'GET' ? {} : { body: {} });
      expect({ route: `${r.method} ${r.path}`, status: res.status }).toEqual({ route: `${r.method} ${r.path}`, status: 401 });
      expect(((await res.json()) as Json).error.code).toBe('UNAUTHORIZED');
    }
  });

  it('refuses expired, forged, wrong-audience and malformed tokens', async () => {
    const token = await t.adminToken();
    const key = new TextEncoder().encode(t.c.config.secrets.jwtSecret);
    const nowS = Math.floor(clock.now() / 1000);
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('admin')
      .setAudience('kaixu-admin')
      .setExpirationTime(nowS + 3600)
      .sign(new TextEncoder().encode('some-other-secret-that-is-long-enough-0123'));
    const wrongAud = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setAudience('kaixu-user').setExpirationTime(nowS + 3600).sign(key);
    const notAdmin = await new SignJWT({ role: 'user' }).setProtectedHeader({ alg: 'HS256' }).setAudience('kaixu-admin').setExpirationTime(nowS + 3600).sign(key);
    const [h, p] = token.split('.');
    const algNone = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    for (const bad of [forged, wrongAud, notAdmin, algNone, `${h}.${p}.AAAA`, 'garbage']) {
      const res = await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status).toBe(401);
    }
    expect((await t.req('GET', '/admin/api/customers', { headers: { authorization: token } })).status).toBe(401);
    // The real token works until it expires 12 h after issue.
    const fresh = ((await (await login(t, ADMIN_PASSWORD, '10.0.3.1')).json()) as Json).token as string;
    expect((await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${fresh}` } })).status).toBe(200);
    clock.advance(12 * 3600_000 + 1000);
    expect((await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${fresh}` } })).status).toBe(401);
  });

  it('ignores x-admin-password unless ADMIN_PASSWORD_HEADER=true', async () => {
    const res = await t.req('GET', '/admin/api/customers', { headers: { 'x-admin-password': ADMIN_PASSWORD } });
    expect(res.status).toBe(401);
  });
});

describe('without TRUST_PROXY', () => {
  it('ignores x-forwarded-for for the client ip', async () => {
    const t = await makeTestApp('sqlite', { env: { TRUST_PROXY: 'false' } });
    try {
      expect((await login(t, 'wrong-password-1', '203.0.113.9')).status).toBe(401);
      const [e] = (await t.c.audit.list({ action: 'ADMIN_LOGIN_FAIL', limit: 1 })).events;
      expect(e!.ip).not.toBe('203.0.113.9');
    } finally {
      await t.close();
    }
  });
});

describe.each(DIALECTS)('x-admin-password opt-in on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect, { env: { ADMIN_PASSWORD_HEADER: 'true' } });
  });
  afterAll(async () => t?.close());

  it('accepts the right header, refuses a wrong one, and a bearer token still works beside it', async () => {
    expect((await t.req('GET', '/admin/api/customers', { headers: { 'x-admin-password': ADMIN_PASSWORD } })).status).toBe(200);
    expect((await t.req('GET', '/admin/api/customers', { headers: { 'x-admin-password': 'wrong-password-here' } })).status).toBe(401);
    const created = await t.req('POST', '/admin/api/customers', { body: { email: 'hdr@example.com' }, headers: { 'x-admin-password': ADMIN_PASSWORD } });
    expect(created.status).toBe(201);
    const token = await t.adminToken();
    const both = await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${token}`, 'x-admin-password': 'stale' } });
    expect(both.status).toBe(200);
  });

  it('wrong x-admin-password guesses are audited and throttled like logins', async () => {
    const h = (pw: string) => ({ 'x-admin-password': pw, 'x-forwarded-for': '10.9.9.9' });
    for (let i = 0; i < 5; i++) expect((await t.req('GET', '/admin/api/customers', { headers: h(`guess-number-${i}`) })).status).toBe(401);
    const res = await t.req('GET', '/admin/api/customers', { headers: h(ADMIN_PASSWORD) });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const fails = await t.c.audit.list({ action: 'ADMIN_LOGIN_FAIL', limit: 50 });
    expect(fails.events.filter((e) => e.ip === '10.9.9.9')).toHaveLength(5);
    expect((await t.req('GET', '/admin/api/customers', { headers: { 'x-admin-password': ADMIN_PASSWORD, 'x-forwarded-for': '10.9.9.8' } })).status).toBe(200);
  });
});
