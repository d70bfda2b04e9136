import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompletedRequest } from '../../src/http/observer.ts';
import { parseServerTiming } from '../../src/http/timing.ts';
import type { FakeBehavior } from '../fakes/behavior.ts';
import { DIALECTS } from '../helpers/db.ts';
import { liveServer, startFakes, userMsg, type Fakes, type LiveServer } from './harness.ts';

/**
 * The fast lane (src/http/fast-lane.ts) against the Hono app: two real gateways on the same
 * fakes, one with the lane (the default) and one with HTTP_FAST_LANE=false, get the same requests
 * in the same order. Status, headers, bodies, the observers' view of each request and the usage
 * ledger must be the same; the lane must serve exactly the cases it is meant to take.
 */

interface Sent {
  status: number;
  headers: Record<string, string>;
  text: string;
}

interface Send {
  path: string;
  body?: unknown;
  /** Raw bytes instead of JSON.stringify(body). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** Send the body in two chunks with Transfer-Encoding: chunked. */
  chunked?: boolean;
  /** Destroy the connection this many ms after sending. */
  abortAfterMs?: number;
  /** Send the headers first and the body this many ms later (same Content-Length). */
  lateBodyMs?: number;
  /** Send half the body, then close the connection. */
  cutBody?: boolean;
}

function send(base: string, s: Send): Promise<Sent> {
  const u = new URL(s.path, base);
  const payload = s.raw ?? JSON.stringify(s.body);
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...s.headers };
  if (!s.chunked) headers['content-length'] = String(buf.length);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      const done = () => resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, text });
      res.on('end', done);
      // A response cut by the client's own abort ends with 'close' only.
      res.on('close', done);
    });
    req.on('error', (e) => (s.abortAfterMs !== undefined || s.cutBody ? resolve({ status: 0, headers: {}, text: '' }) : reject(e)));
    if (s.chunked) {
      req.write(buf.subarray(0, 10));
      setTimeout(() => req.end(buf.subarray(10)), 20);
    } else if (s.lateBodyMs !== undefined) {
      req.flushHeaders();
      setTimeout(() => req.end(buf), s.lateBodyMs);
    } else if (s.cutBody) {
      req.write(buf.subarray(0, buf.length >> 1));
      setTimeout(() => req.destroy(), 30);
    } else req.end(buf);
    if (s.abortAfterMs !== undefined) setTimeout(() => req.destroy(), s.abortAfterMs);
  });
}

const VOLATILE_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** What must match between the two gateways: ids, times and durations replaced by their shape. */
function normalize(r: Sent, sentRequestId?: string) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    if (VOLATILE_HEADERS.has(k)) continue;
    if (k === 'x-kaixu-overhead-ms') headers[k] = /^\d+\.\d{3}$/.test(v) ? '<ms>' : `bad: ${v}`;
    else if (k === 'x-kaixu-request-id' || k === 'x-request-id') headers[k] = v === sentRequestId ? '<sent>' : /^req_[0-9a-f]+$/.test(v) ? '<new>' : `bad: ${v}`;
    else if (k === 'server-timing') headers[k] = Object.keys(parseServerTiming(v)).join(',');
    else if (k === 'ratelimit-reset' || k === 'retry-after') headers[k] = /^\d+$/.test(v) ? '<s>' : v;
    else headers[k] = v;
  }
  let body: unknown = r.text;
  if (r.headers['content-type']?.startsWith('application/json')) {
    body = JSON.parse(r.text, (k, v: unknown) => (k === 'id' || k === 'created' || k === 'request_id' ? `<${k}>` : v));
  } else if (r.headers['content-type']?.startsWith('text/event-stream')) {
    body = r.text.replace(/"(id|request_id)":"[^"]+"/g, '"$1":"<id>"').replace(/"created":\d+/g, '"created":0');
  }
  return { status: r.status, headers, body };
}

