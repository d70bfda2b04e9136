import type { SseEvent, StreamEvent, StreamParser, UpstreamTarget } from '../types.ts';
import { cut, inBodyError, isRecord, malformed, tryJson } from '../shared/errors.ts';
import { geminiCandidate, geminiErrorParts, geminiUsage } from './response.ts';

/**
 * streamGenerateContent?alt=sse: every `data:` event is a whole GenerateContentResponse; there is
 * no [DONE]. The chunk carrying a finishReason is the last one and has the complete usage, so a
 * body that ends before it was cut. A chunk `{error:{…}}` is a mid-stream failure.
 */
export function createGeminiStreamParser(target: UpstreamTarget): StreamParser {
  let done = false;
  let failed = false;
  return {
    feed(ev: SseEvent): StreamEvent[] {
      if (done || failed) return [];
      const data = tryJson(ev.data);
      if (!isRecord(data)) {
        failed = true;
        return [{ type: 'error', error: malformed(target, 'stream chunk') }];
      }
      if (isRecord(data.error)) {
        failed = true;
        const p = geminiErrorParts(data);
        const e = inBodyError(target, p.status, p.message, p.code);
        if (p.retryAfterMs !== undefined) e.retryAfterMs = p.retryAfterMs;
        return [{ type: 'error', error: e }];
      }
      const out: StreamEvent[] = [];
      const { text, finish } = geminiCandidate(data);
      if (text) out.push({ type: 'delta', text });
      const usage = geminiUsage(data.usageMetadata);
      if (usage) out.push({ type: 'usage', usage });
      if (finish) {
        done = true;
        out.push({ type: 'finish', finish_reason: finish });
      }
      return out;
    },
    end(): StreamEvent[] {
      if (done || failed) return [];
      failed = true;
      return [{ type: 'error', error: cut(target) }];
    },
  };
}
