import { createRoute, z } from '@hono/zod-openapi';
import { safeEqual } from '../../../lib/crypto.ts';
import { AppError } from '../../../lib/errors.ts';
import type { RouteDeps } from '../../context.ts';
import { errorResponses } from '../../route-kit.ts';

/** Prometheus scrape endpoint; with METRICS_TOKEN set it needs `Authorization: Bearer <token>`. */
export function registerMetrics({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'ops.metrics',
      method: 'get',
      path: '/metrics',
      tags: ['ops'],
      summary: 'Prometheus metrics (text exposition format)',
      responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } }, ...errorResponses(401) },
    }),
    async (ctx) => {
      const token = c.config.METRICS_TOKEN;
      if (token) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.req.header('authorization') ?? '');
        if (!m || !safeEqual(m[1]!, token)) throw new AppError('UNAUTHORIZED', 'Metrics require Authorization: Bearer <METRICS_TOKEN>');
      }
      const { contentType, body } = await c.metrics.render();
      return ctx.text(body, 200, { 'content-type': contentType });
    },
  );
}
