import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../context.ts';
import { nodeOf, readBody, stashedBody, utf8Text } from '../node.ts';

/** A fresh copy of the body's bytes, as `Request.arrayBuffer()` would give (callers may mutate it). */
function arrayBufferOf(body: Buffer): Promise<ArrayBuffer> {
  return Promise.resolve(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer);
}

/**
 * Request body size limit, and on Node the read itself: the body comes straight off the socket
 * stream into the request's body cache, where `ctx.req.json()`/`text()` (and so the zod
 * validators) find it. Nothing builds a fetch Request around the socket for that (see node.ts).
 * Under app.request() hono's own bodyLimit does the job on the fetch Request.
 */
export function bodyReader(maxBytes: number, tooLarge: (ctx: Context<AppEnv>) => Response): MiddlewareHandler<AppEnv> {
  const fetchBodyLimit = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (ctx, next) => {
    const node = nodeOf(ctx);
    // No info when the reader runs without the app's request middleware (a bare app in tests).
    const timing = ctx.get('info')?.timing;
    if (!node) {
      timing?.mark('body');
      return fetchBodyLimit(ctx, next);
    }
    const { incoming } = node;
    if (incoming.method === 'GET' || incoming.method === 'HEAD') {
      timing?.mark('body');
      return next();
    }
    const declared = incoming.headers['content-length'];
    if (declared !== undefined && incoming.headers['transfer-encoding'] === undefined && Number(declared) > maxBytes) return tooLarge(ctx);
    const body = await (stashedBody(incoming) ?? readBody(incoming, maxBytes));
    timing?.mark('body');
    if (body === null) return tooLarge(ctx);
    // Promises, as hono keeps them (its type says otherwise).
    const cache = ctx.req.bodyCache as Record<string, unknown>;
    // Bytes first: hono derives any other body type from the first cached one (text would be lossy).
    Object.defineProperty(cache, 'arrayBuffer', {
      enumerable: true,
      configurable: true,
      get: arrayBufferOf.bind(null, body),
    });
    cache.text = Promise.resolve(utf8Text(body));
    return next();
  };
}
