import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { AppEnv, RequestInfo } from '../../context.ts';
import { nodeOf } from '../../node.ts';
import { pumpToNode } from './node-stream.ts';

/** Where a streamed response's frames come from. */
export interface FrameSource {
  /** The next frames to send (already serialized), or null when the stream is over. Never throws. */
  next(): Promise<string | null>;
  /**
   * True once `next()` has returned the stream's last frames (its end, or an error frame): the
   * response ends with them, in the same write, instead of a write and then an empty end.
   */
  readonly ended: boolean;
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
export function frameStream(src: FrameSource, opts: FrameStreamOptions = {}, onEnd?: () => void): ReadableStream<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const stop = () => {
    if (finished) return;
    finished = true;
    if (timer) clearInterval(timer);
    onEnd?.();
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
        if (src.ended) {
          stop();
          controller.close();
        }
      },
      async cancel() {
        stop();
        await src.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * An SSE answer's headers, then the route's own: a literal with them spread into it. An object
 * that starts as a spread's copy (`{ ...a, ...b }`) would get a shape of its own per call (lib/shape.ts).
 */
export function sseHeaders(extra: Record<string, string>): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...extra,
  };
}

/** @hono/node-server leaves a response with this header alone: the route wrote it itself. */
const ALREADY_SENT = { 'x-hono-already-sent': 'true' };

/**
 * A streamed (SSE) answer. On Node the frames go straight to the socket (node-stream.ts); under
 * app.request() the same source feeds a pull-based ReadableStream. Either way `info.streamDone`
 * tells the request middleware when the stream is over (observers see the whole stream).
 */
export function streamAnswer(ctx: Context<AppEnv>, headers: Record<string, string>, src: FrameSource, opts: FrameStreamOptions = {}): Response {
  const node = nodeOf(ctx);
  const info = ctx.get('info');
  if (!node) {
    let ended!: () => void;
    info.streamDone = new Promise<void>((r) => (ended = r));
    return new Response(frameStream(src, opts, ended), { status: 200, headers });
  }
  streamToNode(node.outgoing, info, ctx.get('startedAt'), headers, src, opts);
  return new Response(null, { status: 200, headers: ALREADY_SENT });
}

/** Whether Node sends this response's body chunked: HTTP/1.1 and later, or a 1.0 client that asked (TE: chunked). */
const chunked = (res: ServerResponse): boolean => (res as ServerResponse & { useChunkedEncodingByDefault?: boolean }).useChunkedEncodingByDefault !== false;

/**
 * A streamed answer straight onto a Node response (the app's routes and the fast lane):
 * `info.streamDone` settles when the response closes, the late headers go out with the first frame.
 */
export function streamToNode(outgoing: ServerResponse, info: RequestInfo, startedAt: number, headers: Record<string, string>, src: FrameSource, opts: FrameStreamOptions): void {
  // 'close' follows the end of every response, finished or cut.
  info.streamDone = new Promise<void>((r) => outgoing.once('close', () => r()));
  const head = {
    status: 200,
    headers,
    // A method, not a named arrow (no per-stream defineProperty under tsx's keepNames).
    beforeHead() {
      // As the request middleware computes it for other answers: time to the answer minus upstream waits.
      const now = performance.now();
      if (!outgoing.hasHeader('x-kaixu-overhead-ms')) outgoing.setHeader('x-kaixu-overhead-ms', Math.max(0, now - startedAt - info.upstreamMs).toFixed(3));
      if (info.timing) {
        if (!outgoing.hasHeader('server-timing')) outgoing.setHeader('server-timing', info.timing.header(info.upstreamMs, info.settleMs, now));
        // Trailers need a chunked body: not for an HTTP/1.0 client (Node would refuse the header).
        if (chunked(outgoing)) outgoing.setHeader('trailer', 'server-timing');
      }
    },
    // The rest of the stream's phases, with its end (timing.ts).
    beforeEnd() {
      if (info.timing && outgoing.hasHeader('trailer')) outgoing.addTrailers({ 'server-timing': info.timing.trailer({ at: info.settleAt, ms: info.settleMs }) });
    },
  };
  void pumpToNode(outgoing, head, src, opts);
}

/**
 * What a stream source calls when the call fails after the 200 headers (it then sends an error
 * frame): the request's observers record that error and the status it maps to.
 */
export function streamFailureRecorder(info: RequestInfo): (e: { code: string; message: string; status: number }) => void {
  return (e) => {
    info.errorCode = e.code;
    info.errorMessage = e.message;
    info.streamErrorStatus = e.status;
  };
}
