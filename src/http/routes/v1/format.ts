import type { ChatOutcome } from '../../../chat/types.ts';
import type { ChatMessage } from '../../../providers/types.ts';
import type { V1ChatBody } from './schemas.ts';

/** OpenAI messages → normalized messages (text parts joined; empty messages dropped). */
export function v1Messages(messages: V1ChatBody['messages']): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages) {
    const content = m.content == null ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('');
    if (content.trim() !== '') out.push({ role: m.role, content });
  }
  return out;
}

export function openaiUsage(o: ChatOutcome) {
  return { prompt_tokens: o.usage.input_tokens, completion_tokens: o.usage.output_tokens, total_tokens: o.usage.input_tokens + o.usage.output_tokens };
}

/** Gateway-specific facts, in an extra top-level field OpenAI clients ignore. */
export function kaixuExtra(o: ChatOutcome) {
  return { provider: o.names.provider, cost_cents: o.usage.cost_cents, usage_source: o.usageSource, month: { ...o.month } };
}

export function completionBody(id: string, created: number, o: ChatOutcome) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: o.names.model,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: o.text, refusal: null }, logprobs: null, finish_reason: o.finish_reason }],
    usage: openaiUsage(o),
    kaixu: kaixuExtra(o),
  };
}

/** One `chat.completion.chunk` SSE frame (`data:` only, as OpenAI sends them). */
export function chunkFrame(
  base: { id: string; created: number; model: string; includeUsage: boolean },
  choice: { delta: Record<string, unknown>; finish_reason: string | null } | null,
  usage?: ReturnType<typeof openaiUsage>,
): string {
  const chunk: Record<string, unknown> = {
    id: base.id,
    object: 'chat.completion.chunk',
    created: base.created,
    model: base.model,
    choices: choice ? [{ index: 0, delta: choice.delta, logprobs: null, finish_reason: choice.finish_reason }] : [],
  };
  if (base.includeUsage) chunk.usage = usage ?? null;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** What every chunk of one stream shares, serialized once (chunkHead): the text before its `choices` value and after it. */
export interface ChunkHead {
  open: string;
  close: string;
}

export function chunkHead(base: { id: string; created: number; model: string; includeUsage: boolean }): ChunkHead {
  return {
    open: `data: {"id":${JSON.stringify(base.id)},"object":"chat.completion.chunk","created":${JSON.stringify(base.created)},"model":${JSON.stringify(base.model)},"choices":`,
    close: base.includeUsage ? ',"usage":null}\n\n' : '}\n\n',
  };
}

/**
 * A content chunk, byte for byte what chunkFrame writes for `{ delta: { content: text },
 * finish_reason: null }`, with only the text serialized: a stream sends one per upstream delta,
 * and serializing its whole object each time took V8's string serializer 90 k instructions per
 * 20-chunk stream, this 19 k (bench/README.md, "Instructions per stream").
 */
export function contentFrame(head: ChunkHead, text: string): string {
  return `${head.open}[{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}]${head.close}`;
}
