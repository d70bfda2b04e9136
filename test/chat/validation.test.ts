import { describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { type ChatTestApp, type Fakes, totalRequests, useChatApp, userMsg } from './harness.ts';

const SEED = ['/.netlify/functions/gateway-chat', '/api/gateway-chat', '/.netlify/functions/gateway-stream', '/api/gateway-stream'];
const good = { provider: 'openai', model: 'gpt-4o-mini', messages: userMsg() };

describe.each(DIALECTS)('chat input validation on %s', (dialect) => {
  let f: Fakes;
  let t: ChatTestApp;
  const auth = () => ({ authorization: `Bearer ${t.key}` });

  useChatApp(dialect, {}, (ff, tt) => {
    f = ff;
    t = tt;
  });

  const seedCases: [string, unknown, string | RegExp][] = [
    ['missing provider', { model: 'gpt-4o-mini', messages: userMsg() }, 'Missing provider (openai|anthropic|gemini)'],
    ['empty provider', { ...good, provider: '  ' }, 'Missing provider (openai|anthropic|gemini)'],
    ['missing model', { provider: 'openai', messages: userMsg() }, 'Missing model'],
    ['missing messages', { provider: 'openai', model: 'gpt-4o-mini' }, 'Missing messages[]'],
    ['empty messages', { ...good, messages: [] }, 'Missing messages[]'],
    ['only blank messages', { ...good, messages: [{ role: 'user', content: '   ' }] }, 'Missing messages[]'],
    ['provider not a string', { ...good, provider: 7 }, /^Invalid json\.provider: /],
    ['messages not an array', { ...good, messages: 'hi' }, /^Invalid json\.messages: /],
    ['message content not a string', { ...good, messages: [{ role: 'user', content: 5 }] }, /^Invalid json\.messages\.0\.content: /],
    ['unknown role', { ...good, messages: [{ role: 'wizard', content: 'x' }] }, /^Invalid json\.messages\.0\.role: /],
    ['max_tokens not an integer', { ...good, max_tokens: 'lots' }, /^Invalid json\.max_tokens: /],
    ['max_tokens zero', { ...good, max_tokens: 0 }, /^Invalid json\.max_tokens: /],
    ['temperature out of range', { ...good, temperature: 9 }, /^Invalid json\.temperature: /],
    ['unknown field', { ...good, stream: true }, /Unrecognized key/],
  ];

  describe.each(SEED)('%s', (path) => {
    it.each(seedCases)('%s → 400 with the seed message, nothing sent upstream', async (_name, body, message) => {
      const res = await t.req('POST', path, { body, headers: auth() });
      expect(res.status).toBe(400);
      const j = (await res.json()) as { error: string; code: string; request_id: string };
      if (typeof message === 'string') expect(j.error).toBe(message);
      else expect(j.error).toMatch(message);
      expect(j.code).toBe('VALIDATION_ERROR');
      expect(j.request_id).toMatch(/^req_/);
      expect(totalRequests(f)).toBe(0);
    });
  });

  it('invalid JSON is the seed 400 "Invalid JSON"', async () => {
    const res = await t.req('POST', '/api/gateway-chat', { raw: '{"provider":', headers: { ...auth(), 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'Invalid JSON', code: 'INVALID_JSON' });
    expect(totalRequests(f)).toBe(0);
  });

  it('unknown provider is the seed message and lists the other providers', async () => {
    const res = await t.req('POST', '/api/gateway-chat', { body: { ...good, provider: 'mistral' }, headers: auth() });
    expect(res.status).toBe(400);
    const j = (await res.json()) as { error: string; code: string; providers: string[] };
    expect(j.error.startsWith('Unknown provider. Use openai|anthropic|gemini.')).toBe(true);
    expect(j.error).toContain('kaixu');
    expect(j.code).toBe('UNKNOWN_PROVIDER');
    expect(j.providers).toEqual(expect.arrayContaining(['openai', 'anthropic', 'gemini', 'kaixu']));
    expect(totalRequests(f)).toBe(0);
  });

  it('a lane provider with an unknown model is 400 UNKNOWN_MODEL', async () => {
    const res = await t.req('POST', '/api/gateway-stream', { body: { ...good, provider: 'kaixu', model: 'nope' }, headers: auth() });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'UNKNOWN_MODEL', models: ['kaixu-chat'] });
  });

  it('no key → 401 before anything else; bad key → 401', async () => {
    let res = await t.req('POST', '/api/gateway-chat', { body: good });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'Missing Authorization: Bearer <virtual_key>' });
    res = await t.req('POST', '/v1/chat/completions', { body: { model: 'gpt-4o-mini', messages: userMsg() }, headers: { authorization: 'Bearer kx_live_nope' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: 'authentication_error', code: 'INVALID_KEY' } });
    expect(totalRequests(f)).toBe(0);
  });

  const v1Cases: [string, unknown, string][] = [
    ['missing model', { messages: userMsg() }, 'model'],
    ['empty messages', { model: 'gpt-4o-mini', messages: [] }, 'messages'],
    ['wrong type', { model: 'gpt-4o-mini', messages: userMsg(), temperature: 'hot' }, 'temperature'],
    ['unsupported parameter', { model: 'gpt-4o-mini', messages: userMsg(), tools: [] }, 'Unrecognized'],
    ['n > 1', { model: 'gpt-4o-mini', messages: userMsg(), n: 2 }, 'n'],
    ['image parts', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages'],
  ];
  it.each(v1Cases)('/v1 %s → 400 in the OpenAI shape, nothing sent upstream', async (_n, body, mention) => {
    const res = await t.req('POST', '/v1/chat/completions', { body, headers: auth() });
    expect(res.status).toBe(400);
    const j = (await res.json()) as { error: { message: string; type: string; code: string } };
    expect(j.error.type).toBe('invalid_request_error');
    expect(j.error.code).toBe('VALIDATION_ERROR');
    expect(j.error.message).toContain(mention);
    expect(totalRequests(f)).toBe(0);
  });

  it('/v1 unknown model → 400 UNKNOWN_MODEL with param model', async () => {
    const res = await t.req('POST', '/v1/chat/completions', { body: { model: 'llama-9000', messages: userMsg() }, headers: auth() });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'UNKNOWN_MODEL', param: 'model', type: 'invalid_request_error' } });
    expect(totalRequests(f)).toBe(0);
  });
});
