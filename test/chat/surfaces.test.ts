import { describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { type ChatTestApp, type Fakes, json, MODELS, parseSse, PROVIDERS, useChatApp, userMsg } from './harness.ts';

type Usage = { input_tokens: number; output_tokens: number; cost_cents: number };

describe.each(DIALECTS)('chat surfaces on %s', (dialect) => {
  let f: Fakes;
  let t: ChatTestApp;
  const auth = () => ({ authorization: `Bearer ${t.key}` });

  useChatApp(dialect, {}, (ff, tt) => {
    f = ff;
    t = tt;
  });

  describe.each(PROVIDERS)('%s', (provider) => {
    const model = MODELS[provider];
    const fake = () => f[provider];

    it('seed gateway-chat answers with text, provider usage and month', async () => {
      const res = await t.req('POST', '/.netlify/functions/gateway-chat', {
        body: { provider, model, messages: [{ role: 'system', content: 'Be brief.' }, ...userMsg('ping pong')], max_tokens: 64, temperature: 0.3 },
        headers: { ...auth(), 'x-kaixu-install-id': 'dev-1' },
      });
      expect(res.status).toBe(200);
      const j = (await res.json()) as { provider: string; model: string; output_text: string; usage: Usage; month: { month: string }; telemetry: { install_id: string } };
      expect(j).toMatchObject({ provider, model, output_text: 'Echo: ping pong', telemetry: { install_id: 'dev-1' } });
      expect(j.usage.input_tokens).toBeGreaterThan(0);
      expect(j.usage.output_tokens).toBe(3);
      expect(j.month.month).toMatch(/^\d{4}-\d{2}$/);
      expect(res.headers.get('x-kaixu-overhead-ms')).toMatch(/^\d+\.\d{3}$/);
      expect(res.headers.get('ratelimit-limit')).toBe('120');
      // What went upstream: one request carrying the model and the system prompt.
      expect(fake().requests).toHaveLength(1);
      expect(fake().requests[0]!.rawBody).toContain('Be brief.');
      expect(fake().requests[0]!.rawBody + fake().requests[0]!.path).toContain(model);
    });

    it('seed gateway-stream sends meta, one delta per upstream chunk, then done', async () => {
      const res = await t.req('POST', '/api/gateway-stream', { body: { provider, model, messages: userMsg('one two three four') }, headers: auth() });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
      expect(res.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
      const frames = parseSse(await res.text());
      expect(frames.map((x) => x.event)).toEqual(['meta', 'delta', 'delta', 'delta', 'delta', 'delta', 'done']);
      expect(json(frames[0]!)).toMatchObject({ provider, model, telemetry: { install_id: null }, month: { month: expect.any(String) } });
      const text = frames.filter((x) => x.event === 'delta').map((x) => json<{ text: string }>(x).text);
      expect(text).toEqual(['Echo: ', 'one ', 'two ', 'three ', 'four']);
      const done = json<{ usage: Usage }>(frames.at(-1)!);
      expect(done.usage.output_tokens).toBe(5);
      expect(done.usage.input_tokens).toBeGreaterThan(0);
    });

    it('/v1/chat/completions non-stream returns an OpenAI chat.completion', async () => {
      const res = await t.req('POST', '/v1/chat/completions', { body: { model: `${provider}/${model}`, messages: userMsg('alpha beta') }, headers: auth() });
      expect(res.status).toBe(200);
      const j = (await res.json()) as Record<string, unknown> & { choices: { message: { content: string }; finish_reason: string }[]; usage: Record<string, number> };
      expect(j).toMatchObject({ object: 'chat.completion', model });
      expect(j.id).toMatch(/^chatcmpl-/);
      expect(j.choices[0]).toMatchObject({ index: 0, message: { role: 'assistant', content: 'Echo: alpha beta' }, finish_reason: 'stop' });
      expect(j.usage.completion_tokens).toBe(3);
      expect(j.usage.total_tokens).toBe(j.usage.prompt_tokens + 3);
      expect(res.headers.get('x-request-id')).toBe(res.headers.get('x-kaixu-request-id'));
    });

    it('/v1/chat/completions stream sends chunks, usage chunk and [DONE]', async () => {
      const res = await t.req('POST', '/v1/chat/completions', {
        body: { model: `${provider}/${model}`, messages: userMsg('red green'), stream: true, stream_options: { include_usage: true } },
        headers: auth(),
      });
      expect(res.status).toBe(200);
      const frames = parseSse(await res.text());
      expect(frames.at(-1)!.data).toBe('[DONE]');
      const chunks = frames.slice(0, -1).map((x) => json<{ object: string; model: string; choices: { delta: { content?: string; role?: string }; finish_reason: string | null }[]; usage: Record<string, number> | null }>(x));
      for (const c of chunks) expect(c).toMatchObject({ object: 'chat.completion.chunk', model });
      expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
      expect(chunks.slice(1, -2).map((c) => c.choices[0]!.delta.content)).toEqual(['Echo: ', 'red ', 'green']);
      expect(chunks.at(-2)!.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
      expect(chunks.at(-1)!.choices).toEqual([]);
      expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: 3 });
      expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    });
  });

  it('/v1 stream without include_usage has no usage chunk and no usage fields', async () => {
    const res = await t.req('POST', '/v1/chat/completions', { body: { model: 'gpt-4o-mini', messages: userMsg('x y'), stream: true }, headers: auth() });
    const frames = parseSse(await res.text());
    expect(frames.at(-1)!.data).toBe('[DONE]');
    const chunks = frames.slice(0, -1).map((x) => json<{ choices: unknown[] }>(x));
    expect(chunks.every((c) => c.choices.length === 1 && !('usage' in c))).toBe(true);
  });

  it('/v1 errors carry x-request-id too (the OpenAI SDK reports it), as answers do', async () => {
    const res = await t.req('POST', '/v1/chat/completions', { body: { model: 'no-such-model-9', messages: userMsg('x') }, headers: auth() });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(res.headers.get('x-request-id')).toBe(res.headers.get('x-kaixu-request-id'));
  });
});
