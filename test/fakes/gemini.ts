import { randomBytes } from 'node:crypto';
import { type ErrorBehavior, type FakeChatCall, type FakeReply, retryHeaders } from './behavior.ts';
import { type FakeDialect, type FakeOptions, type FakeResponse, FakeUpstream } from './base.ts';
import { fakeVector } from './embeddings.ts';

/**
 * Gemini Developer API (v1beta), per external-apis.md §4.5. Base URL for clients: `${fake.url}`.
 * x-goog-api-key (or ?key=); `:streamGenerateContent?alt=sse` answers `data:` events each ended
 * by a blank line and no [DONE] (without alt=sse it answers one JSON array, as the real API
 * does). A wrong key is 400 INVALID_ARGUMENT / API_KEY_INVALID and a missing one 403, as Google
 * answers (not 401).
 */
export const GEMINI_FAKE_KEY = 'AIzaFake0123456789';

const KNOWN = new Set(['contents', 'systemInstruction', 'generationConfig', 'safetySettings', 'tools', 'toolConfig', 'cachedContent']);
const GEN_KNOWN = new Set([
  'temperature', 'topP', 'topK', 'candidateCount', 'maxOutputTokens', 'stopSequences', 'responseMimeType',
  'responseSchema', 'thinkingConfig', 'seed', 'presencePenalty', 'frequencyPenalty', 'responseModalities',
]);

const STATUS: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  429: ['RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details.'],
  499: ['CANCELLED', 'The operation was cancelled.'],
  500: ['INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'],
  503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  504: ['DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'],
};

const errBody = (code: number, status: string, message: string, details?: unknown[]) =>
  JSON.stringify({ error: { code, message, status, ...(details ? { details } : {}) } });
const invalid = (message: string): FakeResponse => ({ status: 400, body: errBody(400, 'INVALID_ARGUMENT', message) });

