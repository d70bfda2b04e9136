import { createRoute, z } from '@hono/zod-openapi';
import { priceView } from '../../../metering/pricing.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';

const security = [{ adminBearer: [] }];
const name = z.string().trim().min(1).max(200);
const micros = z.number().int().min(0).max(1_000_000_000_000);

const PriceView = z
  .object({
    provider: z.string(),
    model: z.string(),
    input_micros_per_m: z.number(),
    output_micros_per_m: z.number(),
    input_usd_per_m: z.string(),
    output_usd_per_m: z.string(),
    markup_bp: z.number(),
    updated_at: z.string().nullable(),
    updated_by: z.string().nullable(),
  })
  .openapi('Price');

const PutBody = z
  .object({
    provider: name,
    model: name,
    input_micros_per_m: micros.openapi({ description: 'Micro-dollars per 1M input tokens ($2.50 = 2500000)' }),
    output_micros_per_m: micros,
    markup_bp: z.number().int().min(0).max(1_000_000).optional().openapi({ description: 'Markup in basis points (31 % = 3100)' }),
    markup_pct: z
      .number()
      .min(0)
      .max(10_000)
      .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6, 'at most 2 decimals')
      .optional()
      .openapi({ description: 'Markup in percent (alternative to markup_bp)' }),
  })
  .strict()
  .refine((b) => b.markup_bp === undefined || b.markup_pct === undefined, { message: 'Give markup_bp or markup_pct, not both' })
  .openapi('PriceUpsert');

const Target = z.object({ provider: name, model: name });

/** Admin: per-(provider, model) prices in µ$ per 1M tokens plus markup. Every node reloads on change. */
export function registerAdminPricing({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.pricing.list',
      method: 'get',
      path: '/admin/api/pricing',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { query: z.object({ provider: name.optional() }) },
      responses: { 200: jsonResponse(z.object({ prices: z.array(PriceView) })), ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const prices = await c.gov.pricing.list(ctx.req.valid('query').provider);
      return ctx.json({ prices: prices.map(priceView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.pricing.upsert',
      method: 'put',
      path: '/admin/api/pricing',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Create or replace the price of one (provider, model)',
      request: jsonBody(PutBody),
      responses: { 200: jsonResponse(z.object({ price: PriceView, created: z.boolean() })), ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const b = ctx.req.valid('json');
      const markup_bp = b.markup_bp ?? (b.markup_pct !== undefined ? Math.round(b.markup_pct * 100) : 0);
      const { price, created } = await c.gov.pricing.upsert(
        { provider: b.provider, model: b.model, input_micros_per_m: b.input_micros_per_m, output_micros_per_m: b.output_micros_per_m, markup_bp },
        actorOf(ctx),
      );
      return ctx.json({ price: priceView(price), created }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.pricing.delete',
      method: 'delete',
      path: '/admin/api/pricing',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Remove a price: calls to that model are refused with 409 UNPRICED_MODEL',
      request: { query: Target },
      responses: { 200: jsonResponse(z.object({ ok: z.boolean() })), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      await c.gov.pricing.remove(q.provider, q.model, actorOf(ctx));
      return ctx.json({ ok: true }, 200);
    },
  );
}
