import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonResponse } from '../../route-kit.ts';
import { InvoiceRecord } from './schemas.ts';
import { CustomerParam, Month, security } from './shared.ts';

const MonthParam = CustomerParam.extend({ month: Month });

/** Invoice snapshots — seed `admin-invoices`, with explicit, audited re-snapshots. */
export function registerAdminInvoices({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.invoices.list',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/invoices',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Stored invoice snapshots of a customer, newest month first',
      request: { params: CustomerParam },
      responses: {
        200: jsonResponse(
          z.object({
            invoices: z.array(z.object({ month: z.string(), version: z.number(), grand_total_cents: z.number(), created_by: z.string(), created_at: z.string().nullable(), updated_at: z.string().nullable() })),
          }),
        ),
        ...errorResponses(401, 404),
      },
    }),
    async (ctx) => {
      return ctx.json({ invoices: await c.billing.invoices.list(ctx.req.valid('param').customer_id) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.invoices.get',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/invoices/{month}',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'The stored snapshot for a month, or a live preview (`exists: false`)',
      request: { params: MonthParam },
      responses: { 200: jsonResponse(InvoiceRecord), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      const { customer_id, month } = ctx.req.valid('param');
      return ctx.json(await c.billing.invoices.get(customer_id, month), 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.invoices.snapshot',
      method: 'post',
      path: '/admin/api/customers/{customer_id}/invoices/{month}',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Store the month’s snapshot; 409 if one exists unless ?force=true or {"resnapshot":true} (version bump, audited)',
      request: {
        params: MonthParam,
        query: z.object({ force: z.enum(['true', 'false']).optional() }),
        body: { required: false, content: { 'application/json': { schema: z.object({ resnapshot: z.boolean().optional() }).strict() } } },
      },
      responses: { 201: jsonResponse(InvoiceRecord.extend({ ok: z.boolean() })), ...errorResponses(400, 401, 404, 409) },
    }),
    async (ctx) => {
      const { customer_id, month } = ctx.req.valid('param');
      const body = ctx.req.header('content-type')?.includes('application/json') ? ctx.req.valid('json') : {};
      const force = ctx.req.valid('query').force === 'true' || body.resnapshot === true;
      const rec = await c.billing.invoices.snapshot(customer_id, month, { force }, actorOf(ctx));
      return ctx.json({ ok: true, ...rec }, 201);
    },
  );
}
