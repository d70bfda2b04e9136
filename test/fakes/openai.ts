import { randomBytes } from 'node:crypto';
import { type ErrorBehavior, type FakeChatCall, type FakeReply, retryHeaders } from './behavior.ts';
import { type FakeDialect, type FakeOptions, type FakeResponse, FakeUpstream } from './base.ts';
import { embeddingsResponse } from './embeddings.ts';

/**
 * OpenAI Chat Completions + Embeddings, per external-apis.md §4.1–4.3. Base URL for clients:
 * `${fake.url}/v1`. Bearer auth, strict parameter names (unknown ones are a 400, as OpenAI does),
 * data-only SSE ending in `data: [DONE]`, usage chunk only with stream_options.include_usage.
 */
export const OPENAI_FAKE_KEY = 'sk-fake-openai-0123456789';

const KNOWN = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'stop', 'stream',
  'stream_options', 'tools', 'tool_choice', 'response_format', 'user', 'seed', 'presence_penalty', 'frequency_penalty',
  'logprobs', 'top_logprobs', 'logit_bias', 'parallel_tool_calls', 'metadata', 'store', 'reasoning_effort',
  'service_tier', 'safety_identifier', 'prompt_cache_key', 'modalities', 'audio', 'prediction', 'verbosity',
]);
const ROLES = new Set(['developer', 'system', 'user', 'assistant', 'tool', 'function']);

const errBody = (message: string, type: string, code: string | null, param: string | null = null) =>
  JSON.stringify({ error: { message, type, param, code } });
const invalid = (message: string, param: string | null = null): FakeResponse => ({
  status: 400,
  body: errBody(message, 'invalid_request_error', null, param),
});

function text(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (content === null) return '';
  if (Array.isArray(content)) {
    return content.map((p: unknown) => (typeof p === 'object' && p !== null && 'text' in p ? String((p as { text: unknown }).text) : '')).join('');
  }
  return undefined;
}

const hex = (n: number) => randomBytes(n).toString('hex');
/** Random characters for stream obfuscation, 1–16 of them: a slice of a fixed random string, cheap per chunk (the bench's upstream makes thousands a second). */
const OBF_POOL = randomBytes(48).toString('base64url');
const obfuscation = () => {
  const start = Math.floor(Math.random() * 32);
  return OBF_POOL.slice(start, start + 1 + Math.floor(Math.random() * 16));
};

