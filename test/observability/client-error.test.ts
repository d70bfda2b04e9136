import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

interface Ev {
  level: string;
  kind: string;
  operation: string;
  path: string | null;
  app: string | null;
  build: string | null;
  error_code: string | null;
  error_message: string | null;
  body_preview: string | null;
  user_agent: string | null;
  ip: string | null;
  extra: Record<string, unknown>;
}

const report = {
  client: { url: 'https://app.example.com/page?x=1', route: '/page', lineno: 12, colno: '7', user_agent: 'Mozilla/5.0 test', viewport: { w: 800, h: 600 }, tags: ['a'] },
  error: { name: 'TypeError', message: 'x is undefined', stack: 'TypeError: x is undefined\n    at f (app.js:12:7)' },
  context: { step: 'checkout' },
  somethingElse: { browsers: 'send extra fields' },
};

describe.each(DIALECTS)('client-error-report on %s', (dialect) => {
  let t: TestApp;
  const byRequest = async (rid: string): Promise<Ev[]> => {
    await t.c.monitor.writer.flush();
    const res = await t.admin('GET', `/admin/api/monitor/events?kind=client_error&request_id=${rid}`);
    return ((await res.json()) as { events: Ev[] }).events;
  };

  beforeAll(async () => {
    t = await makeTestApp(dialect, { env: { MONITOR_FLUSH_MS: '60000', CLIENT_ERROR_PER_IP_PER_MIN: '1000' } });
  });
  afterAll(async () => t?.close());

  it.each(['/.netlify/functions/client-error-report', '/api/client-error-report'])('records a report posted to %s', async (path) => {
    const res = await t.req('POST', path, { body: report, headers: { 'x-kaixu-app': 'ShopUI', 'x-kaixu-build': '2026.3', 'x-forwarded-for': '10.9.9.9' } });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { ok: boolean; request_id: string };
    expect(j.ok).toBe(true);
    expect(j.request_id).toBe(res.headers.get('x-kaixu-request-id'));
    const [ev, ...rest] = await byRequest(j.request_id);
    expect(rest).toHaveLength(0);
    expect(ev).toMatchObject({
      level: 'error',
      kind: 'client_error',
      operation: 'seed.client_error_report',
      path: 'https://app.example.com/page?x=1',
      app: 'ShopUI',
      build: '2026.3',
      error_code: 'TypeError',
      error_message: 'x is undefined',
      user_agent: 'Mozilla/5.0 test',
      ip: '10.9.9.9',
    });
    expect(ev!.body_preview).toContain('at f (app.js:12:7)');
    expect(ev!.extra).toMatchObject({ client: { route: '/page', viewport: { w: 800, h: 600 } }, context: { step: 'checkout' } });
  });

  it('accepts sendBeacon (text/plain), `err` and string errors', async () => {
    const res = await t.app.request('/api/client-error-report', {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ client: { href: 'https://a.example/' }, err: 'Script error.' }),
    });
    expect(res.status).toBe(200);
    const [ev] = await byRequest(((await res.json()) as { request_id: string }).request_id);
    expect(ev).toMatchObject({ path: 'https://a.example/', error_code: 'ClientError', error_message: 'Script error.' });
  });

  it('scrubs key material and NUL bytes before storing', async () => {
    const key = 'kx_live_' + 'A'.repeat(48);
    const res = await t.req('POST', '/api/client-error-report', { body: { error: { name: 'E', message: `failed with ${key}\u0000` }, context: { auth: `Bearer ${key}` } } });
    expect(res.status).toBe(200);
    const [ev] = await byRequest(((await res.json()) as { request_id: string }).request_id);
    expect(JSON.stringify(ev)).not.toContain('A'.repeat(20));
    expect(ev!.error_message).toBe('failed with kx_live_[REDACTED]');
  });

  it('enforces the 250 000-character limit with a clear 413', async () => {
    const pad = (n: number) => {
      const base = JSON.stringify({ error: { message: '' } });
      return JSON.stringify({ error: { message: 'x'.repeat(n - base.length) } });
    };
    const exact = pad(250_000);
    expect(exact.length).toBe(250_000);
    expect((await t.req('POST', '/api/client-error-report', { raw: exact, headers: { 'content-type': 'application/json' } })).status).toBe(400); // message > 20 000: typed limit
    const big = JSON.stringify({ raw: 'y'.repeat(250_000 - 10) });
    expect(big.length).toBe(250_000);
    const ok = await t.req('POST', '/api/client-error-report', { raw: big, headers: { 'content-type': 'application/json' } });
    expect(ok.status).toBe(200);
    const over = await t.req('POST', '/api/client-error-report', { raw: big.slice(0, -2) + 'yy"}', headers: { 'content-type': 'application/json' } });
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: 'Error report exceeds 250000 characters', code: 'PAYLOAD_TOO_LARGE' });
  });

  it('rejects bad JSON and wrong shapes in the seed error format', async () => {
    const bad = await t.req('POST', '/api/client-error-report', { raw: '{nope', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'Invalid JSON body' });
    const arr = await t.req('POST', '/api/client-error-report', { body: [1, 2] });
    expect(arr.status).toBe(400);
    const typed = await t.req('POST', '/api/client-error-report', { body: { error: { message: 42 } } });
    expect(typed.status).toBe(400);
    expect(((await typed.json()) as { error: string }).error).toContain('body.error');
  });

  it('counts reports per IP', async () => {
    const t2 = await makeTestApp(dialect, { env: { CLIENT_ERROR_PER_IP_PER_MIN: '2' } });
    try {
      const send = (ip: string) => t2.req('POST', '/api/client-error-report', { body: report, headers: { 'x-forwarded-for': ip } });
      expect((await send('10.0.0.1')).status).toBe(200);
      expect((await send('10.0.0.1')).status).toBe(200);
      const third = await send('10.0.0.1');
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await send('10.0.0.2')).status).toBe(200);
    } finally {
      await t2.close();
    }
  });
});

describe.each(DIALECTS)('client-error-report with CLIENT_ERROR_TOKEN on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect, { env: { CLIENT_ERROR_TOKEN: 'browser-token-123', MAX_BODY_BYTES: '102400' } });
  });
  afterAll(async () => t?.close());

  it('requires the token', async () => {
    const none = await t.req('POST', '/.netlify/functions/client-error-report', { body: report });
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({ error: 'Forbidden' });
    expect((await t.req('POST', '/api/client-error-report', { body: report, headers: { 'x-kaixu-error-token': 'wrong' } })).status).toBe(403);
    expect((await t.req('POST', '/api/client-error-report', { body: report, headers: { 'x-kaixu-error-token': 'browser-token-123' } })).status).toBe(200);
  });

  it('a lower global MAX_BODY_BYTES still answers 413', async () => {
    const res = await t.req('POST', '/api/client-error-report', { raw: JSON.stringify({ raw: 'z'.repeat(150_000) }), headers: { 'content-type': 'application/json', 'x-kaixu-error-token': 'browser-token-123' } });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
  });
});
