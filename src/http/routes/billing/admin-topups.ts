import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';
import { CheckoutResult, Topup } from './schemas.ts';
import { CustomerParam, Month, security } from './shared.ts';
import { AppError } from '../../../lib/errors.ts';

const ManualTopupBody = z
  .object({
    amount_cents: z.number().int().min(1).max(100_000_000),
    month: Month.optional(),
    note: z.string().max(500).optional(),
  })
  .strict()
  .openapi('ManualTopup');

const AdminCheckoutBody = z
  .object({ amount_cents: z.number().int().min(1).max(99_999_999), month: Month.optional() })
  .strict()
  .openapi('AdminCheckout');

/** Top-ups: manual (seed `admin-topup`), list, and a Stripe Checkout for a customer (seed `stripe-create-checkout`). */
export function registerAdminTopups({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.topups.create',
      method: 'post',
      path: '/admin/api/customers/{customer_id}/topups',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Manual top-up: adds amount_cents to the month’s extra cap (current month by default), audited TOPUP_MANUAL',
      request: { params: CustomerParam, ...jsonBody(ManualTopupBody) },
      responses: {
        201: jsonResponse(z.object({ ok: z.boolean(), customer_id: z.string(), month: z.string(), amount_cents: z.number(), extra_cents: z.number(), topup: Topup })),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (ctx) => {
      const { customer_id } = ctx.req.valid('param');
      const res = await c.billing.topups.manual(customer_id, ctx.req.valid('json'), actorOf(ctx));
      return ctx.json({ ok: true, customer_id, month: res.topup.month, amount_cents: res.topup.amount_cents, extra_cents: res.extra_cents, topup: res.topup }, 201);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.topups.list',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/topups',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: CustomerParam, query: z.object({ month: Month.optional() }) },
      responses: { 200: jsonResponse(z.object({ topups: z.array(Topup) })), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      return ctx.json({ topups: await c.billing.topups.list(ctx.req.valid('param').customer_id, ctx.req.valid('query').month) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.topups.checkout',
      method: 'post',
      path: '/admin/api/customers/{customer_id}/topups/checkout',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Create a Stripe Checkout session for a top-up; the webhook credits it once paid. 501 without STRIPE_SECRET_KEY',
      request: { params: CustomerParam, ...jsonBody(AdminCheckoutBody) },
      responses: { 200: jsonResponse(CheckoutResult), ...errorResponses(400, 401, 404, 501, 502) },
    }),
    async (ctx) => {
      const { customer_id } = ctx.req.valid('param');
      const body = ctx.req.valid('json');
      const customer = await c.customers.get(customer_id);
      if (!customer) throw new AppError('NOT_FOUND', 'Customer not found');
      const s = await c.billing.checkout.create(
        { customerId: customer.id, customerEmail: customer.email, month: body.month, amountCents: body.amount_cents, audience: 'admin', origin: ctx.req.header('origin') },
        actorOf(ctx),
      );
      return ctx.json({ ok: true, ...s }, 200);
    },
  );
}
