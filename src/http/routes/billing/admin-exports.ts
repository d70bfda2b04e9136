import { createRoute, z } from '@hono/zod-openapi';
import { monthOf } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { errorResponses } from '../../route-kit.ts';
import { csvContent, csvResponse, CustomerParam, Month, security } from './shared.ts';

const FILES = { 'events.csv': 'events', 'summary.csv': 'summary', 'invoice.csv': 'invoice' } as const;

/** GET /admin/api/customers/{id}/exports/{events|summary|invoice}.csv — seed `admin-export`. */
export function registerAdminExports({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'admin.exports.get',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/exports/{file}',
      tags: ['admin'],
      security,
      middleware: [requireAdmin(c)],
      summary: 'CSV export of a customer’s month: events (streamed), summary, or invoice (stored snapshot or live)',
      request: {
        params: CustomerParam.extend({ file: z.enum(['events.csv', 'summary.csv', 'invoice.csv']) }),
        query: z.object({
          month: Month.optional(),
          api_key_id: z.string().min(1).max(100).optional().openapi({ description: 'Only this key (events rows, invoice KEY rows)' }),
          limit: z.coerce.number().int().min(1).max(100_000_000).optional().openapi({ description: 'At most this many event rows (default: all)' }),
        }),
      },
      responses: { 200: csvContent('CSV file'), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      const { customer_id, file } = ctx.req.valid('param');
      const q = ctx.req.valid('query');
      const kind = FILES[file];
      ctx.get('info').operation = `admin.exports.${kind}`;
      const exp = await c.billing.exports.admin(kind, customer_id, q.month ?? monthOf(c.clock.now()), { apiKeyId: q.api_key_id, limit: q.limit });
      return csvResponse(ctx, exp);
    },
  );
}
