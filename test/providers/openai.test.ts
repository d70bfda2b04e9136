import { describe, expect, it } from 'vitest';
import { openaiAdapter, openaiCompatibleAdapter } from '../../src/providers/index.ts';
import type { ChatRequest, ChatResult, ProviderError } from '../../src/providers/types.ts';
import { fixture, parseStream, summarize, target } from './helpers.ts';

const openai = target('openai', 'https://api.openai.com/v1', 'sk-test');
const groq = target('openai-compatible', 'http://127.0.0.1:11434/v1/');

const req: ChatRequest = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'developer', content: 'Dev note.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'tool', content: 'tool output' },
  ],
  max_tokens: 256,
  temperature: 0.2,
  top_p: 0.9,
  stop: ['END'],
  stream: false,
};

describe('openai adapter: request', () => {
  it('builds the Chat Completions request (max_completion_tokens, developer kept, Bearer)', () => {
    const spec = openaiAdapter.buildRequest(req, openai);
    expect(spec.method).toBe('POST');
    expect(spec.url).toBe('https://api.openai.com/v1/chat/completions');
    expect(spec.headers).toEqual({ 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer sk-test' });
    expect(spec.body).toBe(
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: 'Dev note.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'tool output' },
        ],
        max_completion_tokens: 256,
        temperature: 0.2,
        top_p: 0.9,
        stop: ['END'],
      }),
    );
  });

  it('always asks for the usage chunk when streaming', () => {
    const spec = openaiAdapter.buildRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 5, stream: true }, openai);
    expect(spec.headers.accept).toBe('text/event-stream');
    expect(JSON.parse(spec.body)).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      max_completion_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('openai-compatible: max_tokens, developer → system, no key → no authorization, static headers kept', () => {
    const spec = openaiCompatibleAdapter.buildRequest(req, { ...groq, headers: { 'HTTP-Referer': 'https://kaixu.test' } });
    expect(spec.url).toBe('http://127.0.0.1:11434/v1/chat/completions');
    expect(spec.headers).toEqual({ 'content-type': 'application/json', accept: 'application/json', 'HTTP-Referer': 'https://kaixu.test' });
    const body = JSON.parse(spec.body);
    expect(body.max_tokens).toBe(256);
    expect(body.max_completion_tokens).toBeUndefined();
    expect(body.messages[1]).toEqual({ role: 'system', content: 'Dev note.' });
  });

  it('omits optional fields that were not given and an empty stop list', () => {
    const spec = openaiAdapter.buildRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1, stop: [], stream: false }, openai);
    expect(JSON.parse(spec.body)).toEqual({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 1 });
  });
});

