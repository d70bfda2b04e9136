import { request, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { json, liveServer, startFakes, userMsg, type Fakes, type LiveServer } from './harness.ts';
import { postStream } from './http-client.ts';
import { finished, recordGovernance, type CallRecord } from './recording-governance.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deltas = (frames: { event?: string }[]) => frames.filter((x) => x.event === 'delta').length;

describe.each(DIALECTS)('streaming over real sockets on %s', (dialect) => {
  let f: Fakes;
  let s: LiveServer;
  let calls: CallRecord[];
  const auth = () => ({ authorization: `Bearer ${s.key}` });
  const seedBody = { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg('stream please') };

  beforeAll(async () => {
    f = await startFakes();
    s = await liveServer(dialect, f, { STREAM_PING_MS: '100', UPSTREAM_IDLE_TIMEOUT_MS: '400', ALLOWED_ORIGINS: 'https://app.example' });
    calls = recordGovernance(s.srv.container).calls;
  });
  afterAll(async () => {
    await s?.close();
    await f?.close();
  });
  beforeEach(() => f.reset());

  async function usageRow(requestId: string) {
    return s.srv.container.storage.db.selectFrom('usage_events').selectAll().where('request_id', '=', requestId).executeTakeFirst();
  }

  /** Streams until 3 deltas arrived, then drops the connection; returns how long the upstream socket stayed open. */
  async function disconnectMidStream(path: string, body: unknown) {
    f.openai.setDefault({ kind: 'ok', chunks: 100, chunkDelayMs: 50 });
    const st = await postStream(s.url, path, body, auth());
    const requestId = st.res.headers['x-kaixu-request-id'] as string;
    await st.until((fr) => fr.filter((x) => x.event === 'delta' || x.data.includes('"content":"t')).length >= 3);
    const upstream = f.openai.last()!;
    expect(upstream.socketClosedAt).toBeUndefined();
    const cutAt = st.destroy();
    const closedAt = await f.openai.waitForSocketClose(upstream, 2_000);
    return { latencyMs: closedAt - cutAt, upstream, requestId };
  }

  it.each([
    ['seed', '/.netlify/functions/gateway-stream', seedBody],
    ['v1', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('stream please'), stream: true }],
  ])('%s: a client disconnect closes the upstream socket within 100 ms and bills what was generated', async (_n, path, body) => {
    // One unmeasured round first: the first pass through these code paths pays for JIT compilation.
    await disconnectMidStream(path, body);
    await finished(() => calls.at(-1));
    const { latencyMs, upstream, requestId } = await disconnectMidStream(path, body);
    expect(latencyMs).toBeLessThan(100);
    expect(upstream.completed).toBe(false);
    expect(upstream.framesSent).toBeLessThan(50);

    const rec = await finished(() => calls.at(-1));
    expect(rec.releases).toBe(0);
    expect(rec.settles).toEqual([expect.objectContaining({ status: 'client_disconnect', usageSource: 'estimated' })]);
    expect(rec.settles[0]!.usage.output_tokens).toBeGreaterThanOrEqual(3);
    await expect.poll(() => usageRow(requestId)).toMatchObject({ status: 'client_disconnect', usage_source: 'estimated' });
  });

  it('non-stream: a client that leaves while the upstream is thinking aborts it, and nothing is billed', async () => {
    f.openai.enqueue({ kind: 'ok', firstByteDelayMs: 3_000 });
    const u = new URL('/api/gateway-chat', s.url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...auth(), 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    req.end(JSON.stringify(seedBody));
    const upstream = await f.openai.nextRequest();
    await sleep(50);
    const cutAt = Date.now();
    req.destroy();
    const closedAt = await f.openai.waitForSocketClose(upstream, 2_000);
    expect(closedAt - cutAt).toBeLessThan(100);
    const rec = await finished(() => calls.at(-1));
    expect(rec.releases).toBe(1);
    expect(rec.settles).toHaveLength(0);
  });

  it('forwards each upstream chunk as it arrives (no coalescing, no added delay) and pings while idle', async () => {
    f.openai.setDefault({ kind: 'ok', chunks: 6, chunkDelayMs: 150 });
    const st = await postStream(s.url, '/api/gateway-stream', seedBody, auth());
    await st.ended;
    const frames = st.frames();
    expect(frames[0]!.event).toBe('meta');
    expect(frames.at(-1)!.event).toBe('done');
    expect(deltas(frames)).toBe(6);
    // Pings (every 100 ms) arrive between deltas (150 ms apart): the stream is not buffered.
    const pings = frames.filter((x) => x.event === 'ping');
    expect(pings.length).toBeGreaterThanOrEqual(3);
    expect(json<{ t: number }>(pings[0]!).t).toBeGreaterThan(Date.now() - 60_000);
    // Each delta arrived in its own read, on the upstream's schedule (150 ms apart).
    const deltaTimes = st.chunks.filter((c) => c.text.includes('event: delta')).map((c) => c.at);
    expect(deltaTimes).toHaveLength(6);
    for (let i = 1; i < deltaTimes.length; i++) {
      const gap = deltaTimes[i]! - deltaTimes[i - 1]!;
      expect(gap).toBeGreaterThan(100);
      expect(gap).toBeLessThan(260);
    }
  });

  it('v1: the headers and the role chunk go out as soon as the upstream streams, not with the first text', async () => {
    // The fake sends its role frame at once, then waits 400 ms before each text frame.
    f.openai.setDefault({ kind: 'ok', chunks: 1, chunkDelayMs: 400 });
    const t0 = performance.now();
    const st = await postStream(s.url, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('one'), stream: true }, { ...auth(), origin: 'https://app.example' });
    const headersAt = performance.now();
    // The gateway's own headers and CORS are on the streamed answer too.
    expect(st.res.headers).toMatchObject({
      'content-type': 'text/event-stream; charset=utf-8',
      'x-kaixu-request-id': expect.stringMatching(/^req_/),
      'x-kaixu-overhead-ms': expect.stringMatching(/^\d+\.\d{3}$/),
      'access-control-allow-origin': 'https://app.example',
      vary: 'Origin',
    });
    expect(st.res.headers['x-request-id']).toBe(st.res.headers['x-kaixu-request-id']);
    await st.ended;
    const hasText = (c: { text: string }) => /"content":"[^"]/.test(c.text);
    const first = st.chunks[0]!;
    expect(first.text).toContain('"role":"assistant"');
    expect(hasText(first)).toBe(false);
    const textAt = st.chunks.find(hasText)!.at;
    expect(textAt - headersAt).toBeGreaterThan(300);
    expect(textAt - first.at).toBeGreaterThan(300);
    expect(headersAt - t0).toBeLessThan(textAt - t0 - 300);
    expect(st.text()).toContain('data: [DONE]');
  });

  it('v1: the finish chunk goes out when the upstream sends it, not held for the usage and [DONE]', async () => {
    // The fake sends role, text, finish, usage and [DONE] frames 250 ms apart.
    f.openai.setDefault({ kind: 'ok', chunks: 1, chunkDelayMs: 250 });
    const body = { model: 'gpt-4o-mini', messages: userMsg('one'), stream: true, stream_options: { include_usage: true } };
    const st = await postStream(s.url, '/v1/chat/completions', body, auth());
    await st.ended;
    const at = (re: RegExp) => st.chunks.find((c) => re.test(c.text))!.at;
    const finishAt = at(/"finish_reason":"stop"/);
    const doneAt = at(/data: \[DONE\]/);
    expect(doneAt - finishAt).toBeGreaterThan(350);
    expect(at(/"choices":\[\],"usage"/) - finishAt).toBeGreaterThan(350);
    // Still one finish chunk, then the usage chunk, then [DONE].
    const frames = st.frames().filter((x) => x.data.startsWith('{') || x.data === '[DONE]');
    expect(frames.filter((x) => x.data.includes('"finish_reason":"stop"'))).toHaveLength(1);
    expect(frames.slice(-3).map((x) => (x.data === '[DONE]' ? 'done' : json<{ choices: unknown[] }>(x).choices.length ? 'finish' : 'usage'))).toEqual(['finish', 'usage', 'done']);
    const rec = await finished(() => calls.at(-1));
    expect(rec.settles).toEqual([expect.objectContaining({ status: 'ok', usageSource: 'provider' })]);
  });

  it.each([
    ['seed', 'ok', '/.netlify/functions/gateway-stream', seedBody, 'event: done'],
    ['v1', 'ok', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('end'), stream: true, stream_options: { include_usage: true } }, 'data: [DONE]'],
    ['seed', 'cut', '/.netlify/functions/gateway-stream', seedBody, 'event: error'],
    ['v1', 'cut', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('end'), stream: true }, 'data: {"error"'],
  ] as const)('%s (%s upstream): the last frame leaves with the end of the response, in one write', async (_n, kind, path, body, last) => {
    // The cut comes after two text chunks of five: before the finish reason.
    f.openai.setDefault(kind === 'ok' ? { kind: 'ok', chunks: 3 } : { kind: 'cut', afterFrames: 3, chunks: 5 });
    // The real ServerResponse methods, observed: which call carried which bytes, for this response only.
    const write = vi.spyOn(ServerResponse.prototype, 'write');
    const end = vi.spyOn(ServerResponse.prototype, 'end');
    const seen: { writes: [ServerResponse, string][]; ends: [ServerResponse, string][] } = { writes: [], ends: [] };
    let st;
    try {
      st = await postStream(s.url, path, body, auth());
      await st.ended;
    } finally {
      // Restoring clears the mocks' records: keep what they saw first.
      for (const [m, into] of [[write.mock, seen.writes], [end.mock, seen.ends]] as const) {
        m.calls.forEach((args, i) => into.push([m.contexts[i] as ServerResponse, typeof args[0] === 'string' ? args[0] : '']));
      }
      write.mockRestore();
      end.mockRestore();
    }
    const requestId = st.res.headers['x-kaixu-request-id'];
    const ours = (calls: [ServerResponse, string][]) => calls.filter(([res]) => res.getHeader('x-kaixu-request-id') === requestId).map(([, text]) => text);
    const ends = ours(seen.ends);
    expect(ends).toHaveLength(1);
    expect(ends[0]).toContain(last);
    expect(ours(seen.writes).some((w) => w.includes(last))).toBe(false);
    // What the client read ends with that frame.
    expect(st.text().trimEnd().split('\n\n').at(-1)).toContain(last);
  });

  it.each([
    ['v1', 'all at once', 0],
    ['v1', '40 ms apart', 40],
    ['seed', 'all at once', 0],
    ['seed', '40 ms apart', 40],
  ] as const)('%s, upstream chunks %s: the chunks of one upstream read leave in one write, each on its own otherwise', async (route, _n, chunkDelayMs) => {
    f.openai.setDefault({ kind: 'ok', chunks: 12, chunkDelayMs });
    const write = vi.spyOn(ServerResponse.prototype, 'write');
    const seen: [ServerResponse, string][] = [];
    let st;
    try {
      st =
        route === 'v1'
          ? await postStream(s.url, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: userMsg('batch'), stream: true }, auth())
          : await postStream(s.url, '/api/gateway-stream', seedBody, auth());
      await st.ended;
    } finally {
      write.mock.calls.forEach((args, i) => seen.push([write.mock.contexts[i] as ServerResponse, typeof args[0] === 'string' ? args[0] : '']));
      write.mockRestore();
    }
    const requestId = st.res.headers['x-kaixu-request-id'];
    const writes = seen.filter(([res]) => res.getHeader('x-kaixu-request-id') === requestId).map(([, text]) => text);
    const isText = route === 'v1' ? (fr: string) => /"content":"[^"]/.test(fr) : (fr: string) => fr.startsWith('event: delta');
    const contentIn = (w: string) => w.split('\n\n').filter(isText).length;
    const perWrite = writes.map(contentIn).filter((n) => n > 0);
    expect(perWrite.reduce((a, b) => a + b, 0)).toBe(12);
    if (chunkDelayMs === 0) expect(perWrite.length).toBeLessThan(12); // came together, left together
    else expect(perWrite).toEqual(Array(12).fill(1)); // each when it came
    // Whole and in order whichever way they left: the client's text is every chunk once.
    const texts =
      route === 'v1'
        ? st.frames().filter((x) => x.data.startsWith('{')).map((x) => json<{ choices: { delta: { content?: string } }[] }>(x).choices[0]?.delta.content ?? '')
        : st.frames().filter((x) => x.event === 'delta').map((x) => json<{ text: string }>(x).text);
    expect(texts.join('')).toBe(Array.from({ length: 12 }, (_, i) => `t${i} `).join(''));
  });

  it('a slow client applies backpressure to the upstream instead of growing a buffer in the gateway', async () => {
    // ~48 MB of deltas; far more than every socket buffer on the way (loopback autotuning ≤ a few MB each).
    const CHUNKS = 3_000;
    f.openai.setDefault({ kind: 'ok', chunks: CHUNKS, padBytes: 16_000 });
    const st = await postStream(s.url, '/api/gateway-stream', { ...seedBody, max_tokens: 10_000 }, auth(), { paused: true });
    const upstream = await (async () => {
      for (let i = 0; i < 200 && !f.openai.last(); i++) await sleep(10);
      return f.openai.last()!;
    })();
    // Let the pipeline fill up while the client reads nothing.
    // Until the fake has made no progress for 3 checks in a row (a GC pause can stall one).
    for (let i = 0, still = 0, before = -1; i < 50 && still < 3 && !upstream.completed; i++) {
      await sleep(150);
      still = upstream.framesSent === before ? still + 1 : 0;
      before = upstream.framesSent;
    }
    const stalledAt = upstream.framesSent;
    expect(upstream.completed).toBe(false);
    expect(upstream.backpressureWaits).toBeGreaterThan(0);
    // Bytes the fake managed to write while the client was stalled: bounded by socket buffers
    // (observed 4–10 MB here). A gateway that read ahead of its client would let all 48 MB through.
    expect(stalledAt * 16_000).toBeLessThan(24 * 1024 * 1024);
    expect(stalledAt).toBeLessThan(CHUNKS / 2);
    // Now read everything: the whole answer still arrives, in order.
    st.res.resume();
    await st.ended;
    const frames = st.frames();
    expect(deltas(frames)).toBe(CHUNKS);
    expect(frames.at(-1)!.event).toBe('done');
    expect(upstream.completed).toBe(true);
  }, 60_000);

  it('an upstream that stops sending mid-stream hits the idle timeout: error frame, generated text billed', async () => {
    f.openai.enqueue({ kind: 'ok', chunks: 10, stallAfterFrames: 3 });
    const t0 = Date.now();
    const st = await postStream(s.url, '/api/gateway-stream', seedBody, auth());
    await st.ended;
    const frames = st.frames().filter((x) => x.event !== 'ping');
    expect(frames.map((x) => x.event)).toEqual(['meta', 'delta', 'delta', 'error']);
    expect(json(frames.at(-1)!)).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(3_000);
    const rec = await finished(() => calls.at(-1));
    expect(rec.settles).toEqual([expect.objectContaining({ status: 'upstream_cut', usageSource: 'estimated' })]);
  });

  describe('an upstream lost after its finish reason: the answer is whole, so it ends as answered', () => {
    const v1Body = { model: 'gpt-4o-mini', messages: userMsg('whole'), stream: true, stream_options: { include_usage: true } };
    const usageOf = (frames: { data: string }[]) => frames.map((x) => (x.data.startsWith('{') ? json<{ usage?: { completion_tokens: number } | null }>(x).usage : null)).find((u) => u);

    // OpenAI frames with 2 chunks: role, text, text, finish, usage, [DONE].
    it.each([
      ['cut before the usage chunk', { kind: 'cut', afterFrames: 4, chunks: 2 }, 'estimated'],
      ['cut after the usage chunk, before [DONE]', { kind: 'cut', afterFrames: 5, chunks: 2 }, 'provider'],
      ['stalled before the usage chunk (idle timeout)', { kind: 'ok', chunks: 2, stallAfterFrames: 4 }, 'estimated'],
    ] as const)('v1, %s: finish, a usage chunk and [DONE]; billed as ok', async (_n, behavior, source) => {
      f.openai.setDefault(behavior);
      const st = await postStream(s.url, '/v1/chat/completions', v1Body, auth());
      await st.ended;
      const frames = st.frames().filter((x) => x.data.startsWith('{') || x.data === '[DONE]');
      expect(frames.at(-1)!.data).toBe('[DONE]');
      expect(frames.some((x) => x.data.includes('"error"'))).toBe(false);
      expect(frames.filter((x) => x.data.includes('"finish_reason":"stop"'))).toHaveLength(1);
      expect(usageOf(frames)!.completion_tokens).toBeGreaterThan(0);
      const rec = await finished(() => calls.at(-1));
      expect(rec.releases).toBe(0);
      expect(rec.settles).toEqual([expect.objectContaining({ status: 'ok', usageSource: source })]);
    });

    it.each([
      // message_start, content_block_start, ping, 2 deltas, content_block_stop, message_delta | message_stop.
      ['Anthropic, cut after message_delta (before message_stop)', 'anthropic', 'claude-3-5-haiku-latest', 7],
      // Two data frames, the second with finishReason and usageMetadata | the end of the body (EOF).
      ['Gemini, its connection cut after the last chunk', 'gemini', 'gemini-2.5-flash', 2],
    ] as const)('seed stream from %s: done with the provider’s counts', async (_n, provider, model, afterFrames) => {
      f[provider].setDefault({ kind: 'cut', afterFrames, chunks: 2 });
      const st = await postStream(s.url, '/.netlify/functions/gateway-stream', { provider, model, messages: userMsg('whole') }, auth());
      await st.ended;
      const frames = st.frames().filter((x) => x.event !== 'ping');
      expect(frames.map((x) => x.event)).toEqual(['meta', 'delta', 'delta', 'done']);
      const rec = await finished(() => calls.at(-1));
      expect(rec.settles).toEqual([expect.objectContaining({ status: 'ok', usageSource: 'provider' })]);
    });

    it('a cut before the finish reason is still an error: no [DONE], generated text billed as cut', async () => {
      f.openai.setDefault({ kind: 'cut', afterFrames: 3, chunks: 2 });
      const st = await postStream(s.url, '/v1/chat/completions', v1Body, auth());
      await st.ended;
      const frames = st.frames().filter((x) => x.data.startsWith('{') || x.data === '[DONE]');
      expect(frames.at(-1)!.data).toContain('"error"');
      expect(frames.some((x) => x.data === '[DONE]')).toBe(false);
      const rec = await finished(() => calls.at(-1));
      expect(rec.settles).toEqual([expect.objectContaining({ status: 'upstream_cut', usageSource: 'estimated' })]);
    });
  });

  it('a first-byte timeout before any delta is a plain 504 on /v1 and an error frame after meta on the seed stream', async () => {
    await s.srv.container.upstreams.invalidate();
    f.openai.setDefault({ kind: 'hang' });
    const cfgTimeout = s.srv.container.config.UPSTREAM_FIRST_BYTE_TIMEOUT_MS;
    expect(cfgTimeout).toBe(120_000);
    // Use a registered upstream with a short first-byte timeout, pointed at the same fake.
    await s.srv.container.upstreams.create({ name: 'slowpoke', base_url: f.openai.baseUrl, api_key: f.openai.apiKey, first_byte_timeout_ms: 200 }, { actor: 'test' });
    await s.srv.container.gov.pricing.upsert({ provider: 'slowpoke', model: 'm', input_micros_per_m: 1, output_micros_per_m: 1, markup_bp: 0 }, { actor: 'test' });
    const v1 = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ model: 'slowpoke/m', messages: userMsg(), stream: true }) });
    expect(v1.status).toBe(504);
    expect(await v1.json()).toMatchObject({ error: { code: 'UPSTREAM_TIMEOUT', timeout: 'first_byte', provider: 'slowpoke' } });
    const st = await postStream(s.url, '/api/gateway-stream', { provider: 'slowpoke', model: 'm', messages: userMsg() }, auth());
    await st.ended;
    const frames = st.frames().filter((x) => x.event !== 'ping');
    expect(frames.map((x) => x.event)).toEqual(['meta', 'error']);
    expect(json(frames[1]!)).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect((await finished(() => calls.at(-1))).releases).toBe(1);
    await s.srv.container.upstreams.remove('slowpoke', { actor: 'test' });
  });
  it('the monitor sees each stream whole: its full duration, and a failure after the 200 headers as the error it was', async () => {
    const monitor = s.srv.container.monitor;
    const eventOf = async (requestId: string) => {
      for (let i = 0; i < 100; i++) {
        await monitor.writer.flush();
        const [ev] = (await monitor.store.list({ requestId }, 5)).events;
        if (ev) return ev;
        await sleep(20);
      }
      throw new Error(`no monitor event for ${requestId}`);
    };
    const run = async (path: string, body: unknown) => {
      const st = await postStream(s.url, path, body, auth());
      await st.ended;
      return { id: st.res.headers['x-kaixu-request-id'] as string, frames: st.frames() };
    };
    const v1Body = { model: 'gpt-4o-mini', messages: userMsg('stream please'), stream: true };

    // A good stream of 10 chunks 30 ms apart: one info event whose duration covers the stream.
    f.openai.enqueue({ kind: 'ok', chunks: 10, chunkDelayMs: 30 });
    const ok = await run('/v1/chat/completions', v1Body);
    expect(await eventOf(ok.id)).toMatchObject({ level: 'info', kind: 'http_response', status: 200, error_code: null, operation: 'v1.chat.completions' });
    expect((await eventOf(ok.id)).duration_ms).toBeGreaterThanOrEqual(250);

    // Cut mid-stream: the client got 200 and an error chunk; the monitor records the error.
    f.openai.enqueue({ kind: 'cut', afterFrames: 3 });
    const cut = await run('/v1/chat/completions', v1Body);
    expect(cut.frames.at(-1)!.data).toContain('"error"');
    expect(await eventOf(cut.id)).toMatchObject({ level: 'error', kind: 'http_error_response', status: 200, error_code: 'UPSTREAM_ERROR', error_message: expect.any(String) });

    // Seed stream: meta goes out before the upstream is called, so an upstream that refuses
    // (500) is an error frame after a 200 — and an error in the monitor.
    f.openai.enqueue({ kind: 'error', status: 500 });
    const refused = await run('/.netlify/functions/gateway-stream', seedBody);
    expect(refused.frames.map((x) => x.event)).toEqual(['meta', 'error']);
    const ev = await eventOf(refused.id);
    expect(ev).toMatchObject({ level: 'error', kind: 'http_error_response', status: 200, operation: 'gateway.stream', error_code: json<{ code: string }>(refused.frames[1]!).code });
    expect(ev.body_preview).toBe(json<{ error: string }>(refused.frames[1]!).error);

    // A client that leaves is not a gateway error.
    f.reset();
    f.openai.setDefault({ kind: 'ok', chunks: 100, chunkDelayMs: 50 });
    const st = await postStream(s.url, '/v1/chat/completions', v1Body, auth());
    await st.until((fr) => fr.filter((x) => x.data.includes('"content":"t')).length >= 2);
    st.destroy();
    expect(await eventOf(st.res.headers['x-kaixu-request-id'] as string)).toMatchObject({ level: 'info', status: 200, error_code: null });
  });
});
