import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseReader } from '../../src/lib/sse.ts';
import { fakeVector, type FakeUpstream, startFakeAnthropic, startFakeGemini, startFakeOpenAI } from './index.ts';

/** The fakes themselves follow the wire formats: checked with the official openai SDK and raw HTTP. */
describe('fake OpenAI with the official openai SDK', () => {
  let fake: FakeUpstream;
  let sdk: OpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    sdk = new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('chat.completions.create (non-stream)', async () => {
    const r = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi you' }] });
    expect(r.choices[0].message.content).toBe('Echo: hi you');
    expect(r.usage).toMatchObject({ completion_tokens: 3, total_tokens: r.usage!.prompt_tokens + 3 });
  });

  it('streaming with include_usage ends with a usage chunk whose choices are empty', async () => {
    const s = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a b' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let last: OpenAI.ChatCompletionChunk | undefined;
    for await (const c of s) {
      text += c.choices[0]?.delta.content ?? '';
      last = c;
    }
    expect(text).toBe('Echo: a b');
    expect(last!.choices).toEqual([]);
    expect(last!.usage!.completion_tokens).toBe(3);
  });

  it('without include_usage there is no usage chunk', async () => {
    const s = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a' }], stream: true });
    for await (const c of s) expect(c.usage).toBeUndefined();
  });

  it('errors map to the SDK classes (401, 429 with headers, 400 on unknown params)', async () => {
    await expect(new OpenAI({ apiKey: 'nope', baseURL: fake.baseUrl, maxRetries: 0 }).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    fake.enqueue({ kind: 'error', status: 429, retryAfter: 1 });
    const e = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OpenAI.RateLimitError);
    expect((e as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('1');
    const bad = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('the SDK retries a 429 using retry-after-ms', async () => {
    fake.enqueue({ kind: 'error', status: 429, retryAfterMs: 10 });
    const n = fake.requests.length;
    const r = await new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, maxRetries: 1 }).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0].message.content).toBe('Echo: x');
    expect(fake.requests.length - n).toBe(2);
  });

  it('embeddings: the SDK default (base64) decodes to the same floats as encoding_format float', async () => {
    const viaB64 = await sdk.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
    expect(fake.last()!.body).toMatchObject({ encoding_format: 'base64' });
    const viaFloat = await sdk.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'float', dimensions: 4 });
    expect(viaB64.data[0].embedding).toEqual(Array.from(fakeVector('alpha', 8)));
    expect(viaFloat.data[0].embedding).toEqual(Array.from(fakeVector('alpha', 4)));
    expect(viaB64.usage.prompt_tokens).toBe(2 + 1); // ceil(5/4) + ceil(4/4)
  });

  it('obfuscates streamed chunks unless asked not to (stream_options.include_obfuscation: false), as OpenAI does', async () => {
    const chunks = async (streamOptions: Record<string, boolean>) => {
      const s = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x y z' }], stream: true, stream_options: streamOptions });
      const out: Record<string, unknown>[] = [];
      for await (const c of s) out.push(c as unknown as Record<string, unknown>);
      return out;
    };
    const on = await chunks({ include_usage: true });
    expect(on.length).toBeGreaterThan(3);
    for (const c of on) expect(c.obfuscation).toMatch(/^[A-Za-z0-9_-]{1,16}$/);
    expect(new Set(on.map((c) => c.obfuscation)).size).toBeGreaterThan(1);
    const off = await chunks({ include_usage: true, include_obfuscation: false });
    expect(off.every((c) => !('obfuscation' in c))).toBe(true);
  });

  it('a paced stream keeps its own clock: a stall in this process does not push the later frames back', async () => {
    fake.enqueue({ kind: 'ok', chunks: 8, chunkDelayMs: 40 });
    const s = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true });
    const at: number[] = [];
    for await (const _ of s) {
      at.push(performance.now());
      if (at.length === 2) {
        // Block the event loop the fake runs on (it shares this process) for 300 ms.
        const until = performance.now() + 300;
        while (performance.now() < until);
      }
    }
    // Role frame, 8 content frames, finish frame: the last one is due 9 × 40 ms after the first.
    expect(at).toHaveLength(10);
    const span = at.at(-1)! - at[0]!;
    // At least 8 of the 9 intervals: the first frame can reach this loop late (it comes with the
    // headers, before the iterator exists; 7 ms late seen on a busy host), which shortens the span.
    // Unpaced frames would all arrive right after the stall: a span of ≈ 300 ms.
    expect(span).toBeGreaterThanOrEqual(8 * 40);
    expect(span).toBeLessThan(9 * 40 + 150); // pacing after each write adds the stall (less the sleep it overlapped): ≥ 620 ms
  });
});

