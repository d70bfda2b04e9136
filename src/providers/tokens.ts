import type { ChatMessage } from './types.ts';

/**
 * Token arithmetic without a tokenizer.
 *
 * Why UTF-8 bytes bound the token count: every tokenizer our providers use maps text to tokens
 * that each cover at least one byte of the UTF-8 input — byte-level BPE (OpenAI cl100k/o200k,
 * Anthropic's Claude tokenizer) merges bytes into tokens, and SentencePiece with byte fallback
 * (Gemini) emits either a piece of ≥ 1 character or a single byte. So the text of a message never
 * costs more tokens than it has bytes. What the bytes do not cover is the chat template the
 * provider wraps around each message (role markers, separators: 3–4 tokens per message for
 * OpenAI's format) and the priming of the reply; we allow a generous constant for both.
 * The bound is deliberately loose (real counts are ~4 bytes per token for English): it sizes a
 * cap *reservation*, which is settled to the provider's exact count afterwards.
 */
export const PER_MESSAGE_OVERHEAD_TOKENS = 16;
export const PER_REQUEST_OVERHEAD_TOKENS = 32;

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export function inputTokensUpperBound(messages: readonly Pick<ChatMessage, 'content'>[]): number {
  let total = PER_REQUEST_OVERHEAD_TOKENS;
  for (const m of messages) total += utf8Bytes(m.content) + PER_MESSAGE_OVERHEAD_TOKENS;
  return total;
}

/**
 * A rough estimate (≈ 4 characters per token) for text whose usage the provider never reported,
 * e.g. the output streamed before a client disconnect. Not a bound; usage records flag it.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
