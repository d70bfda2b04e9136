import type { ChatMessage, ChatRequest, HttpRequestSpec, UpstreamTarget } from '../types.ts';
import { joinUrl } from '../shared/errors.ts';

export const ANTHROPIC_VERSION = '2023-06-01';

interface WireMessage {
  role: 'user' | 'assistant';
  content: string;
}

/**
 * Messages API shape: system and developer text goes to the top-level `system` (joined by a
 * blank line); assistant stays; every other role is user. The API wants alternating turns, so
 * consecutive same-role messages are merged (blank-line separated).
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): { system: string | undefined; messages: WireMessage[] } {
  const system: string[] = [];
  const out: WireMessage[] = [];
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'developer') {
      system.push(m.content);
      continue;
    }
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const last = out[out.length - 1];
    if (last && last.role === role) last.content = `${last.content}\n\n${m.content}`;
    else out.push({ role, content: m.content });
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages: out };
}

export function buildAnthropicRequest(req: ChatRequest, target: UpstreamTarget): HttpRequestSpec {
  const { system, messages } = toAnthropicMessages(req.messages);
  const body: Record<string, unknown> = { model: req.model, max_tokens: req.max_tokens };
  if (system !== undefined) body.system = system;
  body.messages = messages;
  // Anthropic's range is 0..1; OpenAI-style clients send up to 2. Clamp rather than fail upstream.
  if (req.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, req.temperature));
  if (req.top_p !== undefined) body.top_p = req.top_p;
  if (req.stop !== undefined && req.stop.length > 0) body.stop_sequences = req.stop;
  if (req.stream) body.stream = true;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: req.stream ? 'text/event-stream' : 'application/json',
    'anthropic-version': ANTHROPIC_VERSION,
    ...target.headers,
  };
  if (target.apiKey) headers['x-api-key'] = target.apiKey;
  return { method: 'POST', url: joinUrl(target.baseUrl, '/v1/messages'), headers, body: JSON.stringify(body) };
}