function observed(r: CompletedRequest) {
  const { info } = r;
  return {
    method: r.method,
    path: r.path,
    status: r.status,
    surface: r.surface,
    operation: info.operation,
    provider: info.provider,
    model: info.model,
    upstreamStatus: info.upstreamStatus,
    errorCode: info.errorCode,
    errorMessage: info.errorMessage,
    keyed: !!r.auth,
    app: r.app,
    build: r.build,
    userAgent: r.userAgent,
    ip: r.ip,
    thrown: r.thrown,
    bodyPreview: r.bodyPreview,
  };
}

const ORIGIN = 'https://app.example';
const v1 = (model = 'gpt-4o-mini', extra: Record<string, unknown> = {}) => ({ model, messages: userMsg('hello fast lane'), max_tokens: 64, ...extra });
const seed = (provider = 'openai', model = 'gpt-4o-mini', extra: Record<string, unknown> = {}) => ({ provider, model, messages: userMsg('hello seed lane'), max_tokens: 64, ...extra });

interface Case extends Send {
  name: string;
  /** Whether the fast lane (on the gateway that has it) serves this request itself. */
  fast: boolean;
  /** Queued on the fakes before each of the two sends. */
  behave?: { provider: 'openai' | 'anthropic' | 'gemini'; b: FakeBehavior };
  /** The key to call with: the server's default, none, or one made for the case. */
  key?: 'none' | 'bogus' | ((s: LiveServer) => Promise<string>);
}

const capped = async (s: LiveServer) => (await s.srv.container.customers.create({ email: `cap-${Math.random()}@example.com`, monthly_cap_cents: 1 }, { actor: 'test' })).master.key;
const disabled = async (s: LiveServer) => {
  const { customer, master } = await s.srv.container.customers.create({ email: `off-${Math.random()}@example.com` }, { actor: 'test' });
  await s.srv.container.customers.update(customer.id, { is_active: false }, { actor: 'test' });
  return master.key;
};

