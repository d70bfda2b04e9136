import { describe, expect, it } from 'vitest';
import { anthropicAdapter } from '../../src/providers/index.ts';
import type { ChatResult } from '../../src/providers/types.ts';
import { fixture, parseStream, summarize, target } from './helpers.ts';

const t = target('anthropic', 'https://api.anthropic.com', 'sk-ant-test');

describe('anthropic adapter: request', () => {
  it('joins system/developer into `system`, maps other roles to user, merges same-role turns', () => {
    const spec = anthropicAdapter.buildRequest(
      {
        model: 'claude-sonnet-4-5',
        messages: [
          { role: 'system', content: 'You are concise.' },
          { role: 'user', content: 'Hello' },
          { role: 'developer', content: 'Answer in English.' },
          { role: 'tool', content: 'tool says hi' },
          { role: 'assistant', content: 'Hi.' },
          { role: 'assistant', content: 'How can I help?' },
          { role: 'user', content: 'Bye' },
        ],
        max_tokens: 1024,
        temperature: 1.5,
        top_p: 0.5,
        stop: ['\n\nHuman:'],
        stream: true,
      },
      t,
    );
    expect(spec.url).toBe('https://api.anthropic.com/v1/messages');
    expect(spec.headers).toEqual({
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'anthropic-version': '2023-06-01',
      'x-api-key': 'sk-ant-test',
    });
    expect(spec.body).toBe(
      JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 1024,
        system: 'You are concise.\n\nAnswer in English.',
        messages: [
          { role: 'user', content: 'Hello\n\ntool says hi' },
          { role: 'assistant', content: 'Hi.\n\nHow can I help?' },
          { role: 'user', content: 'Bye' },
        ],
        temperature: 1,
        top_p: 0.5,
        stop_sequences: ['\n\nHuman:'],
        stream: true,
      }),
    );
  });

  it('matches the documented minimal request (no system → no field)', () => {
    const spec = anthropicAdapter.buildRequest({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1024, stream: false }, t);
    expect(spec.body).toBe('{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}');
    expect(spec.headers.accept).toBe('application/json');
  });
});

describe('anthropic adapter: responses', () => {
  it('parses the documented Message', () => {
    const body = '{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello there!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}';
    expect(anthropicAdapter.parseResponse(body, t)).toEqual<ChatResult>({
      text: 'Hello there!',
      usage: { input_tokens: 11, output_tokens: 6 },
      finish_reason: 'end_turn',
      upstream_id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
    });
  });

  it('counts prompt-cache tokens as input and skips non-text blocks', () => {
    const body = JSON.stringify({
      type: 'message',
      content: [{ type: 'thinking', thinking: 'hmm' }, { type: 'text', text: 'A' }, { type: 'tool_use', id: 'x', name: 'f', input: {} }, { type: 'text', text: 'B' }],
      stop_reason: 'max_tokens',
      usage: { input_tokens: 5, output_tokens: 7, cache_creation_input_tokens: 100, cache_read_input_tokens: 20 },
    });
    expect(anthropicAdapter.parseResponse(body, t)).toEqual({ text: 'AB', usage: { input_tokens: 125, output_tokens: 7 }, finish_reason: 'max_tokens' });
  });

  it('malformed bodies', () => {
    expect(anthropicAdapter.parseResponse('{"type":"message","content":', t)).toMatchObject({ cause: 'malformed', provider: 'anthropic' });
    expect(anthropicAdapter.parseResponse('{"type":"message"}', t)).toMatchObject({ cause: 'malformed' });
  });

  it('parses the SDK fixture stream: usage from message_start + cumulative message_delta', () => {
    const events = parseStream(anthropicAdapter.createStreamParser(t), fixture('anthropic-stream.txt'));
    expect(events).toEqual([
      { type: 'usage', usage: { input_tokens: 11, output_tokens: 1 } },
      { type: 'delta', text: 'Hello' },
      { type: 'delta', text: ' there' },
      { type: 'delta', text: '!' },
      { type: 'usage', usage: { output_tokens: 6 } },
      { type: 'finish', finish_reason: 'end_turn' },
    ]);
    expect(summarize(events)).toMatchObject({ text: 'Hello there!', usage: { input_tokens: 11, output_tokens: 6 }, error: undefined });
  });

  it('a stream without message_stop is cut; usage seen so far is kept', () => {
    const body = fixture('anthropic-stream.txt').split('event: message_delta')[0];
    const s = summarize(parseStream(anthropicAdapter.createStreamParser(t), body));
    expect(s.text).toBe('Hello there!');
    expect(s.usage).toEqual({ input_tokens: 11, output_tokens: 1 });
    expect(s.error).toMatchObject({ cause: 'cut', retryable: false });
  });

  it('`event: error` after the 200 (SDK fixture) becomes a retryable overloaded error', () => {
    const body = fixture('anthropic-stream.txt').split('event: content_block_stop')[0] + fixture('anthropic-error.txt');
    const events = parseStream(anthropicAdapter.createStreamParser(t), body);
    const last = events[events.length - 1];
    expect(last).toEqual({ type: 'error', error: { provider: 'anthropic', status: 0, retryable: true, type: 'overloaded_error', message: 'Overloaded' } });
    expect(events.filter((e) => e.type === 'error')).toHaveLength(1);
  });

  it('a malformed event is a malformed error', () => {
    const p = anthropicAdapter.createStreamParser(t);
    expect(p.feed({ event: 'content_block_delta', data: '{"type":"content_block_delta","delta":{"type":"text_de' })).toEqual([
      { type: 'error', error: expect.objectContaining({ cause: 'malformed' }) },
    ]);
  });

  it('ignores unknown events and non-text deltas', () => {
    const p = anthropicAdapter.createStreamParser(t);
    expect(p.feed({ event: 'brand_new_event', data: '{"type":"brand_new_event"}' })).toEqual([]);
    expect(p.feed({ event: 'content_block_delta', data: '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}' })).toEqual([]);
  });
});

describe('anthropic adapter: errors', () => {
  const e = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    anthropicAdapter.parseError(status, headers, JSON.stringify(body), t);

  it('529 overloaded (verbatim body) is retryable', () => {
    expect(e(529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_011CSLsW7mFqvHHnzrKdKjAE' })).toEqual({
      provider: 'anthropic', status: 529, retryable: true, type: 'overloaded_error', message: 'Overloaded',
    });
  });

  it('429 rate_limit_error is retryable with retry-after; the spend-limit variant is not', () => {
    expect(e(429, { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }, { 'retry-after': '3' })).toMatchObject({ retryable: true, retryAfterMs: 3000 });
    expect(e(429, { type: 'error', error: { type: 'rate_limit_error', message: 'limit', details: { error_code: 'enforced_spend_limit_reached' } } })).toMatchObject({
      retryable: false, type: 'enforced_spend_limit_reached',
    });
  });

  it.each([
    [400, 'invalid_request_error', false], [401, 'authentication_error', false], [402, 'billing_error', false],
    [403, 'permission_error', false], [404, 'not_found_error', false], [413, 'request_too_large', false], [500, 'api_error', true],
  ])('%i %s → retryable %s', (status, type, retryable) => {
    expect(e(status, { type: 'error', error: { type, message: 'm' } })).toMatchObject({ status, type, retryable });
  });
});
