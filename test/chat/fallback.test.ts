import { createServer } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { type ChatTestApp, type Fakes, json, parseSse, useChatApp, userMsg } from './harness.ts';
import { finished, recordGovernance, type CallRecord } from './recording-governance.ts';

/** A loopback port nothing listens on (connection refused). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe.each(DIALECTS)('lane fallback on %s', (dialect) => {
  let f: Fakes;
  let t: ChatTestApp;
  let calls: CallRecord[];
  const auth = () => ({ authorization: `Bearer ${t.key}` });
  const lastCall = () => calls.at(-1);

  async function lane(model: string, targets: { provider: string; model: string }[], extra: Record<string, unknown> = {}) {
    const res = await t.admin('POST', '/admin/api/lanes', { provider: 'test', model, targets, ...extra });
    expect(res.status).toBe(201);
  }
  const chat = (model: string, path = '/api/gateway-chat') => t.req('POST', path, { body: { provider: 'test', model, messages: userMsg('fall back') }, headers: auth() });

  useChatApp(dialect, { UPSTREAM_MAX_RETRY_AFTER_MS: '2000' }, (ff, tt) => {
    f = ff;
    t = tt;
  });
  beforeAll(async () => {
    calls = recordGovernance(t.c).calls;
    const dead = await deadPort();
    expect((await t.admin('POST', '/admin/api/upstreams', { name: 'deadhost', base_url: `http://127.0.0.1:${dead}/v1` })).status).toBe(201);
    expect((await t.admin('PUT', '/admin/api/pricing', { provider: 'deadhost', model: 'm', input_micros_per_m: 1, output_micros_per_m: 1 })).status).toBe(200);
    await lane('oa-an', [{ provider: 'openai', model: 'gpt-4o-mini' }, { provider: 'anthropic', model: 'claude-3-5-haiku-latest' }]);
    await lane('oa-oa', [{ provider: 'openai', model: 'gpt-4o' }, { provider: 'openai', model: 'gpt-4o-mini' }]);
    await lane('oa-oa-gm', [{ provider: 'openai', model: 'gpt-4o' }, { provider: 'openai', model: 'gpt-4o-mini' }, { provider: 'gemini', model: 'gemini-2.5-flash' }]);
    await lane('dead-oa', [{ provider: 'deadhost', model: 'm' }, { provider: 'openai', model: 'gpt-4o-mini' }]);
    await lane('public', [{ provider: 'openai', model: 'gpt-4o-mini' }, { provider: 'gemini', model: 'gemini-2.5-flash' }], { report_public: true, display_provider: 'Acme AI' });
  });

  it('429 with retry-after on one upstream → the next upstream at once (no wait for another vendor)', async () => {
    f.openai.enqueue({ kind: 'error', status: 429, retryAfter: 1 });
    const t0 = Date.now();
    const res = await chat('oa-an');
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(800);
    expect(await res.json()).toMatchObject({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', requested_provider: 'test', requested_model: 'oa-an', output_text: 'Echo: fall back' });
    expect([f.openai.requests.length, f.anthropic.requests.length]).toEqual([1, 1]);
    const rec = await finished(lastCall);
    expect(rec.input.targets).toHaveLength(2);
    expect(rec.settles).toHaveLength(1);
    expect(rec.releases).toBe(0);
    expect(rec.settles[0]).toMatchObject({ target: { provider: 'anthropic' }, usageSource: 'provider', status: 'ok' });
  });

  it('429 with retry-after on the same upstream waits that long before the next target', async () => {
    f.openai.enqueue({ kind: 'error', status: 429, retryAfterMs: 400 });
    const t0 = Date.now();
    const res = await chat('oa-oa');
    const elapsed = Date.now() - t0;
    expect(res.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(f.openai.requests.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expect(f.openai.requests[1]!.receivedAt - f.openai.requests[0]!.receivedAt).toBeGreaterThanOrEqual(390);
    // The wait is upstream time, not gateway overhead.
    expect(Number(res.headers.get('x-kaixu-overhead-ms'))).toBeLessThan(300);
  });

  it('a retry-after longer than UPSTREAM_MAX_RETRY_AFTER_MS skips that upstream instead of waiting', async () => {
    f.openai.enqueue({ kind: 'error', status: 429, retryAfter: 30 });
    const t0 = Date.now();
    const res = await chat('oa-oa-gm');
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(800);
    expect(await res.json()).toMatchObject({ provider: 'gemini' });
    expect(f.openai.requests).toHaveLength(1);
  });

  it('5xx (and Anthropic 529) fall back; the last failure is reported when every target fails', async () => {
    f.openai.enqueue({ kind: 'error', status: 500 });
    let res = await chat('oa-an');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ provider: 'anthropic' });

    f.reset();
    f.openai.enqueue({ kind: 'error', status: 503 });
    f.anthropic.enqueue({ kind: 'error', status: 529 });
    res = await chat('oa-an');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'UPSTREAM_ERROR', provider: 'anthropic', upstream_status: 529 });
    const rec = await finished(lastCall);
    expect(rec.releases).toBe(1);
    expect(rec.settles).toHaveLength(0);
  });

  it('connection refused falls back to the next target', async () => {
    const res = await chat('dead-oa');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ provider: 'openai', output_text: 'Echo: fall back' });
  });

  it('a non-retryable upstream error (400) fails at once without trying the next target', async () => {
    f.openai.enqueue({ kind: 'error', status: 400, message: 'context too long' });
    const res = await chat('oa-an');
    expect(res.status).toBe(502);
    const j = (await res.json()) as { error: string; provider: string; upstream_status: number };
    expect(j).toMatchObject({ provider: 'openai', upstream_status: 400 });
    expect(j.error).toContain('context too long');
    expect(f.anthropic.requests).toHaveLength(0);
  });

  it('an upstream 401 is summarized (the vendor message can echo the credential)', async () => {
    f.openai.enqueue({ kind: 'error', status: 401, message: 'Incorrect API key provided: sk-abc***' });
    const res = await t.req('POST', '/api/gateway-chat', { body: { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg() }, headers: auth() });
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).not.toContain('sk-abc');
    expect(JSON.parse(text)).toMatchObject({ error: 'openai upstream error 401', upstream_status: 401 });
  });

  it('stream: failures before the first delta fall back; meta is sent before any upstream call', async () => {
    f.openai.enqueue({ kind: 'stream-error', afterFrames: 1 });
    const res = await chat('oa-an', '/api/gateway-stream');
    expect(res.status).toBe(200);
    const frames = parseSse(await res.text());
    expect(frames[0]!.event).toBe('meta');
    expect(frames.filter((x) => x.event === 'delta').map((x) => json<{ text: string }>(x).text).join('')).toBe('Echo: fall back');
    expect(json(frames.at(-1)!)).toMatchObject({ provider: 'anthropic' });
    expect(frames.at(-1)!.event).toBe('done');
    expect([f.openai.requests.length, f.anthropic.requests.length]).toEqual([1, 1]);
    const rec = await finished(lastCall);
    expect(rec.admittedAt).toBeLessThanOrEqual(f.openai.requests[0]!.receivedAt);
  });

  it('stream: no fallback once a delta went out — the seed stream ends with an error frame', async () => {
    f.openai.enqueue({ kind: 'cut', afterFrames: 3 });
    const res = await chat('oa-an', '/api/gateway-stream');
    const frames = parseSse(await res.text());
    expect(frames.map((x) => x.event)).toEqual(['meta', 'delta', 'delta', 'error']);
    expect(json(frames.at(-1)!)).toMatchObject({ code: 'UPSTREAM_ERROR', error: expect.stringContaining('ended before completion') });
    expect(f.anthropic.requests).toHaveLength(0);
    const rec = await finished(lastCall);
    expect(rec.settles).toEqual([expect.objectContaining({ status: 'upstream_cut', usageSource: 'estimated', target: { provider: 'openai', model: 'gpt-4o-mini' } })]);
    expect(rec.settles[0]!.usage.output_tokens).toBeGreaterThan(0);
  });

  it('/v1 stream cut mid-way: an error chunk, then the stream ends without [DONE]', async () => {
    f.openai.enqueue({ kind: 'cut', afterFrames: 3 });
    const res = await t.req('POST', '/v1/chat/completions', { body: { model: 'test/oa-an', messages: userMsg('a b c d'), stream: true }, headers: auth() });
    expect(res.status).toBe(200);
    const frames = parseSse(await res.text());
    expect(frames.map((x) => x.data)).not.toContain('[DONE]');
    expect(json(frames.at(-1)!)).toMatchObject({ error: { code: 'UPSTREAM_ERROR', type: 'api_error' } });
    expect(f.anthropic.requests).toHaveLength(0);
  });

  const v1Stream = () => t.req('POST', '/v1/chat/completions', { body: { model: 'test/oa-an', messages: userMsg('fall back'), stream: true }, headers: auth() });
  const v1Text = (frames: { data: string }[]) =>
    frames
      .filter((x) => x.data.startsWith('{'))
      .map((x) => json<{ choices?: { delta?: { content?: string } }[] }>(x).choices?.[0]?.delta?.content ?? '')
      .join('');

  it("/v1 stream: an error as the upstream's first event still falls back (nothing was sent yet)", async () => {
    f.openai.enqueue({ kind: 'stream-error', afterFrames: 0 });
    const res = await v1Stream();
    expect(res.status).toBe(200);
    const frames = parseSse(await res.text());
    expect(frames.at(-1)!.data).toBe('[DONE]');
    expect(v1Text(frames)).toBe('Echo: fall back');
    expect([f.openai.requests.length, f.anthropic.requests.length]).toEqual([1, 1]);
    expect((await finished(lastCall)).settles).toEqual([expect.objectContaining({ status: 'ok', target: { provider: 'anthropic', model: 'claude-3-5-haiku-latest' } })]);
  });

  it('/v1 stream: once the upstream streams, the role chunk is out: a failure before any text is an error chunk (no fallback), nothing billed', async () => {
    f.openai.enqueue({ kind: 'stream-error', afterFrames: 1 });
    const res = await v1Stream();
    expect(res.status).toBe(200);
    const frames = parseSse(await res.text());
    expect(json(frames[0]!)).toMatchObject({ choices: [{ delta: { role: 'assistant', content: '' } }] });
    expect(json(frames.at(-1)!)).toMatchObject({ error: { code: 'UPSTREAM_ERROR', provider: 'openai' } });
    expect(frames.map((x) => x.data)).not.toContain('[DONE]');
    expect(f.anthropic.requests).toHaveLength(0);
    const rec = await finished(lastCall);
    expect(rec.settles).toHaveLength(0);
    expect(rec.releases).toBe(1);
  });

  it('/v1 stream where no target can answer is a plain HTTP error (not a 200 stream)', async () => {
    f.openai.enqueue({ kind: 'error', status: 500 });
    f.anthropic.enqueue({ kind: 'error', status: 500 });
    const res = await t.req('POST', '/v1/chat/completions', { body: { model: 'test/oa-an', messages: userMsg(), stream: true }, headers: auth() });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'UPSTREAM_ERROR', provider: 'anthropic', upstream_status: 500 } });
    expect((await finished(lastCall)).releases).toBe(1);
  });

  it('malformed upstream JSON → 502 (non-stream) / error frame after the deltas already sent (stream)', async () => {
    f.openai.enqueue({ kind: 'malformed' });
    let res = await t.req('POST', '/api/gateway-chat', { body: { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg() }, headers: auth() });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 'UPSTREAM_ERROR', error: 'openai upstream returned a malformed response' });

    f.openai.enqueue({ kind: 'malformed', afterFrames: 2 });
    res = await t.req('POST', '/api/gateway-stream', { body: { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg('x y z') }, headers: auth() });
    const frames = parseSse(await res.text());
    expect(frames.map((x) => x.event)).toEqual(['meta', 'delta', 'error']);
    expect(json(frames.at(-1)!)).toMatchObject({ error: expect.stringContaining('malformed') });
  });

  it('a lane reporting public names hides the vendor in answers and errors', async () => {
    let res = await chat('public');
    expect(await res.json()).toMatchObject({ provider: 'Acme AI', model: 'public', requested_provider: 'test', requested_model: 'public' });
    res = await chat('public', '/api/gateway-stream');
    const frames = parseSse(await res.text());
    expect(json(frames[0]!)).toMatchObject({ provider: 'Acme AI', model: 'public' });
    expect(res.headers.get('content-type')).toContain('event-stream');

    f.openai.enqueue({ kind: 'error', status: 500 });
    f.gemini.enqueue({ kind: 'error', status: 500 });
    res = await chat('public');
    const body = await res.text();
    expect(res.status).toBe(502);
    expect(body).not.toMatch(/openai|gemini/);
    expect(JSON.parse(body)).toMatchObject({ provider: 'Acme AI', upstream_status: 500 });
  });

  it('the seeded kaixu/kaixu-chat lane answers from openai and reports its public names', async () => {
    const res = await t.req('POST', '/.netlify/functions/gateway-chat', { body: { provider: 'kaixu', model: 'kaixu-chat', messages: userMsg('hi') }, headers: auth() });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ provider: 'kAIxu', model: 'kaixu-chat', requested_provider: 'kaixu', requested_model: 'kaixu-chat', output_text: 'Echo: hi' });
    expect((f.openai.requests[0]!.body as { model: string }).model).toBe('gpt-4o-mini');
    const rec = await finished(lastCall);
    expect(rec.ctx).toMatchObject({ publicProvider: 'kaixu', publicModel: 'kaixu-chat', kind: 'chat' });
    expect(rec.input.targets).toEqual([
      { provider: 'openai', model: 'gpt-4o-mini' },
      { provider: 'anthropic', model: 'claude-3-5-haiku-latest' },
    ]);
    expect(rec.input.maxOutputTokens).toBe(1024);
  });
});
