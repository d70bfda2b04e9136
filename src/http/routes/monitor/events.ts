import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';
import { MonitorEvent, MonitorFilterQuery, MonitorStats, toFilter } from './schemas.ts';

const security = [{ adminBearer: [] }];

/** Admin monitor API: list with filters, queue stats, prune by age. */
export function registerMonitorEvents({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.monitor.events',
      method: 'get',
      path: '/admin/api/monitor/events',
      tags: ['monitor'],
      security,
      middleware: mw,
      summary: 'Monitor events in ascending id order; continue with after_id = next_after_id',
      request: { query: MonitorFilterQuery.extend({ limit: z.coerce.number().int().min(1).max(1000).default(200) }).strict() },
      responses: {
        200: jsonResponse(z.object({ events: z.array(MonitorEvent), next_after_id: z.number(), has_more: z.boolean() })),
        ...errorResponses(400, 401),
      },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      return ctx.json(await c.monitor.store.list(toFilter(q), q.limit), 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.monitor.stats',
      method: 'get',
      path: '/admin/api/monitor/stats',
      tags: ['monitor'],
      security,
      middleware: mw,
      summary: "This node's monitor writer: queue depth, dropped and written events, open live tails",
      responses: { 200: jsonResponse(MonitorStats), ...errorResponses(401) },
    }),
    async (ctx) => {
      return ctx.json(c.monitor.stats(), 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.monitor.prune',
      method: 'post',
      path: '/admin/api/monitor/prune',
      tags: ['monitor'],
      security,
      middleware: mw,
      summary: 'Delete monitor events older than `days` (archived first when MONITOR_ARCHIVE=true)',
      request: jsonBody(z.object({ days: z.number().int().min(1).max(3650).default(30) }).strict()),
      responses: {
        200: jsonResponse(z.object({ ok: z.boolean(), days: z.number(), deleted: z.number(), archived: z.number(), archive_files: z.array(z.string()) })),
        ...errorResponses(400, 401),
      },
    }),
    async (ctx) => {
      const { days } = ctx.req.valid('json');
      const res = await c.monitor.retention.prune(days);
      const { actor, ip } = actorOf(ctx);
      await c.audit.record({ actor, ip, action: 'MONITOR_PRUNE', target: 'monitor', summary: `Pruned ${res.deleted} events older than ${days} days`, meta: { days, deleted: res.deleted } });
      return ctx.json({ ok: true, days, deleted: res.deleted, archived: res.archived, archive_files: res.archive_files }, 200);
    },
  );
}
