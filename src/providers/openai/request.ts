import type { ChatMessage, ChatRequest, HttpRequestSpec, UpstreamTarget } from '../types.ts';
import { joinUrl } from '../shared/errors.ts';

/** What differs between OpenAI itself and the OpenAI-compatible servers (vLLM, Ollama, Groq…). */
export interface OpenAIDialect {
  /** OpenAI deprecated `max_tokens` for `max_completion_tokens`; compatible servers mostly know only the former. */
  maxTokensField: 'max_completion_tokens' | 'max_tokens';
  /** `developer` is an OpenAI role; compatible servers expect `system`. */
  developerRole: 'developer' | 'system';
}

interface WireMessage {
  role: 'developer' | 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * `tool` messages need a tool_call_id the normalized request does not carry, so their text is
 * sent as user content rather than as an upstream 400.
 */
function wireMessage(m: ChatMessage, d: OpenAIDialect): WireMessage {
  switch (m.role) {
    case 'developer':
      return { role: d.developerRole, content: m.content };
    case 'system':
    case 'user':
    case 'assistant':
      return { role: m.role, content: m.content };
    default:
      return { role: 'user', content: m.content };
  }
}

export function buildOpenAIRequest(req: ChatRequest, target: UpstreamTarget, d: OpenAIDialect): HttpRequestSpec {
  const body: Record<string, unknown> = {
    model: req.model,
    messages: req.messages.map((m) => wireMessage(m, d)),
    [d.maxTokensField]: req.max_tokens,
  };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.top_p !== undefined) body.top_p = req.top_p;
  if (req.stop !== undefined && req.stop.length > 0) body.stop = req.stop;
  if (req.stream) {
    body.stream = true;
    // Always ask for the usage chunk: metering must not depend on what the client asked for.
    body.stream_options = { include_usage: true };
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: req.stream ? 'text/event-stream' : 'application/json',
    ...target.headers,
  };
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  return { method: 'POST', url: joinUrl(target.baseUrl, '/chat/completions'), headers, body: JSON.stringify(body) };
}
