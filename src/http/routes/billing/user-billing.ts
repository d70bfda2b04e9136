import { createRoute, z } from '@hono/zod-openapi';
import { forKeyHolder } from '../../../billing/invoices/visibility.ts';
import { monthOf } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { jsonBody, jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';
import { CheckoutResult, InvoiceRecord } from './schemas.ts';
import { csvContent, csvResponse, keySecurity, Month } from './shared.ts';

const opId = (base: string, path: string) => (path.startsWith('/api/') ? `${base}.api` : base);

const UserCheckoutBody = z
  .object({ amount_cents: z.number().int().min(100).max(500_000), month: Month.optional() })
  .strict()
  .openapi('UserCheckout');

/** Key-holder billing: seed `user-invoices`, `user-export`, `user-topup-checkout` (both prefixes). */
export function registerUserBilling({ app, c }: RouteDeps) {
  const mw = [requireKey(c)];
  for (const path of seedPaths('user-invoices')) {
    app.openapi(
      createRoute({
        operationId: opId('seed.user_invoices', path),
        method: 'get',
        path,
        tags: ['user'],
        security: keySecurity,
        middleware: mw,
        summary: 'The month’s invoice (stored snapshot, else live); sub-keys see only their own key line',
        request: { query: z.object({ month: Month.optional() }) },
        responses: { 200: jsonResponse(InvoiceRecord), ...seedErrorResponses(400, 401, 403) },
      }),
      async (ctx) => {
        const auth = ctx.get('auth')!;
        const month = ctx.req.valid('query').month ?? monthOf(c.clock.now());
        return ctx.json(forKeyHolder(await c.billing.invoices.get(auth.customer.id, month), auth.key), 200);
      },
    );
  }

  for (const path of seedPaths('user-export')) {
    app.openapi(
      createRoute({
        operationId: opId('seed.user_export', path),
        method: 'get',
        path,
        tags: ['user'],
        security: keySecurity,
        middleware: mw,
        summary: 'CSV export of the calling key’s month: events (streamed), summary, or invoice',
        request: {
          query: z.object({
            type: z.enum(['events', 'summary', 'invoice']).default('events'),
            month: Month.optional(),
            limit: z.coerce.number().int().min(1).max(100_000_000).optional(),
          }),
        },
        responses: { 200: csvContent('CSV file'), ...seedErrorResponses(400, 401, 403) },
      }),
      async (ctx) => {
        const q = ctx.req.valid('query');
        ctx.get('info').operation = `user.export.${q.type}`;
        const exp = await c.billing.exports.user(q.type, ctx.get('auth')!, q.month ?? monthOf(c.clock.now()), { limit: q.limit });
        return csvResponse(ctx, exp);
      },
    );
  }

  for (const path of seedPaths('user-topup-checkout')) {
    app.openapi(
      createRoute({
        operationId: opId('seed.user_topup_checkout', path),
        method: 'post',
        path,
        tags: ['user'],
        security: keySecurity,
        middleware: mw,
        summary: 'Buy extra cap for a month through Stripe Checkout (100–500 000 ¢); 501 when Stripe is not configured',
        request: jsonBody(UserCheckoutBody),
        responses: { 200: jsonResponse(CheckoutResult), ...seedErrorResponses(400, 401, 403, 501, 502) },
      }),
      async (ctx) => {
        const auth = ctx.get('auth')!;
        const body = ctx.req.valid('json');
        const s = await c.billing.checkout.create(
          { customerId: auth.customer.id, customerEmail: auth.customer.email, month: body.month, amountCents: body.amount_cents, audience: 'user', origin: ctx.req.header('origin') },
          { actor: `key:${auth.key.key_last4}`, ip: ctx.get('clientIp') },
        );
        return ctx.json({ ok: true, ...s }, 200);
      },
    );
  }
}
