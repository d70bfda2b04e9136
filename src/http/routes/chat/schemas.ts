import { z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import type { ChatParams } from '../../../chat/types.ts';
import { AppError } from '../../../lib/errors.ts';
import type { Spelled } from '../../../lib/shape.ts';
import type { ChatMessage, ChatRole } from '../../../providers/types.ts';
import { validationError } from '../../errors.ts';

/** The seed's own validation messages (original-contract §1.4), kept verbatim. */
export const SEED_MESSAGES = {
  provider: 'Missing provider (openai|anthropic|gemini)',
  model: 'Missing model',
  messages: 'Missing messages[]',
} as const;

const missingOr = (msg: string) => (iss: { input: unknown }) => (iss.input === undefined || iss.input === null ? msg : undefined);

export const DEFAULT_MAX_TOKENS = 1024;
export const MAX_MAX_TOKENS = 1_000_000;
const ROLES = ['system', 'developer', 'user', 'assistant'] as const;

export const SeedMessage = z
  .object({
    role: z
      .string()
      .transform((r) => r.trim().toLowerCase())
      .pipe(z.enum(ROLES)),
    content: z.string().max(4_000_000),
  })
  .strict();

export const Sampling = {
  max_tokens: z.number().int().min(1).max(MAX_MAX_TOKENS).nullable().optional().openapi({ description: `Output bound sent upstream (default ${DEFAULT_MAX_TOKENS}).` }),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  stop: z
    .union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).max(4)])
    .nullable()
    .optional(),
};

export const SeedChatBody = z
  .object({
    provider: z.string({ error: missingOr(SEED_MESSAGES.provider) }).trim().min(1, SEED_MESSAGES.provider).max(64),
    model: z.string({ error: missingOr(SEED_MESSAGES.model) }).trim().min(1, SEED_MESSAGES.model).max(200),
    messages: z.array(SeedMessage, { error: missingOr(SEED_MESSAGES.messages) }).min(1, SEED_MESSAGES.messages).max(2000),
    ...Sampling,
  })
  .strict()
  .openapi('SeedChatRequest', {
    example: { provider: 'openai', model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 256, temperature: 0.7 },
  });
export type SeedChatBody = z.infer<typeof SeedChatBody>;

const SEED_TEXTS = new Set<string>(Object.values(SEED_MESSAGES));

/**
 * Validation failures on the seed chat bodies: a missing provider/model/messages gets the
 * seed's exact message (checked in that order, as the original did); any other problem is a
 * 400 naming the field.
 */
export function seedValidationError(err: ZodError, target: string): AppError {
  const base = validationError(err, target);
  const seed = err.issues.find((i) => SEED_TEXTS.has(i.message));
  return seed ? new AppError('VALIDATION_ERROR', seed.message, base.details) : base;
}

/** Drops empty messages (as the seed did); none left is the seed's "Missing messages[]". */
export function nonEmptyMessages(messages: { role: ChatRole; content: string }[]): ChatMessage[] {
  const out = messages.filter((m) => m.content.trim() !== '');
  if (!out.length) {
    throw new AppError('VALIDATION_ERROR', SEED_MESSAGES.messages, { fields: [{ path: 'json.messages', message: 'every message is empty', code: 'too_small' }] });
  }
  return out;
}

/** The sampling fields of a chat body, as both surfaces send them (null: not set). */
export interface ChatParamsInput {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | string[] | null;
}

/** The normalized params: every field present, an unset one as undefined (one object shape, lib/shape.ts). */
export function chatParams(body: ChatParamsInput, messages: ChatMessage[]): ChatParams {
  const p: Spelled<ChatParams> = {
    messages,
    max_tokens: body.max_tokens ?? DEFAULT_MAX_TOKENS,
    temperature: body.temperature ?? undefined,
    top_p: body.top_p ?? undefined,
    stop: body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop,
  };
  return p;
}

const Month = z
  .object({
    month: z.string(),
    cap_cents: z.number(),
    spent_cents: z.number(),
    customer_cap_cents: z.number(),
    customer_spent_cents: z.number(),
    key_cap_cents: z.number(),
    key_spent_cents: z.number(),
  })
  .openapi('Month');

export const SeedChatResponse = z
  .object({
    provider: z.string(),
    model: z.string(),
    requested_provider: z.string().optional(),
    requested_model: z.string().optional(),
    output_text: z.string(),
    usage: z.object({ input_tokens: z.number(), output_tokens: z.number(), cost_cents: z.number() }),
    month: Month,
    telemetry: z.object({ install_id: z.string().nullable() }),
  })
  .openapi('SeedChatResponse');
export type SeedChatResponse = z.infer<typeof SeedChatResponse>;

/** Route hook for the seed chat bodies: throws the seed-shaped validation error. */
export function seedHook(result: { success: boolean; target: string; error?: unknown }): undefined {
  if (!result.success) throw seedValidationError(result.error as ZodError, result.target);
  return undefined;
}
