import { SseReader } from '../lib/sse.ts';
import type { StreamEvent, StreamParser } from '../providers/types.ts';
import { classifyTransportError, type UpstreamBody } from './client.ts';

/**
 * An upstream SSE body as normalized events: framing (SseReader) + meaning (the adapter's
 * parser) + transport failures. Ends after at most one `error` event, which is always last:
 * - the provider reported an error or sent something unparseable → the parser's error;
 * - the socket failed after the headers (reset, closed mid-chunk) → cause `cut`;
 * - idle timeout → cause `idle`; abort by our own signal → type `aborted`;
 * - the body ended before the provider's terminal event → cause `cut` (from `parser.end()`).
 * On an error the body is cancelled, so the upstream socket is closed.
 */
export async function* upstreamEvents(body: UpstreamBody, parser: StreamParser, provider: string, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
  const reader = new SseReader();
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