describe('openai adapter: responses', () => {
  it('parses the documented non-stream response', () => {
    const body = JSON.stringify({
      id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG', object: 'chat.completion', created: 1741570283, model: 'gpt-5.4',
      choices: [{ index: 0, message: { role: 'assistant', content: 'The image shows ...', refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1117, completion_tokens: 46, total_tokens: 1163, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } },
      service_tier: 'default',
    });
    expect(openaiAdapter.parseResponse(body, openai)).toEqual<ChatResult>({
      text: 'The image shows ...',
      usage: { input_tokens: 1117, output_tokens: 46 },
      finish_reason: 'stop',
      upstream_id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    });
  });

  it('reports missing usage as null and null content as empty text', () => {
    const r = openaiAdapter.parseResponse('{"choices":[{"message":{"content":null},"finish_reason":"length"}]}', openai) as ChatResult;
    expect(r).toEqual({ text: '', usage: null, finish_reason: 'length' });
  });

  it('classifies malformed bodies', () => {
    for (const body of ['{"id":"x","choices":[', '<html>bad gateway</html>', '{"id":"x"}', '[]']) {
      expect(openaiAdapter.parseResponse(body, openai)).toMatchObject<Partial<ProviderError>>({ provider: 'openai', cause: 'malformed', retryable: false, status: 0 });
    }
  });

  it('parses the documented stream into text, usage and finish', () => {
    const events = parseStream(openaiAdapter.createStreamParser(openai), fixture('openai-stream.txt'));
    expect(events).toEqual([
      { type: 'delta', text: 'Hello' },
      { type: 'finish', finish_reason: 'stop' },
      { type: 'usage', usage: { input_tokens: 9, output_tokens: 2 } },
    ]);
  });

  it('a stream without [DONE] ends in a cut error (and only one)', () => {
    const cutBody = fixture('openai-stream.txt').replace('data: [DONE]\n\n', '');
    const s = summarize(parseStream(openaiAdapter.createStreamParser(openai), cutBody));
    expect(s.text).toBe('Hello');
    expect(s.usage).toEqual({ input_tokens: 9, output_tokens: 2 });
    expect(s.error).toMatchObject({ cause: 'cut', retryable: false, provider: 'openai' });
  });

  it('a mid-stream error chunk becomes an error event and ends parsing', () => {
    const p = openaiAdapter.createStreamParser(openai);
    const err = p.feed({ data: '{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}' });
    expect(err).toEqual([{ type: 'error', error: { provider: 'openai', status: 0, retryable: true, type: 'server_error', message: 'The server had an error' } }]);
    expect(p.feed({ data: '{"choices":[{"delta":{"content":"late"}}]}' })).toEqual([]);
    expect(p.end()).toEqual([]);
  });

  it('an SSE `event: error` is an error; malformed chunk JSON is malformed', () => {
    const a = openaiAdapter.createStreamParser(openai).feed({ event: 'error', data: 'upstream exploded' });
    expect(a[0]).toMatchObject({ type: 'error', error: { message: 'upstream exploded', retryable: false } });
    const b = openaiAdapter.createStreamParser(openai).feed({ data: '{"choices":[{"delta":{"content":"x"' });
    expect(b).toEqual([{ type: 'error', error: expect.objectContaining({ cause: 'malformed' }) }]);
  });
});

describe('openai adapter: errors', () => {
  const e = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    openaiAdapter.parseError(status, headers, typeof body === 'string' ? body : JSON.stringify(body), openai);

  it('429 rate limit: retryable, hint from retry-after-ms over retry-after', () => {
    const body = { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } };
    expect(e(429, body, { 'retry-after-ms': '1500', 'retry-after': '9' })).toEqual({
      provider: 'openai', status: 429, retryable: true, retryAfterMs: 1500, type: 'rate_limit_exceeded', message: 'Rate limit reached for requests',
    });
    expect(e(429, body, { 'retry-after': '2' }).retryAfterMs).toBe(2000);
    const at = new Date(Date.now() + 30_000).toUTCString();
    const ms = e(429, body, { 'retry-after': at }).retryAfterMs!;
    expect(ms).toBeGreaterThan(28_000);
    expect(ms).toBeLessThanOrEqual(30_000);
  });

  it('429 insufficient_quota is not transient', () => {
    const body = { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } };
    expect(e(429, body)).toMatchObject({ status: 429, retryable: false, type: 'insufficient_quota' });
  });

  it.each([
    [408, true], [409, true], [500, true], [502, true], [503, true], [504, true],
    [400, false], [401, false], [403, false], [404, false], [422, false],
  ])('status %i → retryable %s', (status, retryable) => {
    expect(e(status, { error: { message: 'x', type: 't', param: null, code: null } }).retryable).toBe(retryable);
  });

  it('x-should-retry overrides the status rule', () => {
    expect(e(500, '{}', { 'x-should-retry': 'false' }).retryable).toBe(false);
    expect(e(400, '{}', { 'x-should-retry': 'true' }).retryable).toBe(true);
  });

  it('non-JSON and compatible-server error shapes still give a message', () => {
    expect(e(502, '<html>Bad gateway</html>').message).toBe('upstream returned HTTP 502');
    expect(e(400, { object: 'error', message: 'bad model', type: 'BadRequestError', code: 400 })).toMatchObject({ message: 'bad model', type: 'BadRequestError' });
    expect(e(400, { error: 'model not found' }).message).toBe('model not found');
    expect(e(400, { error: { message: 'y'.repeat(2000) } }).message.length).toBeLessThan(600);
  });
});
