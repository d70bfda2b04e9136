import { SseReader } from '../lib/sse.ts';
import type { StreamEvent, StreamParser } from '../providers/types.ts';
import type { UpstreamSignal } from './abort.ts';
import { classifyTransportError, type UpstreamBody } from './client.ts';

/** Yielded once, after the first upstream frame that was not an error: the upstream is streaming. */
export const OPENED = { type: 'open' } as const;
export type UpstreamEvent = StreamEvent | typeof OPENED;

/**
 * An upstream SSE body as normalized events (plus OPENED after the first good frame): framing
 * (SseReader) + meaning (the adapter's parser) + transport failures. Ends after at most one
 * `error` event, which is always last:
 * - the provider reported an error or sent something unparseable → the parser's error;
 * - the socket failed after the headers (reset, closed mid-chunk) → cause `cut`;
 * - idle timeout → cause `idle`; abort by our own signal → type `aborted`;
 * - the body ended before the provider's terminal event → cause `cut` (from `parser.end()`).
 * On an error the body is cancelled, so the upstream socket is closed.
 */
export async function* upstreamEvents(body: UpstreamBody, parser: StreamParser, provider: string, signal?: UpstreamSignal): AsyncGenerator<UpstreamEvent> {
  const reader = new SseReader();
  let opened = false;
  try {
    for await (const chunk of body) {
      const frames = reader.feed(chunk);
      for (let i = 0; i < frames.length; i++) {
        const events = parser.feed(frames[i]);
        for (let j = 0; j < events.length; j++) {
          const ev = events[j];
          yield ev;
          if (ev.type === 'error') {
            body.cancel();
            return;
          }
        }
        if (!opened) {
          opened = true;
          yield OPENED;
        }
      }
    }
  } catch (e) {
    body.cancel();
    const err = classifyTransportError(e, provider, signal);
    yield { type: 'error', error: err.cause === 'network' && err.type !== 'aborted' ? { ...err, retryable: false, cause: 'cut' } : err };
    return;
  }
  const tail: StreamEvent[] = [];
  for (const frame of reader.flush()) tail.push(...parser.feed(frame));
  tail.push(...parser.end());
  for (const ev of tail) {
    yield ev;
    if (ev.type === 'error') return;
  }
}
