import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { AppError } from '../lib/errors.ts';
import { CallAbort } from '../upstream/abort.ts';

/**
 * The Node request/response @hono/node-server hands every request as `ctx.env`. Absent under
 * `app.request()` (in-process tests), where the fetch Request is all there is.
 *
 * Touching `ctx.req.raw.signal` or `ctx.req.raw.body` makes @hono/node-server build a whole
 * fetch Request (undici Request, AbortController, web stream around the socket) for the call;
 * the hot path reads what it needs from these instead.
 */
export interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

export function nodeOf(ctx: Context): NodeBindings | undefined {
  const env = ctx.env as Partial<NodeBindings> | undefined;
  return env?.incoming && env.outgoing ? (env as NodeBindings) : undefined;
}

/**
 * Sets a header on whatever response this request ends with (an answer or an error): on Node
 * straight on the ServerResponse (writeHead merges it), else through hono's prepared headers.
 */
export function responseHeader(ctx: Context, name: string, value: string): void {
  const node = nodeOf(ctx);
  if (node) node.outgoing.setHeader(name, value);
  else ctx.header(name, value);
}

/**
 * The abort handle of a call, tripped when the client goes away before its response was complete
 * (on Node: the response closed unfinished, as @hono/node-server itself detects it).
 */
export function clientAbort(ctx: Context): CallAbort {
  const node = nodeOf(ctx);
  if (node) return abortOnClose(node.outgoing);
  const abort = new CallAbort();
  const signal = ctx.req.raw.signal;
  if (signal.aborted) abort.abort();
  else signal.addEventListener('abort', () => abort.abort(), { once: true });
  return abort;
}

/** On Node: an abort handle tripped when the response closes unfinished (as @hono/node-server detects it). */
export function abortOnClose(outgoing: ServerResponse): CallAbort {
  const abort = new CallAbort();
  if (outgoing.destroyed) abort.abort();
  // Inline listener: no per-call named closures on the hot path.
  else outgoing.once('close', () => !outgoing.writableFinished && abort.abort());
  return abort;
}

/**
 * A body the fast lane (fast-lane.ts) started reading (readBody's promise) before it handed the
 * request on to the Hono app; the body reader takes it from here instead of the (drained) stream.
 */
const stashed = new WeakMap<IncomingMessage, Promise<Buffer | null>>();
export const stashBody = (incoming: IncomingMessage, body: Promise<Buffer | null>): void => void stashed.set(incoming, body);
export const stashedBody = (incoming: IncomingMessage): Promise<Buffer | null> | undefined => stashed.get(incoming);

const bodyCut = () => new AppError('CLIENT_CLOSED', 'Client closed the request before its body arrived');

/**
 * Reads a request body from the socket stream, up to `maxBytes`; null when it is larger (the
 * rest is left to flow away). Rejects if the connection closes before the body ended. A promise
 * settles once, so the listeners need no removal: whichever event comes first decides.
 */
export function readBody(incoming: IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  // The usual case: the whole body came with the headers and the parser has already buffered it
  // (complete). Take it in one synchronous read instead of switching the stream to flowing mode
  // and waiting ticks for 'data' and 'end'; the stream still ends (and emits 'end') as usual.
  if (incoming.complete && incoming.readableFlowing !== true && incoming.readableLength <= maxBytes && !incoming.readableEnded) {
    const chunks: Buffer[] = [];
    let size = 0;
    for (let c = incoming.read() as Buffer | null; c !== null; c = incoming.read() as Buffer | null) {
      chunks.push(c);
      size += c.length;
    }
    return Promise.resolve(size === 0 ? Buffer.alloc(0) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on('data', (chunk: Buffer) => {
      if (size > maxBytes) return;
      size += chunk.length;
      if (size > maxBytes) resolve(null);
      else chunks.push(chunk);
    });
    incoming.on('end', () => resolve(size > maxBytes ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    incoming.on('error', () => reject(bodyCut()));
    // 'close' follows every request; only one whose body never completed is a cut.
    incoming.on('close', () => !incoming.complete && reject(bodyCut()));
  });
}

/** UTF-8 text of a body as fetch's `Request.text()` decodes it (a leading BOM dropped). */
export function utf8Text(buf: Buffer): string {
  const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  return buf.toString('utf8', bom ? 3 : 0);
}
