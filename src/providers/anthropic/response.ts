import type { ChatResult, ProviderError, UpstreamTarget, Usage } from '../types.ts';
import { httpError, inBodyError, isRecord, malformed, num, str, tryJson } from '../shared/errors.ts';

/**
 * Anthropic's `input_tokens` excludes prompt-cache writes and reads; the prompt's full size is
 * their sum (what OpenAI calls prompt_tokens). Fields absent from an event stay absent.
 */
export function anthropicUsage(u: unknown): Partial<Usage> | null {
  if (!isRecord(u)) return null;
  const out: Partial<Usage> = {};
  const input = num(u.input_tokens);
  if (input !== undefined) out.input_tokens = input + (num(u.cache_creation_input_tokens) ?? 0) + (num(u.cache_read_input_tokens) ?? 0);
  const output = num(u.output_tokens);
  if (output !== undefined) out.output_tokens = output;
  return out.input_tokens === undefined && out.output_tokens === undefined ? null : out;
}

/** `{type:"error", error:{type, message, details?}}`. */
export function anthropicErrorParts(body: unknown): { type?: string; message?: string; errorCode?: string } {
  if (!isRecord(body) || !isRecord(body.error)) return {};
  const e = body.error;
  const details = isRecord(e.details) ? e.details : undefined;
  return { type: str(e.type), message: str(e.message), errorCode: details ? str(details.error_code) : undefined };
}

export function parseAnthropicResponse(text: string, target: UpstreamTarget): ChatResult | ProviderError {
  const body = tryJson(text);
  if (!isRecord(body)) return malformed(target, 'response body');
  if (body.type === 'error') {
    const p = anthropicErrorParts(body);
    return inBodyError(target, p.type, p.message);
  }
  if (!Array.isArray(body.content)) return malformed(target, 'response body');
  let out = '';
  for (const block of body.content as unknown[]) {
    if (isRecord(block) && block.type === 'text') out += str(block.text) ?? '';
  }
  const u = anthropicUsage(body.usage);
  const usage: Usage | null = u ? { input_tokens: u.input_tokens ?? 0, output_tokens: u.output_tokens ?? 0 } : null;
  const result: ChatResult = { text: out, usage, finish_reason: str(body.stop_reason) ?? null };
  const id = str(body.id);
  if (id) result.upstream_id = id;
  return result;
}

export function parseAnthropicError(status: number, headers: Record<string, string>, text: string, target: UpstreamTarget): ProviderError {
  const p = anthropicErrorParts(tryJson(text));
  // A 429 for the organisation's monthly spend limit is not a transient rate limit.
  const notTransient = status === 429 && p.errorCode === 'enforced_spend_limit_reached';
  return httpError(target, status, headers, { type: p.errorCode ?? p.type, message: p.message, notTransient });
}
