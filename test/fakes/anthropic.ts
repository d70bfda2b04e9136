import { randomBytes } from 'node:crypto';
import { type ErrorBehavior, type FakeChatCall, retryHeaders } from './behavior.ts';
import { type FakeDialect, type FakeOptions, type FakeResponse, FakeUpstream } from './base.ts';

/**
 * Anthropic Messages, per external-apis.md §4.4. Base URL for clients: `${fake.url}`.
 * x-api-key + anthropic-version required; unknown body fields rejected ("Extra inputs are not
 * permitted"); named SSE events incl. ping; usage in message_start + cumulative message_delta.
 */
export const ANTHROPIC_FAKE_KEY = 'sk-ant-fake-0123456789';

const KNOWN = new Set([
  'model', 'max_tokens', 'messages', 'system', 'stop_sequences', 'stream', 'temperature', 'top_p', 'top_k', 'tools',
  'tool_choice', 'thinking', 'metadata', 'service_tier', 'container', 'mcp_servers', 'context_management',
]);

const rid = () => `req_011C${randomBytes(12).toString('base64url')}`;
const errBody = (type: string, message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'error', error: { type, message, ...extra }, request_id: rid() });
const invalid = (message: string): FakeResponse => ({ status: 400, body: errBody('invalid_request_error', message) });

function blocksText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  let out = '';
  for (const b of content as unknown[]) {
    if (typeof b !== 'object' || b === null) return undefined;
    const blk = b as { type?: unknown; text?: unknown };
    if (blk.type === 'text' && typeof blk.text === 'string') out += blk.text;
  }
  return out;
}

const ERROR_TYPES: Record<number, [string, string]> = {
  400: ['invalid_request_error', 'Invalid request'],
  401: ['authentication_error', 'invalid x-api-key'],
  402: ['billing_error', 'Your credit balance is too low'],
  403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
  404: ['not_found_error', 'Not found'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'],
  500: ['api_error', 'Internal server error'],
  529: ['overloaded_error', 'Overloaded'],
};

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export const anthropicDialect: FakeDialect = {
  name: 'anthropic',
  basePath: '',
  headers: () => ({ 'request-id': rid() }),
  route(method, url) {
    if (method === 'POST' && url.pathname === '/v1/messages') return { kind: 'chat', stream: false };
    return null;
  },
  checkAuth(headers, _url, apiKey) {
    const key = headers['x-api-key'];
    if (!key) return { status: 401, body: errBody('authentication_error', 'x-api-key header is required') };
    if (key !== apiKey) return { status: 401, body: errBody('authentication_error', 'invalid x-api-key') };
    if (!headers['anthropic-version']) return invalid('anthropic-version: header is required');
    return null;
  },
  parseChat(body) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('Request body must be a JSON object');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!KNOWN.has(k)) return invalid(`${k}: Extra inputs are not permitted`);
    if (typeof b.model !== 'string' || !b.model) return invalid('model: Field required');
    if (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1) return invalid('max_tokens: Field required');
    if (!Array.isArray(b.messages) || b.messages.length === 0) return invalid('messages: at least one message is required');
    if (typeof b.temperature === 'number' && (b.temperature < 0 || b.temperature > 1)) return invalid('temperature: range: 0..1');
    const messages: FakeChatCall['messages'] = [];
    if (b.system !== undefined) {
      const s = blocksText(b.system);
      if (s === undefined) return invalid('system: Input should be a valid string');
      messages.push({ role: 'system', text: s });
    }
    for (const [i, m] of (b.messages as unknown[]).entries()) {
      const mm = (m ?? {}) as { role?: unknown; content?: unknown };
      if (mm.role !== 'user' && mm.role !== 'assistant') return invalid(`messages.${i}.role: Input should be 'user' or 'assistant'`);
      const t = blocksText(mm.content);
      if (t === undefined) return invalid(`messages.${i}.content: Input should be a valid list`);
      messages.push({ role: mm.role, text: t });
    }
    return { model: b.model, messages, maxTokens: b.max_tokens, stream: b.stream === true, includeUsage: true };
  },
  chatBody(call, reply) {
    return JSON.stringify({
      id: `msg_${randomBytes(12).toString('base64url')}`,
      type: 'message',
      role: 'assistant',
      model: call.model,
      content: [{ type: 'text', text: reply.text }],
      stop_reason: reply.truncated ? 'max_tokens' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: reply.inputTokens, output_tokens: reply.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  },
  stream(call, reply) {
    const id = `msg_${randomBytes(12).toString('base64url')}`;
    const frames = [
      frame('message_start', {
        type: 'message_start',
        message: { id, type: 'message', role: 'assistant', content: [], model: call.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: reply.inputTokens, output_tokens: 1 } },
      }),
      frame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      frame('ping', { type: 'ping' }),
    ];
    for (const p of reply.pieces) frames.push(frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }));
    frames.push(frame('content_block_stop', { type: 'content_block_stop', index: 0 }));
    frames.push(frame('message_delta', { type: 'message_delta', delta: { stop_reason: reply.truncated ? 'max_tokens' : 'end_turn', stop_sequence: null }, usage: { output_tokens: reply.outputTokens } }));
    frames.push(frame('message_stop', { type: 'message_stop' }));
    return { frames, terminal: 1 };
  },
  error(b: ErrorBehavior): FakeResponse {
    const headers = retryHeaders(b);
    const [type, message] = ERROR_TYPES[b.status] ?? (b.status >= 500 ? ERROR_TYPES[500] : ERROR_TYPES[400]);
    if (b.status === 429 && b.quota) {
      const msg = b.message ?? 'You have reached your specified API usage limits.';
      return { status: 429, headers, body: errBody('rate_limit_error', msg, { details: { error_code: 'enforced_spend_limit_reached' } }) };
    }
    if (b.status === 429) headers['anthropic-ratelimit-requests-remaining'] = '0';
    return { status: b.status, headers, body: errBody(type, b.message ?? message) };
  },
  streamErrorFrame: () => frame('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
  malformedFrame: () => 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n',
};

export function startFakeAnthropic(opts: FakeOptions = {}): Promise<FakeUpstream> {
  return new FakeUpstream(anthropicDialect, { ...opts, defaultKey: ANTHROPIC_FAKE_KEY }).listen();
}
