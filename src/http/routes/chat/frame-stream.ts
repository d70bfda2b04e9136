/** Where a streamed response's frames come from. */
export interface FrameSource {
  /** The next frames to send (already serialized), or null when the stream is over. Never throws. */
  next(): Promise<string | null>;
  /** The client went away (or the server is cutting the stream). */
  cancel(): Promise<void>;
}

export interface FrameStreamOptions {
  /** Keep-alive frame sent every `pingMs` while the stream is open (null: none). */
  ping?: { everyMs: number; frame: () => string };
}

const encoder = new TextEncoder();

/**
 * A pull-based response body. Each `pull` (one per read by the HTTP layer, which reads again
 * only after the socket accepted the previous chunk) asks the source for one step, so a slow
 * client slows the upstream read instead of growing a buffer here; the upstream socket's own
 * flow control does the rest. highWaterMark 0: nothing is read ahead of the client.
 * Each upstream chunk becomes one enqueue (no coalescing, no timers in the data path).
 */
export function frameStream(src: FrameSource, opts: FrameStreamOptions = {}): ReadableStream<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const stop = () => {
    finished = true;
    if (timer) clearInterval(timer);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (opts.ping) {
          const { everyMs, frame } = opts.ping;
          timer = setInterval(() => {
            if (!finished) controller.enqueue(encoder.encode(frame()));
          }, everyMs);
          timer.unref();
        }
      },
      async pull(controller) {
        const out = await src.next();
        if (finished) return;
        if (out === null) {
          stop();
          controller.close();
          return;
        }
        if (out.length) controller.enqueue(encoder.encode(out));
      },
      async cancel() {
        stop();
        await src.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;
