import { SseReader } from '../lib/sse.ts';
import type { StreamEvent, StreamParser } from '../providers/types.ts';
import type { UpstreamSignal } from './abort.ts';
import { classifyTransportError, type UpstreamBody } from './client.ts';

/** Yielded once, after the first upstream frame that was not an error: the upstream is streaming. */
export const OPENED = { type: 'open' } as const;
export type UpstreamEvent = StreamEvent | typeof OPENED;

/**
 * An upstream SSE body as normalized events, in batches: the events of every chunk received by the
 * time the reader looks (a network read's worth: undici hands over each HTTP chunk on its own),
 * plus OPENED after the first good frame's, yielded together as one array; chunks that completed
 * no frame yield nothing. Events that arrived together can then be handled and sent on together, with
 * one step of the async chain per read rather than per event; a read is never held back for the
 * next. Framing (SseReader) + meaning (the adapter's parser) + transport failures. Ends after at
 * most one `error` event, which is always the last of the last batch:
 * - the provider reported an error or sent something unparseable → the parser's error;
 * - the socket failed after the headers (reset, closed mid-chunk) → cause `cut`;
 * - idle timeout → cause `idle`; abort by our own signal → type `aborted`;
 * - the body ended before the provider's terminal event → cause `cut` (from `parser.end()`).
 * On an error the body is cancelled before the batch is handed over, so the upstream socket is
 * closed even when the consumer stops there.
 */
export async function* upstreamBatches(body: UpstreamBody, parser: StreamParser, provider: string, signal?: UpstreamSignal): AsyncGenerator<UpstreamEvent[]> {
  const reader = new SseReader();
  let opened = false;
  try {
    for await (const first of body) {
      const batch: UpstreamEvent[] = [];
      for (let chunk: Uint8Array | undefined = first; chunk !== undefined; chunk = body.readNow()) {
        const frames = reader.feed(chunk);
        for (let i = 0; i < frames.length; i++) {
          const events = parser.feed(frames[i]);
          for (let j = 0; j < events.length; j++) {
            const ev = events[j];
            batch.push(ev);
            if (ev.type === 'error') {
              body.cancel();
              yield batch;
              return;
            }
          }
          if (!opened) {
            opened = true;
            batch.push(OPENED);
          }
        }
      }
      if (batch.length) yield batch;
    }
  } catch (e) {
    body.cancel();
    const err = classifyTransportError(e, provider, signal);
    yield [{ type: 'error', error: err.cause === 'network' && err.type !== 'aborted' ? { ...err, retryable: false, cause: 'cut' } : err }];
    return;
  }
  const tail: StreamEvent[] = [];
  for (const frame of reader.flush()) tail.push(...parser.feed(frame));
  tail.push(...parser.end());
  const end = tail.findIndex((ev) => ev.type === 'error');
  const last = end < 0 ? tail : tail.slice(0, end + 1);
  if (last.length) yield last;
}
