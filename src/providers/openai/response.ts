import type { ChatResult, ProviderError, UpstreamTarget, Usage } from '../types.ts';
import { httpError, inBodyError, isRecord, malformed, num, str, tryJson } from '../shared/errors.ts';

/** 429 codes that mean the account is out of money/quota: waiting does not help. */
const QUOTA_CODES = new Set(['insufficient_quota', 'billing_hard_limit_reached', 'billing_not_active']);

export function openAIUsage(u: unknown): Usage | null {
  if (!isRecord(u)) return null;
  const input = num(u.prompt_tokens);
  const output = num(u.completion_tokens);
  if (input === undefined && output === undefined) return null;
  return { input_tokens: input ?? 0, output_tokens: output ?? 0 };
}

/** The `{error:{message,type,param,code}}` body, plus the looser shapes compatible servers use. */
export function openAIErrorParts(body: unknown): { type?: string; code?: string; message?: string } {
  if (!isRecord(body)) return {};
  const e = body.error;
  if (isRecord(e)) {
    const code = str(e.code) ?? (typeof e.code === 'number' ? String(e.code) : undefined);
    return { type: str(e.type), code, message: str(e.message) };
  }
  if (typeof e === 'string') return { message: e };
  // vLLM: {"object":"error","message":...,"type":...}; FastAPI-style servers: {"detail": ...}
  return { type: str(body.type), message: str(body.message) ?? str(body.detail) };
}

export function parseOpenAIResponse(text: string, target: UpstreamTarget): ChatResult | ProviderError {
  const body = tryJson(text);
  if (!isRecord(body)) return malformed(target, 'response body');
  if (body.error !== undefined && body.error !== null) {
    const p = openAIErrorParts(body);
    return inBodyError(target, p.code ?? p.type, p.message);
  }
  const choices = body.choices;
  if (!Array.isArray(choices)) return malformed(target, 'response body');
  const first: unknown = choices[0];
  let text_ = '';
  let finish: string | null = null;
  if (isRecord(first)) {
    const msg = first.message;
    if (isRecord(msg)) text_ = str(msg.content) ?? '';
    finish = str(first.finish_reason) ?? null;
  }
  const result: ChatResult = { text: text_, usage: openAIUsage(body.usage), finish_reason: finish };
  const id = str(body.id);
  if (id) result.upstream_id = id;
  return result;
}

export function parseOpenAIError(status: number, headers: Record<string, string>, text: string, target: UpstreamTarget): ProviderError {
  const p = openAIErrorParts(tryJson(text));
  const notTransient = status === 429 && ((p.code !== undefined && QUOTA_CODES.has(p.code)) || p.type === 'insufficient_quota');
  return httpError(target, status, headers, { type: p.code ?? p.type, message: p.message, notTransient });
}
