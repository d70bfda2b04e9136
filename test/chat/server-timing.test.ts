import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseServerTiming } from '../../src/http/timing.ts';
import { DIALECTS } from '../helpers/db.ts';
import { liveServer, startFakes, userMsg, type Fakes, type LiveServer } from './harness.ts';
import { postStream } from './http-client.ts';

const ASK = { 'x-kaixu-server-timing': '1' };
const SEQUENTIAL = ['body', 'auth', 'parse', 'admit', 'upstream', 'settle', 'respond'];

describe.each(DIALECTS)('Server-Timing on request (%s, real sockets)', (dialect) => {
  let f: Fakes;
  let s: LiveServer;

  beforeAll(async () => {
    f = await startFakes();
    s = await liveServer(dialect, f, { ALLOWED_ORIGINS: 'https://app.example' });
  });
  afterAll(async () => {
    await s?.close();
    await f?.close();
  });
  beforeEach(() => f.reset());

  async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await request(`${s.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}`, ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
  }

  it.each([
    ['/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('time me') }],
    ['/.netlify/functions/gateway-chat', { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg('time me') }],
  ])('%s: every phase of an answered call, adding up to the total; the upstream wait is the upstream’s', async (path, body) => {
    f.openai.enqueue({ kind: 'ok', firstByteDelayMs: 60 });
    const r = await post(path, body, ASK);
    expect(r.status).toBe(200);
    const t = parseServerTiming(r.headers['server-timing'] as string);
    expect(Object.keys(t)).toEqual([...SEQUENTIAL, 'total', 'overhead']);
    for (const v of Object.values(t)) expect(v).toBeGreaterThanOrEqual(0);
    // The fake waited 60 ms before its headers; the gateway's own phases are not that slow.
    expect(t.upstream).toBeGreaterThanOrEqual(59);
    expect(t.settle).toBeGreaterThan(0);
    expect(t.admit).toBeGreaterThan(0);
    const sum = SEQUENTIAL.reduce((a, k) => a + t[k]!, 0);
    expect(Math.abs(sum - t.total!)).toBeLessThan(0.01);
    expect(t.overhead).toBeCloseTo(t.total! - t.upstream!, 2);
    // The same overhead as the header every data-plane answer carries.
    expect(Number(r.headers['x-kaixu-overhead-ms'])).toBeCloseTo(t.overhead!, 2);
  });

  it('is measured only when asked: no header without x-kaixu-server-timing: 1, nor on the admin API', async () => {
    const plain = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('no timing') });
    expect(plain.status).toBe(200);
    expect(plain.headers['server-timing']).toBeUndefined();
    expect(plain.headers['x-kaixu-overhead-ms']).toMatch(/^\d+\.\d{3}$/);
    const other = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('no timing') }, { 'x-kaixu-server-timing': 'yes please' });
    expect(other.headers['server-timing']).toBeUndefined();
    const admin = await request(`${s.url}/admin/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...ASK }, body: '{"password":"wrong"}' });
    await admin.body.text();
    expect(admin.headers['server-timing']).toBeUndefined();
  });

  it('a refused call shows the phases it went through', async () => {
    const bad = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('x') }, { ...ASK, authorization: 'Bearer kx_live_not-a-real-key-at-all-000000000000' });
    expect(bad.status).toBe(401);
    expect(Object.keys(parseServerTiming(bad.headers['server-timing'] as string))).toEqual(['body', 'respond', 'total', 'overhead']);
    const invalid = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [], temperature: 9 }, ASK);
    expect(invalid.status).toBe(400);
    expect(Object.keys(parseServerTiming(invalid.headers['server-timing'] as string))).toEqual(['body', 'auth', 'respond', 'total', 'overhead']);
  });

  it('a stream carries it with its headers: up to the first upstream event, before any settle; CORS exposes it', async () => {
    f.openai.setDefault({ kind: 'ok', chunks: 3, chunkDelayMs: 20, firstByteDelayMs: 40 });
    const st = await postStream(s.url, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('stream'), stream: true }, { authorization: `Bearer ${s.key}`, origin: 'https://app.example', ...ASK });
    await st.ended;
    const t = parseServerTiming(st.res.headers['server-timing'] as string);
    expect(Object.keys(t)).toEqual(['body', 'auth', 'parse', 'admit', 'upstream', 'respond', 'total', 'overhead']);
    expect(t.upstream).toBeGreaterThanOrEqual(39);
    expect(t.total).toBeLessThan(40 + 3 * 20);
    expect(st.res.headers['access-control-expose-headers']).toContain('server-timing');
    expect(st.text()).toContain('data: [DONE]');
  });

  // The fake's 7 frames (role, 3 pieces, finish, usage, [DONE]) go out 20 ms apart from the first.
  const PACED = { kind: 'ok', chunks: 3, chunkDelayMs: 20 } as const;
  const TRAILER = ['relay', 'settle', 'close', 'stream'];

  it.each([
    ['/v1/chat/completions', 'fast lane', { model: 'gpt-4o-mini', messages: userMsg('stream'), stream: true }],
    ['/v1/chat/completions?via=app', 'the app', { model: 'gpt-4o-mini', messages: userMsg('stream'), stream: true }],
    ['/.netlify/functions/gateway-stream', 'fast lane', { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg('stream') }],
  ])('%s (%s): the rest of a stream comes in a Server-Timing trailer — relayed, settled, closed', async (path, _lane, body) => {
    f.openai.setDefault(PACED);
    const st = await postStream(s.url, path, body, { authorization: `Bearer ${s.key}`, ...ASK });
    await st.ended;
    expect(st.res.headers.trailer).toBe('server-timing');
    expect(st.res.headers['transfer-encoding']).toBe('chunked');
    const head = parseServerTiming(st.res.headers['server-timing'] as string);
    expect(head.settle).toBeUndefined();
    const t = parseServerTiming(st.res.trailers['server-timing'] as string);
    expect(Object.keys(t)).toEqual(TRAILER);
    for (const v of Object.values(t)) expect(v).toBeGreaterThanOrEqual(0);
    // The headers leave with the first frame, the settle starts after the last: 6 × 20 ms apart,
    // less however late the first one left on a busy machine (the fake keeps its own clock).
    expect(t.relay).toBeGreaterThanOrEqual(4 * 20);
    expect(t.settle).toBeGreaterThan(0);
    expect(Math.abs(t.relay! + t.settle! + t.close! - t.stream!)).toBeLessThan(0.01);
    expect(t.stream).toBeLessThan(6 * 20 + 1_000);
  });

  it('a stream that ends with nothing to bill (cut before any text) has no settle in its trailer: the relay is the whole stream', async () => {
    f.openai.enqueue({ kind: 'cut', afterFrames: 1 });
    const st = await postStream(s.url, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('cut'), stream: true }, { authorization: `Bearer ${s.key}`, ...ASK });
    await st.ended;
    expect(st.text()).toContain('"error"');
    const t = parseServerTiming(st.res.trailers['server-timing'] as string);
    expect(Object.keys(t)).toEqual(['relay', 'stream']);
    expect(t.relay).toBe(t.stream);
  });

  it('no trailer unless asked', async () => {
    f.openai.setDefault(PACED);
    const st = await postStream(s.url, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('stream'), stream: true }, { authorization: `Bearer ${s.key}` });
    await st.ended;
    expect(st.text()).toContain('data: [DONE]');
    expect(st.res.headers.trailer).toBeUndefined();
    expect(st.res.trailers).toEqual({});
  });

  it('an HTTP/1.0 client (no chunked bodies) that asks gets the whole stream, without a trailer', async () => {
    f.openai.setDefault(PACED);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: userMsg('old client'), stream: true });
    const u = new URL(s.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(
          `POST /v1/chat/completions HTTP/1.0\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${s.key}\r\n` +
            `x-kaixu-server-timing: 1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      });
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (buf += d));
      sock.on('end', () => resolve(buf));
      sock.on('error', reject);
    });
    const [head, rest] = raw.split('\r\n\r\n', 2) as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head.toLowerCase()).toContain('server-timing: body;dur=');
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(head.toLowerCase()).not.toContain('trailer');
    expect(rest).toContain('data: [DONE]');
  });
});
