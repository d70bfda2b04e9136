import type { SseEvent, StreamEvent, StreamParser, UpstreamTarget } from '../types.ts';
import { cut, inBodyError, isRecord, malformed, str, tryJson } from '../shared/errors.ts';
import { ContentTemplate } from '../shared/chunk-template.ts';
import { openAIErrorParts, openAIUsage } from './response.ts';

/**
 * Chat Completions stream: data-only events, each a chunk JSON; `data: [DONE]` terminates.
 * With include_usage the usage arrives in its own chunk with `choices: []` before [DONE].
 * A chunk with an `error` key, or an `event: error`, is a mid-stream failure.
 */
export function createOpenAIStreamParser(target: UpstreamTarget): StreamParser {
  let done = false;
  let failed = false;
  // The stream's content chunks read from their text alone once one was parsed whole (chunk-template.ts).
  const template = new ContentTemplate('"delta":{"content":"');
  return {
    feed(ev: SseEvent): StreamEvent[] {
      if (done || failed) return [];
      if (ev.event === undefined) {
        const text = template.match(ev.data);
        if (text !== undefined) return text ? [{ type: 'delta', text }] : [];
      }
      if (ev.data === '[DONE]') {
        done = true;
        return [];
      }
      const chunk = tryJson(ev.data);
      if (ev.event === 'error' || (isRecord(chunk) && chunk.error !== undefined && chunk.error !== null)) {
        failed = true;
        const p = openAIErrorParts(chunk);
        return [{ type: 'error', error: inBodyError(target, p.code ?? p.type, p.message ?? (chunk === undefined ? ev.data : undefined)) }];
      }
      if (!isRecord(chunk)) {
        failed = true;
        return [{ type: 'error', error: malformed(target, 'stream chunk') }];
      }
      const out = chunkEvents(chunk);
      const only = out.length === 1 ? out[0]! : undefined;
      if (only?.type === 'delta' && ev.event === undefined) template.learn(ev.data, only.text, deltaTextOf);
      return out;
    },
    end(): StreamEvent[] {
      if (done || failed) return [];
      failed = true;
      return [{ type: 'error', error: cut(target) }];
    },
  };
}

/** What a chunk (not an error) says: its first choice's text and finish reason, and usage. */
function chunkEvents(chunk: Record<string, unknown>): StreamEvent[] {
  const out: StreamEvent[] = [];
  const choices = chunk.choices;
  if (Array.isArray(choices) && choices.length > 0) {
    const c: unknown = choices[0];
    if (isRecord(c)) {
      const delta = c.delta;
      if (isRecord(delta)) {
        const text = str(delta.content);
        if (text) out.push({ type: 'delta', text });
      }
      const finish = str(c.finish_reason);
      if (finish) out.push({ type: 'finish', finish_reason: finish });
    }
  }
  const usage = openAIUsage(chunk.usage);
  if (usage) out.push({ type: 'usage', usage });
  return out;
}

/** The text of a chunk that is exactly one content delta, parsed whole; undefined for any other (ContentTemplate's check). */
function deltaTextOf(data: string): string | undefined {
  const chunk = tryJson(data);
  if (!isRecord(chunk) || (chunk.error !== undefined && chunk.error !== null)) return undefined;
  const out = chunkEvents(chunk);
  return out.length === 1 && out[0]!.type === 'delta' ? out[0]!.text : undefined;
}
