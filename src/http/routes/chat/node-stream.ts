import type { ServerResponse } from 'node:http';
import type { FrameSource, FrameStreamOptions } from './frame-stream.ts';

/** Resolves once the response can take more data, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

type Head = { status: number; headers: Record<string, string>; beforeHead?: () => void; beforeEnd?: () => void };

// Module functions, not closures made per stream: under tsx (esbuild keepNames) each named arrow
// created per stream costs a defineProperty call on the way to the first byte.
function writeHead(res: ServerResponse, head: Head): void {
  if (res.headersSent) return;
  head.beforeHead?.();
  res.writeHead(head.status, head.headers);
}

function send(res: ServerResponse, head: Head, frame: string): boolean {
  writeHead(res, head);
  return res.write(frame);
}

/**
 * Streams frames straight onto the Node response, without a web ReadableStream and
 * @hono/node-server's reader loop in between. The status line and headers leave in the same write
 * as the first frame (no separate header packet, nothing held back), every later `next()` (a frame,
 * or the frames of events that arrived together) in a write of its own as soon as the source has
 * it. The next frames are asked for only once the socket took the previous ones (`drain`), so a
 * slow client slows the upstream read instead of growing a buffer; a response that closes early
 * cancels the source.
 *
 * `beforeHead` runs right before the headers go out (late headers such as x-kaixu-overhead-ms),
 * `beforeEnd` right before the end of a stream that ran its course (trailers), not when the
 * response closed early.
 */
export async function pumpToNode(
  res: ServerResponse,
  head: Head,
  src: FrameSource,
  opts: FrameStreamOptions,
): Promise<void> {
  let open = true;
  let timer: NodeJS.Timeout | undefined;
  res.once('close', () => {
    if (!open) return;
    open = false;
    if (timer) clearInterval(timer);
    // The source settles or releases the call; a failure there is its to report.
    src.cancel().catch(() => undefined);
  });
  if (opts.ping) {
    const { everyMs, frame } = opts.ping;
    // A congested socket gets no pings: the data already queued keeps intermediaries awake.
    timer = setInterval(() => open && !res.writableNeedDrain && send(res, head, frame()), everyMs);
    timer.unref();
  }
  try {
    for (;;) {
      const out = await src.next();
      if (!open) return;
      if (out === null || src.ended) {
        // The last frames leave with the response's end (the chunked terminator) in one write.
        open = false;
        if (timer) clearInterval(timer);
        writeHead(res, head);
        head.beforeEnd?.();
        if (out) res.end(out);
        else res.end();
        return;
      }
      if (out.length && !send(res, head, out)) await drained(res);
    }
  } catch {
    // Sources report (and log) failures as frames; anything thrown here is a bug: cut the
    // response (its 'close' cancels the source) rather than leave it hanging or crash the process.
    res.destroy();
  }
}
