import { z } from '@hono/zod-openapi';
import { Sampling } from '../chat/schemas.ts';

const TextPart = z.object({ type: z.literal('text'), text: z.string().max(4_000_000) }).strict();

export const V1Message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z.union([z.string().max(4_000_000), z.array(TextPart).max(200)]).nullable(),
    name: z.string().max(64).optional(),
  })
  .strict();

/**
 * The Chat Completions parameters the gateway supports. Anything else (tools, n > 1,
 * response_format…) is refused with 400 rather than silently ignored.
 */
export const V1ChatBody = z
  .object({
    model: z.string().trim().min(1).max(256).openapi({ description: 'A lane name (kaixu-chat), provider/model (openai/gpt-4o-mini) or a vendor model name (gpt-4o-mini, claude-…, gemini-…).' }),
    messages: z.array(V1Message).min(1).max(2000),
    ...Sampling,
    max_completion_tokens: Sampling.max_tokens,
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).strict().nullable().optional(),
    n: z.literal(1).nullable().optional(),
    user: z.string().max(256).optional(),
  })
  .strict()
  .openapi('ChatCompletionRequest', { example: { model: 'kaixu-chat', messages: [{ role: 'user', content: 'Hello' }] } });
export type V1ChatBody = z.infer<typeof V1ChatBody>;

const Usage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });

export const ChatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number(),
        message: z.object({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
        logprobs: z.null(),
        finish_reason: z.string(),
      }),
    ),
    usage: Usage,
    kaixu: z.object({ provider: z.string(), cost_cents: z.number(), usage_source: z.string(), month: z.record(z.string(), z.unknown()) }),
  })
  .openapi('ChatCompletion');

export const ModelList = z
  .object({ object: z.literal('list'), data: z.array(z.object({ id: z.string(), object: z.literal('model'), created: z.number(), owned_by: z.string() })) })
  .openapi('ModelList');
