import { describe, expect, it } from 'vitest';
import { geminiAdapter } from '../../src/providers/index.ts';
import type { ChatResult } from '../../src/providers/types.ts';
import { fixture, parseStream, summarize, target } from './helpers.ts';

const t = target('gemini', 'https://generativelanguage.googleapis.com', 'AIza-test');

describe('gemini adapter: request', () => {
  it('builds generateContent: systemInstruction, model role, merged turns, generationConfig', () => {
    const spec = geminiAdapter.buildRequest(
      {
        model: 'gemini-2.0-flash',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'what is the value of a+b?' },
          { role: 'tool', content: 'a=7, b=8' },
          { role: 'assistant', content: '15' },
          { role: 'developer', content: 'Use digits.' },
        ],
        max_tokens: 256,
        temperature: 0.2,
        top_p: 0.8,
        stop: ['STOP'],
        stream: false,
      },
      t,
    );
    expect(spec.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent');
    expect(spec.headers).toEqual({ 'content-type': 'application/json', accept: 'application/json', 'x-goog-api-key': 'AIza-test' });
    expect(spec.body).toBe(
      JSON.stringify({
        contents: [
          { role: 'user', parts: [{ text: 'what is the value of a+b?' }, { text: 'a=7, b=8' }] },
          { role: 'model', parts: [{ text: '15' }] },
        ],
        systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Use digits.' }] },
        generationConfig: { maxOutputTokens: 256, temperature: 0.2, topP: 0.8, stopSequences: ['STOP'] },
      }),
    );
  });

  it('streams with alt=sse and accepts a models/ prefix', () => {
    const spec = geminiAdapter.buildRequest({ model: 'models/gemini-2.5-pro', messages: [{ role: 'user', content: 'x' }], max_tokens: 9, stream: true }, t);
    expect(spec.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
    expect(spec.headers.accept).toBe('text/event-stream');
    expect(JSON.parse(spec.body)).toEqual({ contents: [{ role: 'user', parts: [{ text: 'x' }] }], generationConfig: { maxOutputTokens: 9 } });
  });
});

describe('gemini adapter: responses', () => {
  it('parses a GenerateContentResponse; thoughts count as output and thought parts are not text', () => {
    const body = JSON.stringify({
      candidates: [{ content: { parts: [{ text: 'thinking…', thought: true }, { text: 'b is **15**.\n' }], role: 'model' }, finishReason: 'STOP' }],
      modelVersion: 'gemini-2.5-flash',
      responseId: 'vdSfaMi5IMmagbUPt96I0QI',
      usageMetadata: { promptTokenCount: 16, candidatesTokenCount: 29, thoughtsTokenCount: 10, totalTokenCount: 55 },
    });
    expect(geminiAdapter.parseResponse(body, t)).toEqual<ChatResult>({
      text: 'b is **15**.\n',
      usage: { input_tokens: 16, output_tokens: 39 },
      finish_reason: 'STOP',
      upstream_id: 'vdSfaMi5IMmagbUPt96I0QI',
    });
  });

  it('a blocked prompt has no candidates: empty text, blockReason as finish', () => {
    const body = '{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}';
    expect(geminiAdapter.parseResponse(body, t)).toEqual({ text: '', usage: { input_tokens: 4, output_tokens: 0 }, finish_reason: 'SAFETY' });
  });

  it('malformed bodies', () => {
    expect(geminiAdapter.parseResponse('{"candidates": [', t)).toMatchObject({ cause: 'malformed' });
    expect(geminiAdapter.parseResponse('{"foo": 1}', t)).toMatchObject({ cause: 'malformed' });
  });

  it('parses the recorded stream: prompt-only usage first, complete usage on the finishing chunk', () => {
    const events = parseStream(geminiAdapter.createStreamParser(t), fixture('gemini-stream.txt'));
    expect(events).toEqual([
      { type: 'delta', text: 'a' },
      { type: 'usage', usage: { input_tokens: 19 } },
      { type: 'delta', text: 'b is **15**.\n' },
      { type: 'usage', usage: { input_tokens: 16, output_tokens: 29 } },
      { type: 'finish', finish_reason: 'STOP' },
    ]);
  });

  it('a stream that ends before the finishReason chunk is cut', () => {
    const first = fixture('gemini-stream.txt').split('\n\n')[0] + '\n\n';
    const s = summarize(parseStream(geminiAdapter.createStreamParser(t), first));
    expect(s).toMatchObject({ text: 'a', usage: { input_tokens: 19 }, error: { cause: 'cut' } });
  });

  it('an error chunk inside the stream is an error (transience from its code)', () => {
    const p = geminiAdapter.createStreamParser(t);
    const [ev] = p.feed({ data: '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}' });
    expect(ev).toEqual({ type: 'error', error: { provider: 'gemini', status: 0, retryable: true, type: 'UNAVAILABLE', message: 'The model is overloaded.' } });
    const [ev2] = geminiAdapter.createStreamParser(t).feed({ data: '{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}' });
    expect(ev2).toMatchObject({ type: 'error', error: { retryable: false } });
  });
});

describe('gemini adapter: errors', () => {
  it('429 RESOURCE_EXHAUSTED: retryable, retry hint from RetryInfo in the body', () => {
    const body = JSON.stringify({
      error: {
        code: 429, message: 'You exceeded your current quota...', status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' },
        ],
      },
    });
    expect(geminiAdapter.parseError(429, {}, body, t)).toEqual({
      provider: 'gemini', status: 429, retryable: true, retryAfterMs: 37_000, type: 'RESOURCE_EXHAUSTED', message: 'You exceeded your current quota...',
    });
    expect(geminiAdapter.parseError(429, {}, body.replace('"37s"', '"1.5s"'), t).retryAfterMs).toBe(1500);
  });

  it.each([
    [400, 'INVALID_ARGUMENT', false], [403, 'PERMISSION_DENIED', false], [404, 'NOT_FOUND', false],
    [500, 'INTERNAL', true], [503, 'UNAVAILABLE', true], [504, 'DEADLINE_EXCEEDED', true],
  ])('%i %s → retryable %s', (status, s, retryable) => {
    const body = JSON.stringify({ error: { code: status, message: 'm', status: s } });
    expect(geminiAdapter.parseError(status, {}, body, t)).toMatchObject({ status, type: s, retryable, message: 'm' });
  });
});
