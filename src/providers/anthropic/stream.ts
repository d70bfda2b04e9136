import type { SseEvent, StreamEvent, StreamParser, UpstreamTarget } from '../types.ts';
import { cut, inBodyError, isRecord, malformed, str, tryJson } from '../shared/errors.ts';
import { ContentTemplate } from '../shared/chunk-template.ts';
import { anthropicErrorParts, anthropicUsage } from './response.ts';

/**
 * Messages stream: named events. Input usage comes in message_start; message_delta carries the
 * cumulative output count (so a later usage event replaces, not adds). message_stop terminates;
 * ping is keep-alive; `event: error` may arrive after the 200. Unknown events are skipped
 * (Anthropic documents that new event types may appear).
 */
export function createAnthropicStreamParser(target: UpstreamTarget): StreamParser {
  let done = false;
  let failed = false;
  // A block's text deltas read from their text alone once one was parsed whole (shared/chunk-template.ts).
  const template = new ContentTemplate(TEXT_MARKER);
  const fail = (events: StreamEvent[]): StreamEvent[] => {
    failed = true;
    return events;
  };
  return {
    feed(ev: SseEvent): StreamEvent[] {
      if (done || failed) return [];
      if (ev.event === 'ping') return [];
      if (ev.event === 'content_block_delta') {
        const text = template.match(ev.data);
        if (text !== undefined) return text ? [{ type: 'delta', text }] : [];
      }
      const data = tryJson(ev.data);
      if (!isRecord(data)) {
        if (ev.event === 'error') return fail([{ type: 'error', error: inBodyError(target, undefined, ev.data) }]);
        return fail([{ type: 'error', error: malformed(target, 'stream event') }]);
      }
      const name = ev.event ?? str(data.type);
      switch (name) {
        case 'message_start': {
          const msg = data.message;
          const usage = isRecord(msg) ? anthropicUsage(msg.usage) : null;
          return usage ? [{ type: 'usage', usage }] : [];
        }
        case 'content_block_delta': {
          const text = textOf(data);
          if (!text) return [];
          if (ev.event === 'content_block_delta') template.learn(ev.data, text, textDeltaOf);
          return [{ type: 'delta', text }];
        }
        case 'message_delta': {
          const out: StreamEvent[] = [];
          const usage = anthropicUsage(data.usage);
          if (usage) out.push({ type: 'usage', usage });
          const delta = data.delta;
          const stop = isRecord(delta) ? str(delta.stop_reason) : undefined;
          if (stop) out.push({ type: 'finish', finish_reason: stop });
          return out;
        }
        case 'message_stop':
          done = true;
          return [];
        case 'error': {
          const p = anthropicErrorParts(data);
          return fail([{ type: 'error', error: inBodyError(target, p.type, p.message) }]);
        }
        default:
          return [];
      }
    },
    end(): StreamEvent[] {
      if (done || failed) return [];
      failed = true;
      return [{ type: 'error', error: cut(target) }];
    },
  };
}

/** Where a text delta's text starts in Anthropic's serialization of `content_block_delta`. */
const TEXT_MARKER = '"delta":{"type":"text_delta","text":"';

/** The text of a `content_block_delta` event's data: its delta's, when that is a text delta. */
function textOf(data: Record<string, unknown>): string | undefined {
  const delta = data.delta;
  return isRecord(delta) && delta.type === 'text_delta' ? str(delta.text) : undefined;
}

/** The text of a `content_block_delta` event's data parsed whole, when it is a non-empty text delta (ContentTemplate's check). */
function textDeltaOf(raw: string): string | undefined {
  const data = tryJson(raw);
  return isRecord(data) ? textOf(data) || undefined : undefined;
}
