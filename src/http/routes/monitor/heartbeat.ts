import { createRoute, z } from '@hono/zod-openapi';
import type { HeartbeatRecord } from '../../../heartbeat/heartbeat.ts';
import { iso } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin, requireKey } from '../../middleware/auth.ts';
import { errorResponses, jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

const adminItem = (r: HeartbeatRecord) => ({
  time: iso(r.time)!,
  slot_start: iso(r.slot_start)!,
  ok: r.ok,
  http_status: r.http_status,
  db_ok: r.db_ok,
  response_ms: r.response_ms,
  error: r.error,
  error_type: r.error_type,
  node_id: r.node_id,
});

/** The seed's record naming (gateway-heartbeat-read): ts, ok, http_ok, db_ok, status, ms, error, error_type. */
const seedItem = (r: HeartbeatRecord) => ({
  ts: iso(r.time)!,
  ok: r.ok,
  http_ok: r.http_status != null && r.http_status < 400,
  db_ok: r.db_ok,
  status: r.http_status,
  ms: r.response_ms,
  error: r.error,
  error_type: r.error_type,
});

const AdminHeartbeatItem = z
  .object({
    time: z.string(),
    slot_start: z.string(),
    ok: z.boolean(),
    http_status: z.number().nullable(),
    db_ok: z.boolean(),
    response_ms: z.number().nullable(),
    error: z.string().nullable(),
    error_type: z.string().nullable(),
    node_id: z.string().nullable(),
  })
  .openapi('HeartbeatRecord');
const SeedHeartbeatItem = z
  .object({
    ts: z.string(),
    ok: z.boolean(),
    http_ok: z.boolean(),
    db_ok: z.boolean(),
    status: z.number().nullable(),
    ms: z.number().nullable(),
    error: z.string().nullable(),
    error_type: z.string().nullable(),
  })
  .openapi('SeedHeartbeatRecord');
const Failures = z.object({ streak: z.number(), last_failure: z.string().nullable(), last_ok: z.string().nullable() });

export function registerHeartbeatRoutes({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'admin.heartbeat.get',
      method: 'get',
      path: '/admin/api/heartbeat',
      tags: ['monitor'],
      security: [{ adminBearer: [] }],
      middleware: [requireAdmin(c)],
      summary: 'Heartbeat history (newest first) and uptime over the last `hours` (default 24)',
      request: { query: z.object({ hours: z.coerce.number().int().min(1).max(720).default(24) }).strict() },
      responses: {
        200: jsonResponse(
          z.object({
            interval_ms: z.number(),
            window_hours: z.number(),
            target: z.string().nullable(),
            total: z.number(),
            ok_count: z.number(),
            uptime_pct: z.number().nullable(),
            last: AdminHeartbeatItem.nullable(),
            failures: Failures,
            items: z.array(AdminHeartbeatItem),
          }),
        ),
        ...errorResponses(400, 401),
      },
    }),
    async (ctx) => {
      const h = await c.heartbeat.history(ctx.req.valid('query').hours);
      return ctx.json(
        {
          interval_ms: h.interval_ms,
          window_hours: h.window_hours,
          target: c.heartbeat.target ?? null,
          total: h.total,
          ok_count: h.ok_count,
          uptime_pct: h.uptime_pct,
          last: h.last ? adminItem(h.last) : null,
          failures: { streak: h.failures.streak, last_failure: iso(h.failures.last_failure), last_ok: iso(h.failures.last_ok) },
          items: h.items.map(adminItem),
        },
        200,
      );
    },
  );

  for (const path of seedPaths('gateway-heartbeat-read')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'seed.heartbeat_read.api' : 'seed.heartbeat_read',
        method: 'get',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c)],
        summary: "Live Monitor: the gateway's last heartbeat, failure streak, 24 h uptime; history with ?history=1",
        request: { query: z.object({ history: z.enum(['0', '1', 'true', 'false']).optional() }).strict() },
        responses: {
          200: jsonResponse(
            z.object({
              ok: z.boolean(),
              interval_ms: z.number(),
              uptime_24h_pct: z.number().nullable(),
              last: SeedHeartbeatItem.nullable(),
              failures: Failures,
              history: z.object({ updated_at: z.string().nullable(), items: z.array(SeedHeartbeatItem) }).optional(),
            }),
          ),
          ...seedErrorResponses(400, 401, 403),
        },
      }),
      async (ctx) => {
        const wantHistory = ['1', 'true'].includes(ctx.req.valid('query').history ?? '');
        const h = await c.heartbeat.history(24);
        return ctx.json(
          {
            ok: true,
            interval_ms: h.interval_ms,
            uptime_24h_pct: h.uptime_pct,
            last: h.last ? seedItem(h.last) : null,
            failures: { streak: h.failures.streak, last_failure: iso(h.failures.last_failure), last_ok: iso(h.failures.last_ok) },
            ...(wantHistory ? { history: { updated_at: h.last ? iso(h.last.time) : null, items: h.items.map(seedItem) } } : {}),
          },
          200,
        );
      },
    );
  }
}