export const openaiDialect: FakeDialect = {
  name: 'openai',
  basePath: '/v1',
  headers: () => ({ 'x-request-id': `req_${hex(16)}`, 'openai-version': '2020-10-01', 'openai-processing-ms': '7' }),
  route(method, url) {
    if (method === 'POST' && url.pathname === '/v1/chat/completions') return { kind: 'chat', stream: false };
    if (method === 'POST' && url.pathname === '/v1/embeddings') return { kind: 'other', name: 'embeddings' };
    if (method === 'GET' && url.pathname === '/v1/models') return { kind: 'other', name: 'models' };
    return null;
  },
  checkAuth(headers, _url, apiKey) {
    const auth = headers.authorization;
    if (!auth) {
      return { status: 401, body: errBody("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null) };
    }
    if (auth !== `Bearer ${apiKey}`) {
      const shown = auth.replace(/^Bearer\s+/, '').slice(0, 6);
      return { status: 401, body: errBody(`Incorrect API key provided: ${shown}***. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key') };
    }
    return null;
  },
  parseChat(body) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('We could not parse the JSON body of your request.');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!KNOWN.has(k)) return invalid(`Unrecognized request argument supplied: ${k}`);
    if (typeof b.model !== 'string' || !b.model) return invalid('you must provide a model parameter', 'model');
    if (!Array.isArray(b.messages) || b.messages.length === 0) return invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages');
    const messages: FakeChatCall['messages'] = [];
    for (const [i, m] of (b.messages as unknown[]).entries()) {
      const mm = m as Record<string, unknown>;
      if (typeof m !== 'object' || m === null || typeof mm.role !== 'string' || !ROLES.has(mm.role)) {
        return invalid(`Invalid value for 'messages[${i}].role'.`, `messages[${i}].role`);
      }
      const t = text(mm.content);
      if (t === undefined) return invalid(`Invalid type for 'messages[${i}].content'.`, `messages[${i}].content`);
      messages.push({ role: mm.role === 'developer' ? 'system' : mm.role, text: t });
    }
    const stream = b.stream === true;
    if (b.stream_options !== undefined && b.stream_options !== null && !stream) {
      return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
    }
    if (typeof b.temperature === 'number' && (b.temperature < 0 || b.temperature > 2)) return invalid('Invalid temperature', 'temperature');
    const max = typeof b.max_completion_tokens === 'number' ? b.max_completion_tokens : typeof b.max_tokens === 'number' ? b.max_tokens : 4096;
    const so = b.stream_options as { include_usage?: unknown; include_obfuscation?: unknown } | undefined;
    return { model: b.model, messages, maxTokens: max, stream, includeUsage: stream && so?.include_usage === true, obfuscate: stream && so?.include_obfuscation !== false };
  },
  chatBody(call, reply) {
    return JSON.stringify({
      id: `chatcmpl-${hex(12)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: call.model,
      choices: [{ index: 0, message: { role: 'assistant', content: reply.text, refusal: null, annotations: [] }, logprobs: null, finish_reason: reply.truncated ? 'length' : 'stop' }],
      usage: usage(reply),
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
    });
  },
  stream(call, reply) {
    const id = `chatcmpl-${hex(12)}`;
    const created = Math.floor(Date.now() / 1000);
    const u = call.includeUsage ? { usage: null } : {};
    // Stream obfuscation (on by default): random characters of varying length in a last field of
    // every chunk, so chunk sizes do not reveal the text's length.
    const obf = () => (call.obfuscate ? { obfuscation: obfuscation() } : {});
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: call.model, system_fingerprint: 'fp_fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...u, ...obf() })}\n\n`;
    const frames = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
    for (const p of reply.pieces) frames.push(chunk({ content: p }, null));
    frames.push(chunk({}, reply.truncated ? 'length' : 'stop'));
    if (call.includeUsage) {
      frames.push(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: call.model, system_fingerprint: 'fp_fake', choices: [], usage: usage(reply), ...obf() })}\n\n`);
    }
    frames.push('data: [DONE]\n\n');
    return { frames, terminal: 1 };
  },
  error(b: ErrorBehavior): FakeResponse {
    const headers = retryHeaders(b);
    let body: string;
    if (b.status === 429 && b.quota) {
      body = errBody(b.message ?? 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota');
    } else if (b.status === 429) {
      headers['x-ratelimit-remaining-requests'] = '0';
      headers['x-ratelimit-reset-requests'] = '1s';
      body = errBody(b.message ?? 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded');
    } else if (b.status === 503) {
      body = errBody(b.message ?? 'The engine is currently overloaded, please try again later', 'server_error', null);
    } else if (b.status >= 500) {
      body = errBody(b.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error', null);
    } else {
      body = errBody(b.message ?? `fake error ${b.status}`, 'invalid_request_error', null);
    }
    return { status: b.status, headers, body };
  },
  streamErrorFrame: () => `data: ${errBody('The server had an error while processing your request. Sorry about that!', 'server_error', null)}\n\n`,
  malformedFrame: () => 'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"\n\n',
  other(name, body) {
    if (name === 'models') {
      return { status: 200, body: JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }] }) };
    }
    return embeddingsResponse(body);
  },
};

function usage(r: FakeReply) {
  return {
    prompt_tokens: r.inputTokens,
    completion_tokens: r.outputTokens,
    total_tokens: r.inputTokens + r.outputTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** Base URL for clients/adapters: `${fake.url}/v1`. */
export function startFakeOpenAI(opts: FakeOptions = {}): Promise<FakeUpstream> {
  return new FakeUpstream(openaiDialect, { ...opts, defaultKey: OPENAI_FAKE_KEY }).listen();
}
