import { z } from '@hono/zod-openapi';
import { KINDS, LEVELS, type MonitorFilter } from '../../../monitor/types.ts';

/** A time filter: ISO 8601 or epoch milliseconds. */
export const TimeParam = z
  .union([z.string().regex(/^\d{1,15}$/), z.string().datetime({ offset: true })])
  .transform((v) => (/^\d+$/.test(v) ? Number(v) : Date.parse(v)))
  .openapi({ type: 'string', description: 'ISO 8601 time or epoch milliseconds', example: '2026-01-15T00:00:00Z' });

export const MonitorFilterQuery = z
  .object({
    level: z.enum(LEVELS).optional(),
    kind: z.enum(KINDS).optional(),
    operation: z.string().min(1).max(100).optional().openapi({ description: 'Route operation id, e.g. gateway.chat' }),
    route: z.string().min(1).max(100).optional().openapi({ description: 'Alias of operation' }),
    app: z.string().min(1).max(120).optional(),
    request_id: z.string().min(1).max(128).optional(),
    customer_id: z.string().min(1).max(100).optional(),
    since: TimeParam.optional(),
    after_id: z.coerce.number().int().min(0).optional(),
  })
  .strict();

export function toFilter(q: z.infer<typeof MonitorFilterQuery>): MonitorFilter {
  return {
    level: q.level,
    kind: q.kind,
    operation: q.operation ?? q.route,
    app: q.app,
    requestId: q.request_id,
    customerId: q.customer_id,
    since: q.since,
    afterId: q.after_id,
  };
}

export const MonitorEvent = z
  .object({
    id: z.number(),
    created_at: z.string(),
    level: z.string(),
    kind: z.string(),
    operation: z.string().nullable(),
    method: z.string().nullable(),
    path: z.string().nullable(),
    status: z.number().nullable(),
    duration_ms: z.number().nullable(),
    request_id: z.string().nullable(),
    app: z.string().nullable(),
    build: z.string().nullable(),
    customer_id: z.string().nullable(),
    api_key_id: z.string().nullable(),
    provider: z.string().nullable(),
    model: z.string().nullable(),
    upstream_status: z.number().nullable(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    body_preview: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    node_id: z.string().nullable(),
    extra: z.record(z.string(), z.unknown()),
  })
  .openapi('MonitorEvent');

export const MonitorStats = z
  .object({
    node_id: z.string(),
    queue_depth: z.number(),
    queue_max: z.number(),
    dropped: z.number(),
    written: z.number(),
    write_errors: z.number(),
    batches: z.number(),
    streams_open: z.number(),
  })
  .openapi('MonitorStats');
