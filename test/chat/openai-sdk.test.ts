import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { liveServer, startFakes, type Fakes, type LiveServer } from './harness.ts';

/** The official `openai` SDK, unchanged, pointed at the gateway with a virtual key. */
describe.each(DIALECTS)('official openai SDK against the gateway on %s', (dialect) => {
  let f: Fakes;
  let s: LiveServer;
  let client: OpenAI;

  beforeAll(async () => {
    f = await startFakes();
    s = await liveServer(dialect, f, { STREAM_PING_MS: '100' });
    client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.key, maxRetries: 0 });
  });
  afterAll(async () => {
    await s?.close();
    await f?.close();
  });
  beforeEach(() => f.reset());

  it.each(['kaixu-chat', 'gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', 'gemini-2.5-flash'])('chat.completions.create() non-stream with %s', async (model) => {
    const res = await client.chat.completions.create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'good morning' }], max_tokens: 50 });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]!.message.content).toBe('Echo: good morning');
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage!.completion_tokens).toBe(3);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + 3);
    expect(res.model).toBe(model.includes('/') ? model.split('/')[1] : model);
  });

  it.each(['kaixu-chat', 'claude-3-5-haiku-latest', 'gemini/gemini-2.5-flash'])('chat.completions.create({stream: true}) with %s', async (model) => {
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'one two three' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Echo: one two three');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(4);
    expect(chunks).toBe(1 + 4 + 1 + 1);
  });

  it('keep-alive comments between slow chunks do not disturb the SDK', async () => {
    f.openai.enqueue({ kind: 'ok', chunkDelayMs: 250 }, { kind: 'ok', chunkDelayMs: 250 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow one' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Echo: slow one');
    const raw = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow one' }], stream: true }),
    });
    expect(await raw.text()).toContain(': ping\n\n');
  });

  it('stream helper (.stream()) reassembles the final message', async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello stream' }] });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe('Echo: hello stream');
  });

  it('models.list() shows the lane and vendor models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toContain('kaixu-chat');
    expect(ids).toContain('openai/gpt-4o-mini');
  });

  it('errors surface as the SDK error classes', async () => {
    await expect(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 400,
      code: 'UNKNOWN_MODEL',
      type: 'invalid_request_error',
    });
    const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'kx_live_not-a-real-key', maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    f.openai.enqueue({ kind: 'error', status: 500 });
    f.anthropic.enqueue({ kind: 'error', status: 500 });
    const err = await client.chat.completions.create({ model: 'kaixu-chat', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.APIError>).requestID).toMatch(/^req_/);
  });

  it('a stream cut mid-way makes the SDK throw instead of returning a short answer', async () => {
    f.openai.enqueue({ kind: 'cut', afterFrames: 3 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a b c d e f' }], stream: true });
    let text = '';
    const consume = async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    };
    await expect(consume()).rejects.toBeInstanceOf(OpenAI.APIError);
    expect(text).toBe('Echo: a ');
  });
});
