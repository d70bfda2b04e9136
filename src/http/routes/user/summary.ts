import { createRoute, z } from '@hono/zod-openapi';
import { MONTH_RE, monthOf } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

export const MonthQuery = z.object({ month: z.string().regex(MONTH_RE, 'must be YYYY-MM').optional() });

const UserMonth = z
  .object({
    month: z.string(),
    cap_cents: z.number(),
    spent_cents: z.number(),
    customer_cap_cents: z.number(),
    customer_spent_cents: z.number(),
    customer_extra_cents: z.number(),
    customer_reserved_cents: z.number(),
    customer_remaining_cents: z.number(),
    key_cap_cents: z.number(),
    key_spent_cents: z.number(),
    key_reserved_cents: z.number(),
    key_remaining_cents: z.number(),
    customer_tokens: z.number(),
    key_tokens: z.number(),
    customer_calls: z.number(),
    key_calls: z.number(),
  })
  .openapi('UserMonth');

const UserSummary = z
  .object({
    customer: z.object({ id: z.string(), plan_name: z.string(), monthly_cap_cents: z.number(), is_active: z.boolean(), cap_mode: z.string() }),
    key: z.object({ id: z.string(), label: z.string(), key_last4: z.string(), has_cap_override: z.boolean(), key_cap_cents: z.number().nullable() }),
    month: UserMonth,
  })
  .openapi('UserSummary');

/** Seed `user-summary`: the calling key's month — caps, spend, remaining, tokens (exact cents). */
export function registerUserSummary({ app, c }: RouteDeps) {
  for (const path of seedPaths('user-summary')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'user.summary.api' : 'user.summary',
        method: 'get',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c)],
        request: { query: MonthQuery },
        responses: { 200: jsonResponse(UserSummary), ...seedErrorResponses(400, 401, 403) },
      }),
      async (ctx) => {
        const { key, customer } = ctx.get('auth')!;
        const month = ctx.req.valid('query').month ?? monthOf(c.clock.now());
        const m = await c.gov.usage.keyMonth({
          customerId: customer.id,
          keyId: key.id,
          month,
          customerCapCents: customer.monthly_cap_cents,
          keyCapCents: key.monthly_cap_cents,
        });
        return ctx.json(
          {
            customer: { id: customer.id, plan_name: customer.plan, monthly_cap_cents: customer.monthly_cap_cents, is_active: customer.is_active, cap_mode: customer.cap_mode },
            key: { id: key.id, label: key.label, key_last4: key.key_last4, has_cap_override: key.monthly_cap_cents != null, key_cap_cents: key.monthly_cap_cents },
            month: m,
          },
          200,
        );
      },
    );
  }
}
