import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { MONTH_RE, monthOf } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { errorResponses, jsonResponse } from '../../route-kit.ts';
import { UsageEventView } from '../user/events.ts';

const Query = z.object({
  month: z.string().regex(MONTH_RE, 'must be YYYY-MM').optional(),
  api_key_id: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
  before_id: z.coerce.number().int().min(1).optional(),
});

const AdminUsage = z
  .object({
    customer: z.object({ id: z.string(), email: z.string(), plan_name: z.string(), monthly_cap_cents: z.number(), cap_mode: z.string() }),
    month: z.string(),
    cap_cents: z.number(),
    rollup: z.object({
      spent_cents: z.number(),
      spent_micros: z.number(),
      reserved_cents: z.number(),
      extra_cents: z.number(),
      input_tokens: z.number(),
      output_tokens: z.number(),
      calls: z.number(),
      updated_at: z.string().nullable(),
    }),
    per_key: z.array(
      z.object({
        id: z.string(),
        key_last4: z.string(),
        label: z.string(),
        is_revoked: z.boolean(),
        key_cap_cents: z.number().nullable(),
        spent_cents: z.number(),
        spent_micros: z.number(),
        reserved_cents: z.number(),
        input_tokens: z.number(),
        output_tokens: z.number(),
        calls: z.number(),
        updated_at: z.string().nullable(),
      }),
    ),
    events: z.array(UsageEventView),
    next_before_id: z.number().nullable(),
  })
  .openapi('AdminUsage');

/** Admin: a customer's month — rollup, one line per key, events newest first (paginated by before_id). */
export function registerAdminUsage({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'admin.usage.get',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/usage',
      tags: ['admin'],
      security: [{ adminBearer: [] }],
      middleware: [requireAdmin(c)],
      request: { params: z.object({ customer_id: z.string().min(1).max(100) }), query: Query },
      responses: { 200: jsonResponse(AdminUsage), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      const { customer_id } = ctx.req.valid('param');
      const q = ctx.req.valid('query');
      const cust = await c.customers.get(customer_id);
      if (!cust) throw new AppError('NOT_FOUND', 'Customer not found');
      const month = q.month ?? monthOf(c.clock.now());
      const [roll, page] = await Promise.all([
        c.gov.usage.customerMonth(customer_id, month),
        c.gov.usage.events({ customerId: customer_id, keyId: q.api_key_id, month, limit: q.limit, beforeId: q.before_id }),
      ]);
      return ctx.json(
        {
          customer: { id: cust.id, email: cust.email, plan_name: cust.plan, monthly_cap_cents: cust.monthly_cap_cents, cap_mode: cust.cap_mode },
          month,
          cap_cents: cust.monthly_cap_cents + roll.rollup.extra_cents,
          rollup: roll.rollup,
          per_key: roll.per_key,
          events: page.events,
          next_before_id: page.next_before_id,
        },
        200,
      );
    },
  );
}
