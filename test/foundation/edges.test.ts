import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.each(DIALECTS)('request id and error envelope on %s', (dialect) => {
  let t: TestApp;
  const logLines: string[] = [];
  beforeAll(async () => {
    t = await makeTestApp(dialect, { logLines });
    // A route that fails with an unexpected error, registered before the first request.
    t.app.get('/admin/api/__boom', () => {
      throw new Error('internal detail: db password hunter2');
    });
    t.app.get('/api/__boom', () => {
      throw new Error('internal detail: db password hunter2');
    });
  });
  afterAll(async () => t?.close());

  it('gives every response an x-kaixu-request-id', async () => {
    const token = await t.adminToken();
    const responses = [
      await t.req('GET', '/health'),
      await t.req('GET', '/nope'),
      await t.req('GET', '/admin/api/customers'),
      await t.req('GET', '/admin/api/customers', { headers: { authorization: `Bearer ${token}` } }),
      await t.req('POST', '/admin/api/customers', { body: { email: 1 }, headers: { authorization: `Bearer ${token}` } }),
      await t.req('GET', '/.netlify/functions/push-whoami'),
      await t.req('OPTIONS', '/admin/api/customers', { headers: { origin: 'https://x.example', 'access-control-request-method': 'POST' } }),
      await t.req('GET', '/openapi.json'),
    ];
    const ids = responses.map((r) => r.headers.get('x-kaixu-request-id'));
    for (const id of ids) expect(id).toMatch(/^req_[0-9a-f]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('echoes a valid client request id (x-kaixu-request-id or x-request-id) and replaces an invalid one', async () => {
    const echo = await t.req('GET', '/health', { headers: { 'x-kaixu-request-id': 'client-trace:0001.a_b' } });
    expect(echo.headers.get('x-kaixu-request-id')).toBe('client-trace:0001.a_b');
    const alt = await t.req('GET', '/health', { headers: { 'x-request-id': 'upstream-lb-12345' } });
    expect(alt.headers.get('x-kaixu-request-id')).toBe('upstream-lb-12345');
    const inErr = await t.req('GET', '/.netlify/functions/push-whoami', { headers: { 'x-kaixu-request-id': 'client-trace-0002' } });
    expect(((await inErr.json()) as Json).request_id).toBe('client-trace-0002');
    for (const bad of ['short', 'has spaces in it', 'x'.repeat(129), '<script>alert(1)</script>', 'semi;colon;value']) {
      const res = await t.req('GET', '/health', { headers: { 'x-kaixu-request-id': bad } });
      expect(res.headers.get('x-kaixu-request-id')).toMatch(/^req_[0-9a-f]{24}$/);
    }
  });

  it('renders unknown errors as a generic 500 with no internals, logged without the stack', async () => {
    const admin = await t.req('GET', '/admin/api/__boom', { headers: { authorization: `Bearer ${await t.adminToken()}` } });
    expect(admin.status).toBe(500);
    const aj = (await admin.json()) as Json;
    expect(aj).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error', request_id: admin.headers.get('x-kaixu-request-id') } });
    const seed = await t.req('GET', '/api/__boom');
    expect(seed.status).toBe(500);
    expect(await seed.json()).toEqual({ error: 'Internal server error', code: 'INTERNAL', request_id: seed.headers.get('x-kaixu-request-id') });
    const logged = logLines.filter((l) => l.includes('unhandled error'));
    expect(logged.length).toBe(2);
    expect(logged[0]).toContain(admin.headers.get('x-kaixu-request-id'));
    expect(logged.join('\n')).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('answers unknown routes with 404 in the surface shape', async () => {
    const admin = await t.req('GET', '/admin/api/nothing-here');
    expect(admin.status).toBe(404);
    expect(((await admin.json()) as Json).error.code).toBe('NOT_FOUND');
    const seed = await t.req('GET', '/.netlify/functions/nothing-here');
    expect(seed.status).toBe(404);
    expect(((await seed.json()) as Json).error).toBe('Not found');
  });
});

describe.each(DIALECTS)('CORS on %s', (dialect) => {
  const apps: TestApp[] = [];
  const make = async (origins?: string) => {
    const t = await makeTestApp(dialect, origins === undefined ? {} : { env: { ALLOWED_ORIGINS: origins } });
    apps.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of apps) await t.close();
  });

  it('by default allows no cross origin (same origin only)', async () => {
    const t = await make();
    const res = await t.req('GET', '/health', { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/);
    const pre = await t.req('OPTIONS', '/admin/api/customers', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-methods')).toBeNull();
    expect(await pre.text()).toBe('');
  });

  it('echoes an exact ALLOWED_ORIGINS match with Vary: Origin, and nothing else', async () => {
    const t = await make('https://app.example.com, https://other.example');
    const ok = await t.req('GET', '/health', { headers: { origin: 'https://app.example.com' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('vary')).toMatch(/Origin/);
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-kaixu-request-id');
    for (const origin of ['https://app.example.com.evil.example', 'http://app.example.com', 'https://evil.example', 'null']) {
      const res = await t.req('GET', '/health', { headers: { origin } });
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
    const err = await t.req('GET', '/admin/api/customers', { headers: { origin: 'https://other.example' } });
    expect(err.status).toBe(401);
    expect(err.headers.get('access-control-allow-origin')).toBe('https://other.example');

    const pre = await t.req('OPTIONS', '/v1/chat/completions', {
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(pre.headers.get('access-control-allow-headers')).toContain('x-kaixu-install-id');
    expect(pre.headers.get('access-control-max-age')).toBe('86400');
    expect(pre.headers.get('vary')).toMatch(/Origin/);
  });

  it('with * allows any origin', async () => {
    const t = await make('*');
    const res = await t.req('GET', '/health', { headers: { origin: 'https://anything.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://anything.example');
    const pre = await t.req('OPTIONS', '/.netlify/functions/gateway-chat', { headers: { origin: 'https://anything.example', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://anything.example');
  });
});
