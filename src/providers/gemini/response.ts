import type { ChatResult, ProviderError, UpstreamTarget, Usage } from '../types.ts';
import { httpError, inBodyError, isRecord, malformed, num, parseDurationMs, str, tryJson } from '../shared/errors.ts';

/**
 * usageMetadata: promptTokenCount is the input; candidatesTokenCount plus thoughtsTokenCount is
 * the billed output (thinking tokens are charged as output). Intermediate stream chunks carry only
 * the prompt count, so absent fields stay absent.
 */
export function geminiUsage(u: unknown): Partial<Usage> | null {
  if (!isRecord(u)) return null;
  const out: Partial<Usage> = {};
  const prompt = num(u.promptTokenCount);
  if (prompt !== undefined) out.input_tokens = prompt;
  const cand = num(u.candidatesTokenCount);
  const thoughts = num(u.thoughtsTokenCount);
  if (cand !== undefined || thoughts !== undefined) out.output_tokens = (cand ?? 0) + (thoughts ?? 0);
  return out.input_tokens === undefined && out.output_tokens === undefined ? null : out;
}

/** Text of the first candidate (thought summaries excluded) and its finish reason. */
export function geminiCandidate(body: Record<string, unknown>): { text: string; finish: string | undefined } {
  const cands = body.candidates;
  if (!Array.isArray(cands) || cands.length === 0) {
    const fb = body.promptFeedback;
    return { text: '', finish: isRecord(fb) ? str(fb.blockReason) : undefined };
  }
  const c: unknown = cands[0];
  if (!isRecord(c)) return { text: '', finish: undefined };
  let text = '';
  const content = c.content;
  if (isRecord(content) && Array.isArray(content.parts)) {
    for (const p of content.parts as unknown[]) {
      if (isRecord(p) && p.thought !== true) text += str(p.text) ?? '';
    }
  }
  return { text, finish: str(c.finishReason) };
}

/** `{error:{code, message, status, details:[…RetryInfo{retryDelay}…]}}`. */
export function geminiErrorParts(body: unknown): { code?: number; status?: string; message?: string; retryAfterMs?: number } {
  if (!isRecord(body) || !isRecord(body.error)) return {};
  const e = body.error;
  let retryAfterMs: number | undefined;
  if (Array.isArray(e.details)) {
    for (const d of e.details as unknown[]) {
      if (isRecord(d) && typeof d['@type'] === 'string' && d['@type'].endsWith('google.rpc.RetryInfo')) {
        retryAfterMs = parseDurationMs(d.retryDelay);
      }
    }
  }
  return { code: num(e.code), status: str(e.status), message: str(e.message), retryAfterMs };
}

export function parseGeminiResponse(text: string, target: UpstreamTarget): ChatResult | ProviderError {
  const body = tryJson(text);
  if (!isRecord(body)) return malformed(target, 'response body');
  if (isRecord(body.error)) {
    const p = geminiErrorParts(body);
    return inBodyError(target, p.status, p.message, p.code);
  }
  if (body.candidates === undefined && body.promptFeedback === undefined) return malformed(target, 'response body');
  const { text: out, finish } = geminiCandidate(body);
  const u = geminiUsage(body.usageMetadata);
  const usage: Usage | null = u ? { input_tokens: u.input_tokens ?? 0, output_tokens: u.output_tokens ?? 0 } : null;
  const result: ChatResult = { text: out, usage, finish_reason: finish ?? null };
  const id = str(body.responseId);
  if (id) result.upstream_id = id;
  return result;
}

export function parseGeminiError(status: number, headers: Record<string, string>, text: string, target: UpstreamTarget): ProviderError {
  const p = geminiErrorParts(tryJson(text));
  return httpError(target, status, headers, { type: p.status, message: p.message, retryAfterMs: p.retryAfterMs });
}
