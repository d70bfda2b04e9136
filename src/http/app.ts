import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Container } from '../app/container.ts';
import { REQUEST_ID_RE, newRequestId } from '../lib/ids.ts';
import { AppError } from '../lib/errors.ts';
import type { App, AppEnv, RequestInfo, Surface } from './context.ts';
import { renderError, toAppError, validationError } from './errors.ts';
import { bodyReader } from './middleware/body.ts';
import { cors } from './middleware/cors.ts';
import { nodeOf } from './node.ts';
import type { CompletedRequest } from './observer.ts';
import { PhaseTimer, SERVER_TIMING_REQUEST_HEADER } from './timing.ts';
import { registerRoutes } from './routes.ts';

export const SEED_PREFIXES = ['/.netlify/functions/', '/api/'];

export function surfaceOf(path: string): Surface {
  if (path.startsWith('/v1/')) return 'openai';
  if (path.startsWith('/admin/')) return 'admin';
  for (const p of SEED_PREFIXES) if (path.startsWith(p)) return 'seed';
  return 'admin';
}

const DATA_PLANE = (s: Surface) => s === 'seed' || s === 'openai';
/** What an error answer's monitor event shows of it. */
const preview = (info: RequestInfo) => info.errorMessage?.slice(0, 500);

/** Build the HTTP app from a container. Never listens (see app/server.ts). */
export function buildApp(c: Container): App {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, ctx) => {
      if (!result.success) return renderError(ctx as never, validationError(result.error, result.target));
      return undefined;
    },
  });
  const { config } = c;

  const notify = (done: CompletedRequest) => {
    for (const o of c.observers) {
      try {
        o(done);
      } catch {
        /* an observer must never break a response */
      }
    }
  };

  app.use('*', async (ctx, next) => {
    const t0 = performance.now();
    const node = nodeOf(ctx);
    const sent = ctx.req.header('x-kaixu-request-id') ?? ctx.req.header('x-request-id');
    const requestId = sent && REQUEST_ID_RE.test(sent) ? sent : newRequestId();
    const surface = surfaceOf(ctx.req.path);
    // Behind one trusted reverse proxy, the client is the address that proxy appended (the last
    // x-forwarded-for entry); earlier entries are whatever the client sent and cannot be trusted.
    const fwd = config.TRUST_PROXY ? ctx.req.header('x-forwarded-for')?.split(',').pop()?.trim() : undefined;
    const ip = fwd || node?.incoming.socket?.remoteAddress || '127.0.0.1';
    // On Node, set up front: streamed answers write their headers themselves (see chat/node-stream.ts).
    if (node) node.outgoing.setHeader('x-kaixu-request-id', requestId);
    ctx.set('requestId', requestId);
    ctx.set('startedAt', t0);
    ctx.set('surface', surface);
    ctx.set('clientIp', ip);
    const info: RequestInfo = { upstreamMs: 0 };
    if (DATA_PLANE(surface) && (node ? node.incoming.headers[SERVER_TIMING_REQUEST_HEADER] : ctx.req.header(SERVER_TIMING_REQUEST_HEADER)) === '1') info.timing = new PhaseTimer(t0);
    ctx.set('info', info);
    // The stable operation id of the matched route names the request in logs, metrics and monitor.
    ctx.get('info').operation = operationOf(ctx);
    let thrown = false;
    try {
      await next();
    } catch (e) {
      thrown = true;
      throw e;
    } finally {
      const now = performance.now();
      const durationMs = now - t0;
      const overheadMs = Math.max(0, durationMs - info.upstreamMs);
      if (node) {
        // Straight onto the Node response: writeHead merges it with the Response's own headers.
        if (DATA_PLANE(surface) && !node.outgoing.headersSent) {
          node.outgoing.setHeader('x-kaixu-overhead-ms', overheadMs.toFixed(3));
          if (info.timing) node.outgoing.setHeader('server-timing', info.timing.header(info.upstreamMs, info.settleMs, now));
        }
      } else if (ctx.res) {
        const res = ctx.res;
        const extra: [string, string][] = [['x-kaixu-request-id', requestId]];
        if (DATA_PLANE(surface) && !res.headers.has('x-kaixu-overhead-ms')) {
          extra.push(['x-kaixu-overhead-ms', overheadMs.toFixed(3)]);
          if (info.timing) extra.push(['server-timing', info.timing.header(info.upstreamMs, info.settleMs, now)]);
        }
        try {
          for (const [k, v] of extra) res.headers.set(k, v);
        } catch {
          // A passed-through fetch() Response has immutable headers: re-wrap it once.
          ctx.res = new Response(res.body, res);
          for (const [k, v] of extra) ctx.res.headers.set(k, v);
        }
      }
      const status = ctx.res?.status ?? 500;
      // The access log line is one of the observers (monitor/access-log.ts).
      if (c.observers.length) {
        const done: CompletedRequest = {
          requestId,
          method: ctx.req.method,
          path: ctx.req.path,
          status,
          durationMs,
          overheadMs,
          surface,
          info,
          auth: ctx.get('auth'),
          app: ctx.req.header('x-kaixu-app'),
          build: ctx.req.header('x-kaixu-build'),
          userAgent: ctx.req.header('user-agent'),
          ip,
          thrown: thrown || info.errorCode === 'INTERNAL',
          bodyPreview: status >= 400 ? preview(info) : undefined,
        };
        if (info.streamDone) {
          // A streamed answer is observed when it ends: its whole duration, and a failure after
          // the headers (an error frame) as the error it was. overheadMs stays the time to the headers.
          void info.streamDone.then(() => {
            done.durationMs = performance.now() - t0;
            if (info.streamErrorStatus !== undefined) done.bodyPreview = preview(info);
            notify(done);
          });
        } else if (node) {
          // On a server, observers run once the response has been handed to the socket: they are
          // bookkeeping, not part of the answer's latency.
          setImmediate(notify, done);
        } else notify(done);
      }
    }
  });

  app.use('*', cors(config.ALLOWED_ORIGINS));
  app.use('*', bodyReader(config.MAX_BODY_BYTES, (ctx) => renderError(ctx, new AppError('PAYLOAD_TOO_LARGE', `Request body exceeds ${config.MAX_BODY_BYTES} bytes`))));

  app.onError((e, ctx) => {
    const appErr = toAppError(e);
    if (appErr.code === 'INTERNAL') c.log.error({ err: e, request_id: ctx.get('requestId'), path: ctx.req.path }, 'unhandled error');
    return renderError(ctx, appErr);
  });
  app.notFound((ctx) => renderError(ctx, new AppError('NOT_FOUND', 'Not found')));

  registerRoutes(app, c);
  const opIds = new Map<string, string>();
  for (const d of app.openAPIRegistry.definitions) {
    if (d.type === 'route' && d.route.operationId) opIds.set(`${d.route.method.toUpperCase()} ${d.route.path.replace(/\{(\w+)\}/g, ':$1')}`, d.route.operationId);
  }
  const operationOf = (ctx: Context<AppEnv>): string | undefined => {
    const route = matchedRoutes(ctx).findLast((r) => r.method !== 'ALL');
    // Seed functions are mounted at several paths; their operationIds differ only by a `.api`/`.seed` suffix.
    return route ? opIds.get(`${route.method} ${route.path}`)?.replace(/\.(api|seed)$/, '') : undefined;
  };

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Kaixu Gateway', version: config.version, description: 'Metered AI gateway: seed functions, OpenAI-compatible /v1, admin API.' },
    security: [],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminBearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'virtualKey', { type: 'http', scheme: 'bearer', description: 'kx_live_… virtual key or user-session JWT' });
  return app;
}
