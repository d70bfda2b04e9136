import type { ChatMessage, ChatRequest, HttpRequestSpec, UpstreamTarget } from '../types.ts';
import { joinUrl } from '../shared/errors.ts';

interface Content {
  role: 'user' | 'model';
  parts: { text: string }[];
}

/**
 * generateContent shape: system/developer text → systemInstruction (one part per message);
 * assistant → role `model`; every other role → `user`. Consecutive same-role turns are merged
 * into one Content with several parts (the API wants turns to alternate).
 */
export function toGeminiContents(messages: readonly ChatMessage[]): { system: { parts: { text: string }[] } | undefined; contents: Content[] } {
  const sys: { text: string }[] = [];
  const contents: Content[] = [];
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'developer') {
      sys.push({ text: m.content });
      continue;
    }
    const role = m.role === 'assistant' ? 'model' : 'user';
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push({ text: m.content });
    else contents.push({ role, parts: [{ text: m.content }] });
  }
  return { system: sys.length > 0 ? { parts: sys } : undefined, contents };
}

/** Model ids may be given as `models/<id>`; the path adds that prefix itself. */
function modelPath(model: string): string {
  const id = model.startsWith('models/') ? model.slice('models/'.length) : model;
  return encodeURIComponent(id);
}

/** Base is the API host (e.g. https://generativelanguage.googleapis.com); the version is in the path. */
export function buildGeminiRequest(req: ChatRequest, target: UpstreamTarget): HttpRequestSpec {
  const { system, contents } = toGeminiContents(req.messages);
  const generationConfig: Record<string, unknown> = { maxOutputTokens: req.max_tokens };
  if (req.temperature !== undefined) generationConfig.temperature = req.temperature;
  if (req.top_p !== undefined) generationConfig.topP = req.top_p;
  if (req.stop !== undefined && req.stop.length > 0) generationConfig.stopSequences = req.stop;
  const body: Record<string, unknown> = { contents };
  if (system) body.systemInstruction = system;
  body.generationConfig = generationConfig;
  const method = req.stream ? ':streamGenerateContent?alt=sse' : ':generateContent';
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: req.stream ? 'text/event-stream' : 'application/json',
    ...target.headers,
  };
  if (target.apiKey) headers['x-goog-api-key'] = target.apiKey;
  return {
    method: 'POST',
    url: joinUrl(target.baseUrl, `/v1beta/models/${modelPath(req.model)}${method}`),
    headers,
    body: JSON.stringify(body),
  };
}
