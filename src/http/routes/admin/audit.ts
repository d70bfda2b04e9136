import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { errorResponses, jsonResponse } from '../../route-kit.ts';

const AuditEvent = z
  .object({
    id: z.number(),
    created_at: z.string().nullable(),
    actor: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    customer_id: z.string().nullable(),
    summary: z.string().nullable(),
    ip: z.string().nullable(),
    meta: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditEvent');

export function registerAdminAudit({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'admin.audit.list',
      method: 'get',
      path: '/admin/api/audit',
      tags: ['admin'],
      security: [{ adminBearer: [] }],
      middleware: [requireAdmin(c)],
      summary: 'Audit events, newest first; page with before_id',
      request: {
        query: z.object({
          action: z.string().max(64).optional(),
          actor: z.string().max(128).optional(),
          target: z.string().max(200).optional(),
          customer_id: z.string().max(100).optional(),
          since: z.string().datetime().optional(),
          until: z.string().datetime().optional(),
          before_id: z.coerce.number().int().min(1).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
      },
      responses: { 200: jsonResponse(z.object({ events: z.array(AuditEvent), next_before_id: z.number().nullable() })), ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      const res = await c.audit.list({
        action: q.action,
        actor: q.actor,
        target: q.target,
        customerId: q.customer_id,
        since: q.since ? Date.parse(q.since) : undefined,
        until: q.until ? Date.parse(q.until) : undefined,
        beforeId: q.before_id,
        limit: q.limit,
      });
      return ctx.json(res, 200);
    },
  );
}
