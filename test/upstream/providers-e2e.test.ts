import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapterFor } from '../../src/providers/index.ts';
import type { ChatRequest, ChatResult, ProviderError, ProviderKind, StreamEvent, UpstreamTarget } from '../../src/providers/types.ts';
import { inputTokensUpperBound } from '../../src/providers/tokens.ts';
import { UpstreamClient } from '../../src/upstream/client.ts';
import { upstreamEvents } from './flat-events.ts';
import { type FakeBehavior, type FakeUpstream, startFakeAnthropic, startFakeGemini, startFakeOpenAI } from '../fakes/index.ts';
import { summarize } from '../providers/helpers.ts';

/** Adapter + upstream client + fake server, for every provider kind and failure mode. */
const CASES: [ProviderKind, () => Promise<FakeUpstream>][] = [
  ['openai', startFakeOpenAI],
  ['openai-compatible', startFakeOpenAI],
  ['anthropic', startFakeAnthropic],
  ['gemini', startFakeGemini],
];

const request = (stream: boolean, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'model-x',
  messages: [
    { role: 'system', content: 'Be terse.' },
    { role: 'user', content: 'hello there friend' },
  ],
  max_tokens: 64,
  temperature: 0.5,
  stream,
  ...extra,
});

describe.each(CASES)('%s adapter through the client against its fake', (kind, start) => {
  let fake: FakeUpstream;
  const client = new UpstreamClient();
  const adapter = adapterFor(kind);
  let t: UpstreamTarget;
  beforeAll(async () => {
    fake = await start();
    t = { kind, provider: kind, baseUrl: fake.baseUrl, apiKey: fake.apiKey };
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await client.destroy();
    await fake.close();
  });

  const opts = { connectTimeoutMs: 1_000, firstByteTimeoutMs: 2_000, idleTimeoutMs: 2_000 };

  async function call(req: ChatRequest, target = t): Promise<ChatResult | ProviderError> {
    const res = await client.send(adapter.buildRequest(req, target), { ...opts, signal: new AbortController().signal, provider: kind });
    const body = await res.body.text();
    return res.status === 200 ? adapter.parseResponse(body, target) : adapter.parseError(res.status, res.headers, body, target);
  }

  async function stream(req: ChatRequest): Promise<{ status: number; events: StreamEvent[]; error?: ProviderError }> {
    const res = await client.send(adapter.buildRequest(req, t), { ...opts, signal: new AbortController().signal, provider: kind });
    if (res.status !== 200) return { status: res.status, events: [], error: adapter.parseError(res.status, res.headers, await res.body.text(), t) };
    const events: StreamEvent[] = [];
    for await (const ev of upstreamEvents(res.body, adapter.createStreamParser(t), kind)) if (ev.type !== 'open') events.push(ev);
    return { status: 200, events };
  }

  it('non-stream: text and provider usage, within the input bound', async () => {
    const r = (await call(request(false))) as ChatResult;
    expect(r.text).toBe('Echo: hello there friend');
    expect(r.usage!.output_tokens).toBe(4);
    expect(r.usage!.input_tokens).toBeGreaterThan(0);
    expect(r.usage!.input_tokens).toBeLessThanOrEqual(inputTokensUpperBound(request(false).messages));
    expect(fake.requests).toHaveLength(1);
  });

  it('stream: deltas, complete usage, finish, no error', async () => {
    const { events } = await stream(request(true));
    const s = summarize(events);
    expect(s.text).toBe('Echo: hello there friend');
    expect(s.error).toBeUndefined();
    expect(s.usage.output_tokens).toBe(4);
    expect(s.usage.input_tokens).toBeGreaterThan(0);
    expect(s.finish).toBeTruthy();
    expect(events.filter((e) => e.type === 'delta').length).toBe(4);
  });

  it('max_tokens reaches the upstream (reply truncated to it)', async () => {
    const r = (await call(request(false, { max_tokens: 2 }))) as ChatResult;
    expect(r.text).toBe('Echo: hello ');
    expect(r.usage!.output_tokens).toBe(2);
    expect(r.finish_reason).toMatch(/length|max_tokens|MAX_TOKENS/);
  });

  it('a wrong key is a non-retryable auth error', async () => {
    const e = (await call(request(false), { ...t, apiKey: 'wrong-key' })) as ProviderError;
    expect(e.retryable).toBe(false);
    expect([400, 401]).toContain(e.status);
    expect(e.message).toMatch(/key/i);
  });

  const rateLimit: FakeBehavior = kind === 'gemini' ? { kind: 'error', status: 429, retryDelay: '2s' } : { kind: 'error', status: 429, retryAfter: 2 };
  it('429 is retryable with a 2 s retry hint', async () => {
    fake.enqueue(rateLimit);
    expect(await call(request(false))).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 });
  });

  it('overload (529 on Anthropic, 503 elsewhere) is retryable', async () => {
    fake.enqueue({ kind: 'error', status: kind === 'anthropic' ? 529 : 503 });
    expect(await call(request(false))).toMatchObject({ retryable: true, type: expect.any(String) });
  });

  if (kind !== 'gemini') {
    it('quota exhaustion 429 is not retryable', async () => {
      fake.enqueue({ kind: 'error', status: 429, quota: true });
      expect(await call(request(false))).toMatchObject({ status: 429, retryable: false });
    });
  }

  it('malformed JSON: non-stream and stream', async () => {
    fake.enqueue({ kind: 'malformed' }, { kind: 'malformed', afterFrames: 2 });
    expect(await call(request(false))).toMatchObject({ cause: 'malformed' });
    const s = summarize((await stream(request(true))).events);
    expect(s.error).toMatchObject({ cause: 'malformed' });
  });

  it('a socket cut mid-stream → cut; a clean end without the terminal event → cut', async () => {
    fake.enqueue({ kind: 'cut', afterFrames: 3 }, { kind: 'truncate' });
    expect(summarize((await stream(request(true))).events).error).toMatchObject({ cause: 'cut' });
    expect(summarize((await stream(request(true))).events).error).toMatchObject({ cause: 'cut' });
  });

  it("the provider's own mid-stream error event is an error", async () => {
    fake.enqueue({ kind: 'stream-error', afterFrames: 2 });
    const s = summarize((await stream(request(true))).events);
    expect(s.error).toMatchObject({ status: 0, retryable: true });
    expect(s.error!.cause).toBeUndefined();
  });

  it('records the exact upstream request the adapter built', async () => {
    await call(request(false, { top_p: 0.9, stop: ['zz'] }));
    const rec = fake.last()!;
    expect(rec.method).toBe('POST');
    expect(rec.rawBody).toBe(adapter.buildRequest(request(false, { top_p: 0.9, stop: ['zz'] }), t).body);
  });
});
