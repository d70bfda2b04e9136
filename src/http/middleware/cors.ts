import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { nodeOf } from '../node.ts';

const ALLOW_HEADERS =
  'authorization, content-type, x-kaixu-install-id, x-kaixu-request-id, x-kaixu-app, x-kaixu-build, x-kaixu-server-timing, x-admin-password, x-kaixu-error-token, x-content-sha1, stripe-signature';
const EXPOSE_HEADERS = 'x-kaixu-request-id, x-kaixu-overhead-ms, server-timing, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after';

/**
 * CORS per ALLOWED_ORIGINS. Empty (the default) = same origin only: no allow-origin header.
 * `*` echoes the request origin; otherwise exact matches are echoed with `Vary: Origin`.
 */
export function cors(allowed: readonly string[]): MiddlewareHandler<AppEnv> {
  const any = allowed.includes('*');
  const set = new Set(allowed);
  const onNode = nodeCors(allowed);
  return async (c, next) => {
    const origin = c.req.header('origin');
    const allowOrigin = origin && (any || set.has(origin)) ? origin : undefined;
    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method')) {
      const h = new Headers({ vary: 'Origin' });
      if (allowOrigin) {
        h.set('access-control-allow-origin', allowOrigin);
        h.set('access-control-allow-methods', 'GET,POST,PUT,PATCH,DELETE,OPTIONS');
        h.set('access-control-allow-headers', ALLOW_HEADERS);
        h.set('access-control-max-age', '86400');
      }
      h.set('x-kaixu-request-id', c.get('requestId'));
      return new Response(null, { status: 204, headers: h });
    }
    if (!origin) return next();
    const node = nodeOf(c);
    if (node) {
      onNode(node.outgoing, origin);
      return next();
    }
    await next();
    c.res.headers.append('vary', 'Origin');
    if (allowOrigin) {
      c.res.headers.set('access-control-allow-origin', allowOrigin);
      c.res.headers.set('access-control-expose-headers', EXPOSE_HEADERS);
    }
  };
}

/**
 * The CORS headers of a (non-preflight) request with an Origin, set up front on the Node response:
 * they depend on the request alone, and a streamed answer writes its headers itself (writeHead
 * merges these in). Also used by the fast lane (fast-lane.ts).
 */
export function nodeCors(allowed: readonly string[]): (outgoing: ServerResponse, origin: string) => void {
  const any = allowed.includes('*');
  const set = new Set(allowed);
  return (outgoing, origin) => {
    outgoing.setHeader('vary', 'Origin');
    if (any || set.has(origin)) {
      outgoing.setHeader('access-control-allow-origin', origin);
      outgoing.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
    }
  };
}
