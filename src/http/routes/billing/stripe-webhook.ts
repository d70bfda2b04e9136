import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

const WebhookResult = z.object({ ok: z.boolean(), received: z.boolean(), event_id: z.string(), type: z.string(), outcome: z.string() }).openapi('StripeWebhookResult');

/**
 * Seed `stripe-webhook`. The body is read as raw text before anything parses it: the
 * signature covers the exact bytes, so a re-serialised JSON would never verify.
 */
export function registerStripeWebhook({ app, c }: RouteDeps) {
  for (const path of seedPaths('stripe-webhook')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api/') ? 'seed.stripe_webhook.api' : 'seed.stripe_webhook',
        method: 'post',
        path,
        tags: ['public'],
        summary: 'Stripe events (signed); credits a paid Checkout top-up exactly once per event and per session',
        description:
          'Body: the Stripe event JSON exactly as Stripe sent it; header `Stripe-Signature` (t=…,v1=…). Not schema-validated here: the raw bytes are verified first.',
        request: { headers: z.object({ 'stripe-signature': z.string().optional() }) },
        responses: { 200: jsonResponse(WebhookResult), ...seedErrorResponses(400, 501) },
      }),
      async (ctx) => {
        const raw = await ctx.req.text();
        const res = await c.billing.webhook.handle(raw, ctx.req.header('stripe-signature'));
        return ctx.json({ ok: true, received: true, ...res }, 200);
      },
    );
  }
}
