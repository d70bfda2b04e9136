import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { useChatApp, userMsg, type ChatTestApp, type Fakes } from './harness.ts';

type UpstreamView = { name: string; builtin: boolean; has_api_key: boolean; header_names: string[]; base_url: string; is_active: boolean; configured: boolean };

describe.each(DIALECTS)('admin upstreams on %s', (dialect) => {
  let f: Fakes;
  let t: ChatTestApp;
  const SECRET = 'sk-groq-very-secret-value-42';
  const auth = () => ({ authorization: `Bearer ${t.key}` });
  const chat = (provider: string, model = 'llama-3.1-8b-instant') =>
    t.req('POST', '/api/gateway-chat', { body: { provider, model, messages: userMsg('via groq') }, headers: auth() });

  // No Gemini key: the built-in is listed but not configured.
  useChatApp(dialect, { GEMINI_API_KEY: '' }, (ff, tt) => {
    f = ff;
    t = tt;
  });
  beforeAll(async () => {
    await t.admin('PUT', '/admin/api/pricing', { provider: 'groq', model: 'llama-3.1-8b-instant', input_micros_per_m: 50_000, output_micros_per_m: 80_000 });
  });

  it('lists the built-ins from the environment, read-only, without credentials', async () => {
    const res = await t.admin('GET', '/admin/api/upstreams');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(f.openai.apiKey);
    const { upstreams } = JSON.parse(text) as { upstreams: UpstreamView[] };
    expect(upstreams.slice(0, 3)).toEqual([
      expect.objectContaining({ name: 'openai', builtin: true, has_api_key: true, configured: true, base_url: f.openai.baseUrl }),
      expect.objectContaining({ name: 'anthropic', builtin: true, has_api_key: true }),
      expect.objectContaining({ name: 'gemini', builtin: true, has_api_key: false, configured: false }),
    ]);
    expect((await t.admin('PATCH', '/admin/api/upstreams/openai', { is_active: false })).status).toBe(409);
    expect((await t.admin('DELETE', '/admin/api/upstreams/openai')).status).toBe(409);
    expect((await t.admin('POST', '/admin/api/upstreams', { name: 'openai', base_url: 'http://x.test/v1' })).status).toBe(409);
  });

  it('an unconfigured built-in is 501 before anything is sent', async () => {
    const res = await t.req('POST', '/api/gateway-chat', { body: { provider: 'gemini', model: 'gemini-2.5-flash', messages: userMsg() }, headers: auth() });
    expect(res.status).toBe(501);
    expect(await res.json()).toMatchObject({ code: 'NOT_CONFIGURED', error: expect.stringContaining('GEMINI_API_KEY') });
    expect(f.gemini.requests).toHaveLength(0);
  });

  it('refuses bad input and writes nothing', async () => {
    const bad = [
      { name: 'Groq!', base_url: 'http://x.test/v1' },
      { name: 'groq', base_url: 'ftp://x.test/v1' },
      { name: 'groq', base_url: 'http://x.test/v1', headers: { 'bad header': 'v' } },
      { name: 'groq', base_url: 'http://x.test/v1', headers: { 'x-a': 'line\r\nbreak' } },
      { name: 'groq', base_url: 'http://x.test/v1', headers: { host: 'evil' } },
      { name: 'groq', base_url: 'http://x.test/v1', idle_timeout_ms: 0 },
      { name: 'groq', base_url: 'http://x.test/v1', extra: 1 },
    ];
    for (const body of bad) expect((await t.admin('POST', '/admin/api/upstreams', body)).status, JSON.stringify(body)).toBe(400);
    expect(await t.c.storage.db.selectFrom('upstreams').selectAll().execute()).toEqual([]);
    expect((await t.req('GET', '/admin/api/upstreams')).status).toBe(401);
  });

  it('registers an OpenAI-compatible upstream: credential sealed, calls reach it, changes apply at once', async () => {
    const created = await t.admin('POST', '/admin/api/upstreams', { name: 'groq', base_url: `${f.openai.baseUrl}/`, api_key: SECRET, headers: { 'x-extra': 'hello' } });
    expect(created.status).toBe(201);
    const body = await created.text();
    expect(body).not.toContain(SECRET);
    expect(JSON.parse(body)).toMatchObject({ upstream: { name: 'groq', builtin: false, has_api_key: true, header_names: ['x-extra'], base_url: f.openai.baseUrl } });
    const row = await t.c.storage.db.selectFrom('upstreams').selectAll().where('name', '=', 'groq').executeTakeFirstOrThrow();
    expect(row.api_key_sealed).toMatch(/^v1:/);
    expect(JSON.stringify(row)).not.toContain(SECRET);
    expect(JSON.stringify(row)).not.toContain('hello');
    const audit = await t.c.storage.db.selectFrom('audit_events').selectAll().where('action', '=', 'UPSTREAM_CREATE').execute();
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(SECRET);

    // The fake checks the bearer; the upstream's key is the fake's key, so first use the secret → 401 upstream.
    let res = await chat('groq');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ provider: 'groq', upstream_status: 401 });
    expect(f.openai.requests[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(f.openai.requests[0]!.headers['x-extra']).toBe('hello');

    expect((await t.admin('PATCH', '/admin/api/upstreams/groq', { api_key: f.openai.apiKey })).status).toBe(200);
    res = await chat('groq');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ provider: 'groq', model: 'llama-3.1-8b-instant', output_text: 'Echo: via groq' });
    // The compatible dialect sends max_tokens (not max_completion_tokens).
    expect(f.openai.last()!.body).toMatchObject({ model: 'llama-3.1-8b-instant', max_tokens: 1024 });

    expect((await t.admin('PATCH', '/admin/api/upstreams/groq', { is_active: false })).status).toBe(200);
    res = await chat('groq');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'UNKNOWN_PROVIDER' });
    expect((await t.admin('PATCH', '/admin/api/upstreams/groq', { is_active: true })).status).toBe(200);
  });

  it('a per-upstream first-byte timeout overrides the default → 504', async () => {
    expect((await t.admin('PATCH', '/admin/api/upstreams/groq', { first_byte_timeout_ms: 150, api_key: f.openai.apiKey })).status).toBe(200);
    f.openai.enqueue({ kind: 'hang' });
    const t0 = Date.now();
    const res = await chat('groq');
    expect(res.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(await res.json()).toMatchObject({ code: 'UPSTREAM_TIMEOUT', timeout: 'first_byte', provider: 'groq' });
    // The built-in openai keeps the global default (120 s) and is unaffected.
    const view = (await (await t.admin('GET', '/admin/api/upstreams/groq')).json()) as { upstream: { first_byte_timeout_ms: number } };
    expect(view.upstream.first_byte_timeout_ms).toBe(150);
  });

  it('a per-upstream connect timeout: an https upstream whose handshake never completes → 502 within the timeout, next target tried', async () => {
    // Accepts TCP but never answers the TLS ClientHello: the connection is never established.
    const sockets: Socket[] = [];
    const silent = createServer((sock) => sockets.push(sock));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const before = (await (await t.admin('GET', '/admin/api/upstreams/groq')).json()) as { upstream: { base_url: string } };
      const base = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/v1`;
      expect((await t.admin('PATCH', '/admin/api/upstreams/groq', { base_url: base, connect_timeout_ms: 150, first_byte_timeout_ms: 10_000 })).status).toBe(200);
      const t0 = Date.now();
      const res = await chat('groq');
      // undici arms connect timeouts on its coarse timer wheel (≈ 0.5–1 s resolution): 150 ms fires within ~1 s.
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ code: 'UPSTREAM_ERROR', timeout: 'connect', provider: 'groq' });
      expect(sockets.length).toBeGreaterThan(0); // it did try to connect

      // A connect timeout is retryable: a lane falls through to its next target.
      const lane = await t.admin('POST', '/admin/api/lanes', {
        provider: 'steady',
        model: 'steady-chat',
        targets: [
          { provider: 'groq', model: 'llama-3.1-8b-instant' },
          { provider: 'openai', model: 'gpt-4o-mini' },
        ],
      });
      expect(lane.status).toBe(201);
      const laneId = ((await lane.json()) as { lane: { id: string } }).lane.id;
      const served = await t.req('POST', '/api/gateway-chat', { body: { provider: 'steady', model: 'steady-chat', messages: userMsg('hi') }, headers: auth() });
      expect(served.status).toBe(200);
      expect(f.openai.requests.length).toBeGreaterThan(0);
      expect((await t.admin('DELETE', `/admin/api/lanes/${laneId}`)).status).toBe(200);
      expect((await t.admin('PATCH', '/admin/api/upstreams/groq', { base_url: before.upstream.base_url, connect_timeout_ms: null })).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('an upstream still used by a lane cannot be deleted; afterwards it can', async () => {
    const lane = await t.admin('POST', '/admin/api/lanes', { provider: 'fast', model: 'fast-chat', targets: [{ provider: 'groq', model: 'llama-3.1-8b-instant' }] });
    expect(lane.status).toBe(201);
    const laneId = ((await lane.json()) as { lane: { id: string } }).lane.id;
    const res = await t.admin('DELETE', '/admin/api/upstreams/groq');
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'CONFLICT', lanes: [laneId] } });
    expect((await t.admin('DELETE', `/admin/api/lanes/${laneId}`)).status).toBe(200);
    expect((await t.admin('DELETE', '/admin/api/upstreams/groq')).status).toBe(200);
    expect((await t.admin('GET', '/admin/api/upstreams/groq')).status).toBe(404);
    expect((await t.admin('DELETE', '/admin/api/upstreams/groq')).status).toBe(404);
  });
});