function partsText(c: unknown): string | undefined {
  if (typeof c !== 'object' || c === null) return undefined;
  const parts = (c as { parts?: unknown }).parts;
  if (!Array.isArray(parts)) return undefined;
  return parts.map((p: unknown) => (typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
}

function usage(r: FakeReply, final: boolean) {
  const u: Record<string, unknown> = { promptTokenCount: r.inputTokens };
  if (final) u.candidatesTokenCount = r.outputTokens;
  u.totalTokenCount = r.inputTokens + (final ? r.outputTokens : 0);
  u.promptTokensDetails = [{ modality: 'TEXT', tokenCount: r.inputTokens }];
  return u;
}

function chunks(call: FakeChatCall, r: FakeReply): Record<string, unknown>[] {
  const responseId = randomBytes(12).toString('base64url');
  const pieces = r.pieces.length > 0 ? r.pieces : [''];
  return pieces.map((text, i) => {
    const last = i === pieces.length - 1;
    const cand: Record<string, unknown> = { content: { parts: [{ text }], role: 'model' } };
    if (last) cand.finishReason = r.truncated ? 'MAX_TOKENS' : 'STOP';
    return { candidates: [cand], modelVersion: call.model, responseId, usageMetadata: usage(r, last) };
  });
}

function embed(name: string, body: unknown, model: string): FakeResponse {
  const b = (body ?? {}) as { requests?: unknown; content?: unknown; outputDimensionality?: unknown };
  const one = (req: { content?: unknown; outputDimensionality?: unknown }) => {
    const text = partsText(req.content);
    if (!text) return undefined;
    return { values: Array.from(fakeVector(text, typeof req.outputDimensionality === 'number' ? req.outputDimensionality : 8)) };
  };
  if (name === 'embedContent') {
    const e = one(b);
    return e ? { status: 200, body: JSON.stringify({ embedding: e }) } : invalid('* EmbedContentRequest.content: contents is not specified');
  }
  if (!Array.isArray(b.requests) || b.requests.length === 0) return invalid('* BatchEmbedContentsRequest.requests: requests is not specified');
  const out = [];
  for (const r of b.requests as { model?: unknown; content?: unknown; outputDimensionality?: unknown }[]) {
    if (r.model !== `models/${model}`) return invalid(`Model mismatch: ${String(r.model)} vs models/${model}`);
    const e = one(r);
    if (!e) return invalid('* BatchEmbedContentsRequest.requests[0].content: contents is not specified');
    out.push(e);
  }
  return { status: 200, body: JSON.stringify({ embeddings: out }) };
}

const ROUTE = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;

export const geminiDialect: FakeDialect = {
  name: 'gemini',
  basePath: '',
  headers: () => ({ 'server-timing': 'gfet4t7; dur=42', 'x-fake-request-id': randomBytes(8).toString('hex') }),
  route(method, url) {
    const m = ROUTE.exec(url.pathname);
    if (method !== 'POST' || !m) return null;
    const model = decodeURIComponent(m[1]);
    if (m[2] === 'generateContent') return { kind: 'chat', stream: false, model };
    if (m[2] === 'streamGenerateContent') return { kind: 'chat', stream: true, model, sse: url.searchParams.get('alt') === 'sse' };
    return { kind: 'other', name: m[2], model };
  },
  checkAuth(headers, url, apiKey) {
    const key = (headers['x-goog-api-key'] as string | undefined) ?? url.searchParams.get('key') ?? undefined;
    if (!key) {
      return { status: 403, body: errBody(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.") };
    }
    if (key !== apiKey) {
      return {
        status: 400,
        body: errBody(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' },
        ]),
      };
    }
    return null;
  },
  parseChat(body, route) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('Invalid JSON payload received.');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!KNOWN.has(k)) return invalid(`Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
    const gen = (b.generationConfig ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(gen)) {
      if (!GEN_KNOWN.has(k)) return invalid(`Invalid JSON payload received. Unknown name "${k}" at 'generation_config': Cannot find field.`);
    }
    if (!Array.isArray(b.contents) || b.contents.length === 0) return invalid('* GenerateContentRequest.contents: contents is not specified');
    const messages: FakeChatCall['messages'] = [];
    if (b.systemInstruction !== undefined) {
      const s = partsText(b.systemInstruction);
      if (s === undefined) return invalid('Invalid value at \'system_instruction\'');
      messages.push({ role: 'system', text: s });
    }
    for (const c of b.contents as unknown[]) {
      const role = (c as { role?: unknown })?.role ?? 'user';
      if (role !== 'user' && role !== 'model') return invalid('Please use a valid role: user, model.');
      const t = partsText(c);
      if (t === undefined) return invalid('* GenerateContentRequest.contents: contents.parts must not be empty.');
      messages.push({ role: role === 'model' ? 'assistant' : 'user', text: t });
    }
    const max = typeof gen.maxOutputTokens === 'number' ? gen.maxOutputTokens : 8192;
    return { model: route.model ?? 'unknown', messages, maxTokens: max, stream: route.stream, includeUsage: true };
  },
  chatBody(call, reply) {
    const [c] = chunks(call, { ...reply, pieces: [reply.text] });
    return JSON.stringify(c);
  },
  stream(call, reply) {
    return { frames: chunks(call, reply).map((c) => `data: ${JSON.stringify(c)}\n\n`), terminal: 1 };
  },
  streamAsJson(call, reply) {
    return JSON.stringify(chunks(call, reply));
  },
  error(b: ErrorBehavior): FakeResponse {
    const headers = retryHeaders(b);
    const [status, message] = STATUS[b.status] ?? (b.status >= 500 ? STATUS[500] : STATUS[400]);
    let details: unknown[] | undefined;
    if (b.status === 429) {
      details = [
        { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
      ];
      if (b.retryDelay !== undefined) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: b.retryDelay });
    }
    return { status: b.status, headers, body: errBody(b.status, status, b.message ?? message, details) };
  },
  streamErrorFrame: () => `data: ${errBody(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.')}\n\n`,
  malformedFrame: () => 'data: {"candidates": [{"content": {"parts": [{"text": "x"\n\n',
  other(name, body, route) {
    return embed(name, body, route.model ?? '');
  },
};

export function startFakeGemini(opts: FakeOptions = {}): Promise<FakeUpstream> {
  return new FakeUpstream(geminiDialect, { ...opts, defaultKey: GEMINI_FAKE_KEY }).listen();
}
