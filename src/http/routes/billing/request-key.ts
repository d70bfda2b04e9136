import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { jsonBody, jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

const RequestKeyBody = z.object({ email: z.string().max(320).optional().openapi({ example: 'dev@example.com' }) }).strict().openapi('RequestKey');

const RequestKeyResult = z
  .object({
    ok: z.boolean(),
    message: z.string(),
    key: z.string().openapi({ description: 'The key, shown once' }),
    key_last4: z.string(),
    customer_id: z.string(),
    plan: z.string(),
    limits: z.object({ monthly_cap_cents: z.number(), monthly_cap_dollars: z.string(), requests_per_minute: z.number(), max_devices: z.number() }),
    endpoints: z.object({ chat: z.string(), stream: z.string(), health: z.string(), openai_base_url: z.string() }),
    usage: z.string(),
  })
  .openapi('RequestKeyResult');

/** Whole cents as "$20.00" without floating point. */
const dollars = (cents: number) => `$${Math.floor(cents / 100).toLocaleString('en-US')}.${String(cents % 100).padStart(2, '0')}`;

/** Seed `request-key`: public self-service key generator (abuse-guarded per email and per IP). */
export function registerRequestKey({ app, c }: RouteDeps) {
  for (const path of seedPaths('request-key')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api/') ? 'seed.request_key.api' : 'seed.request_key',
        method: 'post',
        path,
        tags: ['public'],
        summary: 'Get a starter key by email; any previous self-service key of that customer is revoked',
        request: jsonBody(RequestKeyBody),
        responses: { 200: jsonResponse(RequestKeyResult), ...seedErrorResponses(400, 403, 429) },
      }),
      async (ctx) => {
        const r = await c.billing.selfServe.request(ctx.req.valid('json').email, ctx.get('clientIp'));
        const base = (c.config.PUBLIC_BASE_URL ?? new URL(ctx.req.url).origin).replace(/\/+$/, '');
        const k = r.issued.api_key;
        const cap = k.monthly_cap_cents ?? r.customer.monthly_cap_cents;
        return ctx.json(
          {
            ok: true,
            message: 'Your Kaixu API key is ready. Copy it now: it is shown only once.' + (r.revoked.length ? ' Your previous self-service key was revoked.' : ''),
            key: r.issued.key,
            key_last4: k.key_last4,
            customer_id: r.customer.id,
            plan: r.customer.plan,
            limits: {
              monthly_cap_cents: cap,
              monthly_cap_dollars: dollars(cap),
              requests_per_minute: k.rpm_limit ?? c.config.DEFAULT_RPM_LIMIT,
              max_devices: k.max_devices ?? 0,
            },
            endpoints: {
              chat: `${base}/.netlify/functions/gateway-chat`,
              stream: `${base}/.netlify/functions/gateway-stream`,
              health: `${base}/.netlify/functions/health`,
              openai_base_url: `${base}/v1`,
            },
            usage: 'Set header: Authorization: Bearer <your-key>',
          },
          200,
        );
      },
    );
  }
}
