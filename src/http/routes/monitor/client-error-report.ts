import { createRoute, z } from '@hono/zod-openapi';
import { safeEqual } from '../../../lib/crypto.ts';
import { AppError } from '../../../lib/errors.ts';
import type { RouteDeps } from '../../context.ts';
import { jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

/** The seed's limit, in characters of the raw body. */
export const CLIENT_ERROR_MAX_CHARS = 250_000;

const s = (max: number) => z.string().max(max).optional();
const num = z.union([z.number(), z.string().max(32)]).optional();
const loose = z.union([z.string().max(20_000), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional();
const ErrorBlock = z.union([z.string().max(20_000), z.looseObject({ name: s(200), message: s(20_000), stack: s(100_000) })]).optional();

/**
 * The seed's report shape, validated leniently but typed: browsers send varied payloads, so
 * unknown extra fields are accepted (the whole body is bounded by the 250 000-character limit),
 * while the fields we read must have the right types.
 */
export const ClientErrorReport = z
  .looseObject({
    client: z
      .looseObject({
        url: s(8_000),
        href: s(8_000),
        route: s(2_000),
        source: s(8_000),
        lineno: num,
        colno: num,
        user_agent: s(1_000),
        platform: s(200),
        language: s(100),
        viewport: loose,
        feature_flags: loose,
        flags: loose,
        env: loose,
        tags: loose,
        breadcrumb: loose,
        app: s(120),
        build: s(120),
      })
      .optional(),
    error: ErrorBlock,
    err: ErrorBlock,
    context: z.unknown().optional(),
    raw: z.unknown().optional(),
  })
  .openapi('ClientErrorReport');

const errorParts = (e: z.infer<typeof ErrorBlock>) => (typeof e === 'string' ? { message: e } : (e ?? {}));

/**
 * Seed `client-error-report`: browsers report errors that happened before (or instead of) a
 * gateway request. No key; when CLIENT_ERROR_TOKEN is set, `x-kaixu-error-token` must match.
 * Accepted as JSON whatever the content type (navigator.sendBeacon sends text/plain).
 * Recorded as a monitor event of level error, kind client_error.
 */
export function registerClientErrorReport({ app, c }: RouteDeps) {
  app.openAPIRegistry.register('ClientErrorReport', ClientErrorReport);
  const ref = { $ref: '#/components/schemas/ClientErrorReport' };
  for (const path of seedPaths('client-error-report')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'seed.client_error_report.api' : 'seed.client_error_report',
        method: 'post',
        path,
        tags: ['ops'],
        summary: 'Report a browser error (recorded as a client_error monitor event)',
        request: {
          headers: z.object({ 'x-kaixu-error-token': z.string().optional().openapi({ description: 'Required when CLIENT_ERROR_TOKEN is set' }) }),
          body: { required: true, content: { 'application/json': { schema: ref }, 'text/plain': { schema: ref } } },
        },
        responses: { 200: jsonResponse(z.object({ ok: z.boolean(), request_id: z.string() })), ...seedErrorResponses(400, 403, 413, 429) },
      }),
      async (ctx) => {
        const token = c.config.CLIENT_ERROR_TOKEN;
        if (token && !safeEqual(ctx.req.header('x-kaixu-error-token') ?? '', token)) throw new AppError('FORBIDDEN', 'Forbidden');
        const ip = ctx.get('clientIp');
        const hit = await c.throttle.hit('client-error-report', ip, 60_000);
        if (hit.count > c.config.CLIENT_ERROR_PER_IP_PER_MIN) {
          throw new AppError('RATE_LIMITED', 'Too many error reports; try again later', {}, { 'retry-after': String(hit.retryAfterS) });
        }
        const raw = await ctx.req.text();
        if (raw.length > CLIENT_ERROR_MAX_CHARS) throw new AppError('PAYLOAD_TOO_LARGE', `Error report exceeds ${CLIENT_ERROR_MAX_CHARS} characters`);
        let json: unknown;
        try {
          json = JSON.parse(raw);
        } catch {
          throw new AppError('INVALID_JSON', 'Invalid JSON body');
        }
        if (!json || typeof json !== 'object' || Array.isArray(json)) throw new AppError('VALIDATION_ERROR', 'Error report must be a JSON object');
        const parsed = ClientErrorReport.safeParse(json);
        if (!parsed.success) {
          const first = parsed.error.issues[0]!;
          throw new AppError('VALIDATION_ERROR', `Invalid body.${first.path.join('.')}: ${first.message}`);
        }
        const r = parsed.data;
        const e = errorParts(r.error ?? r.err);
        const requestId = ctx.get('requestId');
        const client = r.client ?? {};
        c.monitor.recordClientError({
          requestId,
          url: client.url ?? client.href,
          name: e.name ?? 'ClientError',
          message: e.message,
          stack: e.stack,
          app: ctx.req.header('x-kaixu-app') ?? client.app,
          build: ctx.req.header('x-kaixu-build') ?? client.build,
          userAgent: client.user_agent ?? ctx.req.header('user-agent'),
          ip,
          extra: { client: r.client, context: r.context, raw: r.raw },
        });
        return ctx.json({ ok: true, request_id: requestId }, 200);
      },
    );
  }
}