describe('fake Anthropic and Gemini wire details', () => {
  let anthropic: FakeUpstream;
  let gemini: FakeUpstream;
  beforeAll(async () => {
    anthropic = await startFakeAnthropic();
    gemini = await startFakeGemini();
  });
  afterAll(async () => {
    await anthropic.close();
    await gemini.close();
  });
  const post = (url: string, headers: Record<string, string>, body: unknown) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('Anthropic requires anthropic-version, rejects extra inputs, answers with request-id', async () => {
    const body = { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    const noVersion = await post(`${anthropic.url}/v1/messages`, { 'x-api-key': anthropic.apiKey }, body);
    expect(noVersion.status).toBe(400);
    const h = { 'x-api-key': anthropic.apiKey, 'anthropic-version': '2023-06-01' };
    const extra = await post(`${anthropic.url}/v1/messages`, h, { ...body, max_completion_tokens: 3 });
    expect(await extra.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'max_completion_tokens: Extra inputs are not permitted' } });
    const ok = await post(`${anthropic.url}/v1/messages`, h, { ...body, stream: true });
    expect(ok.headers.get('request-id')).toMatch(/^req_/);
    expect(ok.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = new SseReader().feed(await ok.text()).map((e) => e.event);
    expect(events).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  });

  it('Anthropic 529 overloaded_error body', async () => {
    anthropic.enqueue({ kind: 'error', status: 529 });
    const r = await post(`${anthropic.url}/v1/messages`, { 'x-api-key': anthropic.apiKey, 'anthropic-version': '2023-06-01' }, {});
    expect(r.status).toBe(529);
    expect(await r.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: expect.stringMatching(/^req_/) });
  });

  it('Gemini: alt=sse events each end with a blank line; without alt=sse a JSON array', async () => {
    const body = { contents: [{ role: 'user', parts: [{ text: 'x y' }] }] };
    const sse = await (await post(`${gemini.url}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse`, { 'x-goog-api-key': gemini.apiKey }, body)).text();
    expect(sse.endsWith('\n\n')).toBe(true);
    expect(sse).not.toContain('[DONE]');
    const arr = await (await post(`${gemini.url}/v1beta/models/gemini-2.0-flash:streamGenerateContent?key=${gemini.apiKey}`, {}, body)).json();
    expect(Array.isArray(arr)).toBe(true);
    expect(arr[arr.length - 1].candidates[0].finishReason).toBe('STOP');
  });

  it('Gemini: wrong key 400 API_KEY_INVALID, missing key 403, unknown field 400', async () => {
    const body = { contents: [{ role: 'user', parts: [{ text: 'x' }] }] };
    const url = `${gemini.url}/v1beta/models/g:generateContent`;
    const wrong = await post(url, { 'x-goog-api-key': 'bad' }, body);
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(await wrong.json())).toContain('API_KEY_INVALID');
    expect((await post(url, {}, body)).status).toBe(403);
    expect((await post(url, { 'x-goog-api-key': gemini.apiKey }, { ...body, generation_config: {} })).status).toBe(400);
  });

  it('records every request and the close of its socket', async () => {
    gemini.enqueue({ kind: 'ok', chunks: 20, chunkDelayMs: 30 });
    const res = await post(`${gemini.url}/v1beta/models/g:streamGenerateContent?alt=sse`, { 'x-goog-api-key': gemini.apiKey }, { contents: [{ parts: [{ text: 'x' }] }] });
    const rec = gemini.last()!;
    expect(rec.path).toBe('/v1beta/models/g:streamGenerateContent?alt=sse');
    expect(rec.headers['x-goog-api-key']).toBe(gemini.apiKey);
    expect(rec.body).toEqual({ contents: [{ parts: [{ text: 'x' }] }] });
    await res.body!.cancel();
    const closedAt = await gemini.waitForSocketClose(rec);
    expect(closedAt).toBeGreaterThanOrEqual(rec.receivedAt);
    expect(rec.completed).toBe(false);
  });
});
