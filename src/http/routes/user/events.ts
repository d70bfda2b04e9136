import { createRoute, z } from '@hono/zod-openapi';
import { MONTH_RE, monthOf } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

export const UsageEventView = z
  .object({
    id: z.number(),
    created_at: z.string().nullable(),
    request_id: z.string(),
    api_key_id: z.string(),
    kind: z.string(),
    provider: z.string(),
    model: z.string(),
    upstream_provider: z.string(),
    upstream_model: z.string(),
    input_tokens: z.number(),
    output_tokens: z.number(),
    usage_source: z.string(),
    cost_micros: z.number(),
    cost_cents: z.number(),
    install_id: z.string().nullable(),
    app: z.string().nullable(),
    build: z.string().nullable(),
    status: z.string(),
    latency_ms: z.number(),
  })
  .openapi('UsageEvent');

const Query = z.object({
  month: z.string().regex(MONTH_RE, 'must be YYYY-MM').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
  before_id: z.coerce.number().int().min(1).optional(),
});

const UserEvents = z
  .object({
    month: z.string(),
    key: z.object({ id: z.string(), label: z.string(), key_last4: z.string() }),
    summary_by_provider: z.array(z.object({ provider: z.string(), calls: z.number(), cost_cents: z.number(), input_tokens: z.number(), output_tokens: z.number() })),
    events: z.array(UsageEventView),
    next_before_id: z.number().nullable(),
  })
  .openapi('UserEvents');

/** Seed `user-events`: the calling key's usage events of a month (never other keys'), with per-provider totals. */
export function registerUserEvents({ app, c }: RouteDeps) {
  for (const path of seedPaths('user-events')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'user.events.api' : 'user.events',
        method: 'get',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c)],
        request: { query: Query },
        responses: { 200: jsonResponse(UserEvents), ...seedErrorResponses(400, 401, 403) },
      }),
      async (ctx) => {
        const { key } = ctx.get('auth')!;
        const q = ctx.req.valid('query');
        const month = q.month ?? monthOf(c.clock.now());
        const [page, summary] = await Promise.all([
          c.gov.usage.events({ keyId: key.id, month, limit: q.limit, beforeId: q.before_id }),
          c.gov.usage.summaryByProvider(key.id, month),
        ]);
        return ctx.json(
          { month, key: { id: key.id, label: key.label, key_last4: key.key_last4 }, summary_by_provider: summary, events: page.events, next_before_id: page.next_before_id },
          200,
        );
      },
    );
  }
}
