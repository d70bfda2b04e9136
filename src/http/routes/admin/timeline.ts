import { createRoute, z } from '@hono/zod-openapi';
import { CURSOR_RE, TIMELINE_SOURCES, type TimelineSource } from '../../../timeline/timeline.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { errorResponses, jsonResponse } from '../../route-kit.ts';
import { TimeParam } from '../monitor/schemas.ts';

const Sources = z
  .string()
  .max(40)
  .transform((s) => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))])
  .pipe(z.array(z.enum(TIMELINE_SOURCES)).min(1))
  .openapi({ type: 'string', description: 'Comma list of audit, monitor, job (default all)', example: 'audit,job' });

const TimelineItem = z
  .object({
    id: z.string(),
    time: z.string(),
    source: z.enum(TIMELINE_SOURCES),
    actor: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    status: z.string(),
    summary: z.string().nullable(),
    customer_id: z.string().nullable(),
  })
  .openapi('TimelineItem');

/** Platform timeline: audit events, monitor warnings/errors and job events, newest first. */
export function registerAdminTimeline({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'admin.timeline.list',
      method: 'get',
      path: '/admin/api/timeline',
      tags: ['admin'],
      security: [{ adminBearer: [] }],
      middleware: [requireAdmin(c)],
      summary: 'Audit, monitor (warn/error) and job events merged newest first; continue with cursor = next_cursor',
      request: {
        query: z
          .object({
            source: Sources.optional(),
            since: TimeParam.optional(),
            until: TimeParam.optional(),
            customer_id: z.string().min(1).max(100).optional(),
            limit: z.coerce.number().int().min(1).max(500).default(100),
            cursor: z.string().regex(CURSOR_RE, 'invalid cursor').optional(),
          })
          .strict(),
      },
      responses: { 200: jsonResponse(z.object({ items: z.array(TimelineItem), next_cursor: z.string().nullable() })), ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      const res = await c.timeline.list({
        sources: (q.source ?? [...TIMELINE_SOURCES]) as TimelineSource[],
        since: q.since,
        until: q.until,
        customerId: q.customer_id,
        limit: q.limit,
        cursor: q.cursor,
      });
      return ctx.json(res, 200);
    },
  );
}
