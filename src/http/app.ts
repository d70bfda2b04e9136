import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Container } from '../app/container.ts';
import { AppError } from '../lib/errors.ts';
import type { App, AppEnv } from './context.ts';
import { renderError, toAppError, validationError } from './errors.ts';
import { bodyReader } from './middleware/body.ts';
import { cors } from './middleware/cors.ts';
import { nodeOf } from './node.ts';
import { clientIpOf, isDataPlane, newRequestInfo, observeRequest, requestIdOf, setOverheadHeaders, surfaceOf } from './request-scope.ts';
import { SERVER_TIMING_REQUEST_HEADER } from './timing.ts';
import { registerRoutes } from './routes.ts';

/** Build the HTTP app from a container. Never listens (see app/server.ts). */
export function buildApp(c: Container): App {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, ctx) => {
      if (!result.success) return renderError(ctx as never, validationError(result.error, result.target));
      return undefined;
    },
  });
  const { config } = c;

  app.use('*', async (ctx, next) => {
    const t0 = performance.now();
    const node = nodeOf(ctx);
    const requestId = requestIdOf(ctx.req.header('x-kaixu-request-id') ?? ctx.req.header('x-request-id'));
    const surface = surfaceOf(ctx.req.path);
    const ip = clientIpOf(config.TRUST_PROXY, config.TRUST_PROXY ? ctx.req.header('x-forwarded-for') : undefined, node?.incoming.socket?.remoteAddress);
    // On Node, set up front: streamed answers write their headers themselves (see chat/node-stream.ts).
    if (node) node.outgoing.setHeader('x-kaixu-request-id', requestId);
    ctx.set('requestId', requestId);
    ctx.set('startedAt', t0);
    ctx.set('surface', surface);
    ctx.set('clientIp', ip);
    const info = newRequestInfo(surface, node ? (node.incoming.headers[SERVER_TIMING_REQUEST_HEADER] as string | undefined) : ctx.req.header(SERVER_TIMING_REQUEST_HEADER), t0);
    ctx.set('info', info);
    // The stable operation id of the matched route names the request in logs, metrics and monitor.
    info.operation = operationOf(ctx);
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
      // On Node straight onto the response: writeHead merges it with the Response's own headers.
      if (node) setOverheadHeaders(node.outgoing, surface, info, overheadMs, now);
      else if (ctx.res) {
        const res = ctx.res;
        const extra: [string, string][] = [['x-kaixu-request-id', requestId]];
        if (isDataPlane(surface) && !res.headers.has('x-kaixu-overhead-ms')) {
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
      // The access log line is one of the observers (monitor/access-log.ts).
      if (c.observers.length) {
        const status = ctx.res?.status ?? 500;
        observeRequest(
          c,
          {
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
          },
          t0,
          !!node,
        );
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