const CASES: Case[] = [
  {
    name: 'v1 → openai, with app/build/install/user-agent, an allowed Origin and a client request id',
    path: '/v1/chat/completions',
    body: v1(),
    headers: { 'x-kaixu-app': 'parity', 'x-kaixu-build': 'b7', 'x-kaixu-install-id': ' dev-1 ', 'user-agent': 'parity/1.0', origin: ORIGIN, 'x-kaixu-request-id': 'client-req-000123', 'x-forwarded-for': '198.51.100.7, 203.0.113.9' },
    fast: true,
  },
  { name: 'v1 → anthropic, Origin not allowed, x-request-id', path: '/v1/chat/completions', body: v1('claude-3-5-haiku-latest'), headers: { origin: 'https://evil.example', 'x-request-id': 'other-req-99999' }, fast: true },
  { name: 'v1 → gemini with Server-Timing', path: '/v1/chat/completions', body: v1('gemini-2.5-flash', { temperature: 0.2, stop: 'x' }), headers: { 'x-kaixu-server-timing': '1' }, fast: true },
  { name: 'v1 with content-type charset and a BOM', path: '/v1/chat/completions', raw: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(v1()))]), headers: { 'content-type': 'application/json; charset=utf-8' }, fast: true },
  { name: 'seed /api/gateway-chat → openai', path: '/api/gateway-chat', body: seed(), headers: { 'x-kaixu-install-id': 'seed-dev', 'x-kaixu-server-timing': '1' }, fast: true },
  { name: 'seed /.netlify/functions/gateway-chat → anthropic', path: '/.netlify/functions/gateway-chat', body: seed('anthropic', 'claude-3-5-haiku-latest'), fast: true },
  // What the schemas rewrite (trim, lower case) and their wider forms, through the lane's quick yes
  // (src/http/schema-accept.ts) on one side and zod on the other.
  {
    name: 'v1 with a padded model, text parts, a name and every sampling field',
    path: '/v1/chat/completions',
    body: v1(' gpt-4o-mini ', {
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'be brief' }], name: 'ops' },
        { role: 'user', content: 'hello fast lane' },
      ],
      temperature: 0.5,
      top_p: 1,
      stop: ['\n\n'],
      max_completion_tokens: 48,
      n: 1,
      user: 'u-1',
    }),
    fast: true,
  },
  { name: 'seed with a padded provider and model, and roles in any case', path: '/api/gateway-chat', body: seed(' openai ', ' gpt-4o-mini ', { messages: [{ role: ' System ', content: 'be brief' }, { role: 'USER', content: 'hello seed lane' }] }), fast: true },
  { name: 'v1 without a key → 401', path: '/v1/chat/completions', body: v1(), key: 'none', fast: true },
  { name: 'seed with a malformed key → 401', path: '/api/gateway-chat', body: seed(), key: 'bogus', headers: { 'x-forwarded-for': '203.0.113.10' }, fast: true },
  { name: 'v1 for a disabled customer → 403', path: '/v1/chat/completions', body: v1(), key: disabled, fast: true },
  { name: 'v1 with only empty messages → 400 from the route', path: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '  ' }] }, fast: true },
  { name: 'seed with only empty messages → the seed message', path: '/api/gateway-chat', body: seed('openai', 'gpt-4o-mini', { messages: [{ role: 'user', content: ' ' }] }), fast: true },
  { name: 'v1 with an unknown model', path: '/v1/chat/completions', body: v1('no-such-model-9'), fast: true },
  { name: 'seed with an unknown provider', path: '/api/gateway-chat', body: seed('nope', 'x'), fast: true },
  { name: 'v1 over the cap → 402, never sent upstream', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { max_tokens: 1_000_000 }), key: capped, fast: true },
  { name: 'v1 upstream 500 → 502', path: '/v1/chat/completions', body: v1(), behave: { provider: 'openai', b: { kind: 'error', status: 500 } }, fast: true },
  { name: 'seed upstream 429 with a long Retry-After', path: '/api/gateway-chat', body: seed(), behave: { provider: 'openai', b: { kind: 'error', status: 429, retryAfter: 120 } }, fast: true },
  { name: 'v1 upstream answer cut mid-body', path: '/v1/chat/completions', body: v1(), behave: { provider: 'openai', b: { kind: 'cut' } }, fast: true },
  { name: 'v1 whose body arrives 30 ms after its headers', path: '/v1/chat/completions', body: v1(), lateBodyMs: 30, fast: true },
  { name: 'v1 whose client leaves halfway through the body → the app (CLIENT_CLOSED)', path: '/v1/chat/completions', body: v1(), cutBody: true, fast: false },
  { name: 'v1 stream with usage, Server-Timing and an allowed Origin', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { stream: true, stream_options: { include_usage: true } }), headers: { origin: ORIGIN, 'x-kaixu-server-timing': '1' }, fast: true },
  { name: 'v1 stream → anthropic', path: '/v1/chat/completions', body: v1('claude-3-5-haiku-latest', { stream: true }), fast: true },
  { name: 'v1 stream, upstream 500 before any event → a plain 502', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { stream: true }), behave: { provider: 'openai', b: { kind: 'error', status: 500 } }, fast: true },
  { name: 'v1 stream cut by the upstream after 3 frames → an error frame', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { stream: true }), behave: { provider: 'openai', b: { kind: 'cut', afterFrames: 3 } }, fast: true },
  { name: 'v1 stream over the cap → 402', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { stream: true, max_tokens: 1_000_000 }), key: capped, fast: true },
  { name: 'seed /api/gateway-stream → gemini', path: '/api/gateway-stream', body: seed('gemini', 'gemini-2.5-flash'), headers: { 'x-kaixu-install-id': 'stream-dev' }, fast: true },
  { name: 'seed /.netlify/functions/gateway-stream, upstream 429 → meta, then an error frame', path: '/.netlify/functions/gateway-stream', body: seed(), behave: { provider: 'openai', b: { kind: 'error', status: 429, retryAfter: 120 } }, fast: true },
  { name: 'seed gateway-stream without a key → 401', path: '/api/gateway-stream', body: seed(), key: 'none', fast: true },
  { name: 'seed gateway-stream missing its model → the app (the seed message)', path: '/api/gateway-stream', body: { provider: 'openai', messages: userMsg() }, fast: false },
  { name: 'v1 with stream: 1 (not a boolean) → the app (400)', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { stream: 1 }), fast: false },
  { name: 'seed gateway-chat with stream: true (not a field of it) → the app (400)', path: '/api/gateway-chat', body: seed('openai', 'gpt-4o-mini', { stream: true }), fast: false },
  { name: 'v1 with malformed JSON → the app (400)', path: '/v1/chat/completions', raw: '{"model": "gpt-4o-mini", "messages": [', fast: false },
  { name: 'v1 with an empty body → the app (400)', path: '/v1/chat/completions', raw: '', fast: false },
  { name: 'v1 failing the schema, and no key → the app (401 first, as the app orders it)', path: '/v1/chat/completions', body: { model: 'gpt-4o-mini' }, key: 'none', fast: false },
  { name: 'seed missing its provider → the app (the seed message)', path: '/api/gateway-chat', body: { model: 'gpt-4o-mini', messages: userMsg() }, fast: false },
  { name: 'v1 with a query string → the app', path: '/v1/chat/completions?trace=1', body: v1(), fast: false },
  { name: 'v1 with a chunked body → the app', path: '/v1/chat/completions', body: v1(), chunked: true, fast: false },
  { name: 'v1 as text/plain → the app', path: '/v1/chat/completions', body: v1(), headers: { 'content-type': 'text/plain' }, fast: false },
  { name: 'v1 over MAX_BODY_BYTES → the app (413)', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { messages: userMsg('x'.repeat(5000)) }), fast: false },
];

describe.each(DIALECTS)('the fast lane on %s', (dialect) => {
  let f: Fakes;
  let lane: LiveServer;
  let app: LiveServer;
  const seen = new Map<LiveServer, CompletedRequest[]>();
  const env = { ALLOWED_ORIGINS: ORIGIN, MAX_BODY_BYTES: '4096', STREAM_PING_MS: '60000', TRUST_PROXY: 'true' };

  beforeAll(async () => {
    f = await startFakes();
    lane = await liveServer(dialect, f, env);
    app = await liveServer(dialect, f, { ...env, HTTP_FAST_LANE: 'false' });
    for (const s of [lane, app]) {
      const list: CompletedRequest[] = [];
      seen.set(s, list);
      // The data plane only (the heartbeat calls the gateway's own /health).
      s.srv.container.observers.push((r) => r.surface !== 'admin' && list.push(r));
    }
  });
  afterAll(async () => {
    await lane?.close();
    await app?.close();
    await f?.close();
  });

  const observedAfter = async (s: LiveServer, n: number) => {
    const list = seen.get(s)!;
    for (let i = 0; i < 100 && list.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    return list[n - 1]!;
  };

  async function call(s: LiveServer, c: Case): Promise<{ res: Sent; obs: CompletedRequest }> {
    f.reset();
    if (c.behave) f[c.behave.provider].enqueue(c.behave.b);
    const key = c.key === 'none' ? undefined : c.key === 'bogus' ? 'kx_live_not-a-key' : c.key ? await c.key(s) : s.key;
    const before = seen.get(s)!.length;
    const res = await send(s.url, { ...c, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...c.headers } });
    return { res, obs: await observedAfter(s, before + 1) };
  }

  it.each(CASES.map((c) => [c.name, c] as const))('%s: same answer and record from both pipelines', async (_name, c) => {
    const a = await call(lane, c);
    const b = await call(app, c);
    const sentId = c.headers?.['x-kaixu-request-id'] ?? c.headers?.['x-request-id'];
    expect(normalize(a.res, sentId)).toEqual(normalize(b.res, sentId));
    expect(observed(a.obs)).toEqual(observed(b.obs));
    expect(a.obs.info.lane).toBe(c.fast ? 'fast' : undefined);
    expect(b.obs.info.lane).toBeUndefined();
    if (c.fast && a.res.status === 200) expect(a.res.headers['x-kaixu-overhead-ms']).toBeDefined();
  });

  it('the client leaving mid-call: both pipelines record it alike (CLIENT_CLOSED)', async () => {
    const c: Case = { name: 'abort', path: '/v1/chat/completions', body: v1(), fast: true, behave: { provider: 'openai', b: { kind: 'ok', firstByteDelayMs: 400 } }, abortAfterMs: 80 };
    const a = await call(lane, c);
    const b = await call(app, c);
    expect(observed(a.obs)).toEqual(observed(b.obs));
    expect(a.obs.info.lane).toBe('fast');
    expect(a.obs.info.errorCode).toBe('CLIENT_CLOSED');
  });

  // The upstream stalls after 4 frames, so both clients leave at the same point of the answer.
  it('the client leaving mid-stream: both pipelines record it alike, the partial answer billed once', async () => {
    const c: Case = { name: 'abort stream', path: '/v1/chat/completions', body: v1('gpt-4o-mini', { stream: true }), fast: true, behave: { provider: 'openai', b: { kind: 'ok', chunks: 20, stallAfterFrames: 4 } }, abortAfterMs: 150 };
    const a = await call(lane, c);
    const b = await call(app, c);
    expect(observed(a.obs)).toEqual(observed(b.obs));
    expect(a.obs.info.lane).toBe('fast');
    expect(a.obs.durationMs).toBeGreaterThanOrEqual(140);
  });

  it('one keep-alive connection carries requests the lane hands to the app and requests it serves', async () => {
    for (const s of [lane, app]) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // Resolves with the status and whether the request went out on a reused connection.
        const post = (body: unknown) =>
          new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
            const payload = JSON.stringify(body);
            const u = new URL('/v1/chat/completions', s.url);
            const req = request(
              { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } },
              (res) => {
                res.resume();
                res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
              },
            );
            req.on('error', reject);
            req.end(payload);
          });
        // A handed-over request (a validation failure) between two the lane serves, on one connection;
        // the pauses outlast @hono/node-server's 500 ms drain timer for request bodies it did not
        // see end (the lane reads a body before handing its request over).
        expect(await post(v1('gpt-4o-mini', { stream: true }))).toEqual({ status: 200, reused: false });
        await new Promise((r) => setTimeout(r, 600));
        expect(await post({ model: 'gpt-4o-mini' })).toEqual({ status: 400, reused: true });
        await new Promise((r) => setTimeout(r, 600));
        expect(await post(v1())).toEqual({ status: 200, reused: true });
      } finally {
        agent.destroy();
      }
    }
  });

  it('the usage ledgers of the two gateways match call for call', async () => {
    const rows = (s: LiveServer) =>
      s.db.storage.db.selectFrom('usage_events').select(['status', 'provider', 'model', 'upstream_model', 'input_tokens', 'output_tokens', 'usage_source', 'cost_micros', 'app', 'build', 'install_id', 'ua', 'kind']).orderBy('id').execute();
    const [x, y] = await Promise.all([rows(lane), rows(app)]);
    expect(x.length).toBeGreaterThanOrEqual(8);
    expect(x.map((r) => ({ ...r, cost_micros: Number(r.cost_micros) }))).toEqual(y.map((r) => ({ ...r, cost_micros: Number(r.cost_micros) })));
  });
});
