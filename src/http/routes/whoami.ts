import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../context.ts';
import { requireKey } from '../middleware/auth.ts';
import { jsonResponse, seedErrorResponses, seedPaths } from '../route-kit.ts';

const Whoami = z
  .object({ ok: z.boolean(), api_key_id: z.string(), customer_id: z.string(), customer_email: z.string(), role: z.string(), key_last4: z.string(), via: z.string() })
  .openapi('Whoami');

/** Seed `push-whoami`: who does this virtual key belong to. */
export function registerWhoami({ app, c }: RouteDeps) {
  for (const path of seedPaths('push-whoami')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'user.whoami.api' : 'user.whoami',
        method: 'get',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c)],
        responses: { 200: jsonResponse(Whoami), ...seedErrorResponses(401, 403) },
      }),
      async (ctx) => {
        const a = ctx.get('auth')!;
        return ctx.json({ ok: true, api_key_id: a.key.id, customer_id: a.customer.id, customer_email: a.customer.email, role: a.key.role, key_last4: a.key.key_last4, via: a.via }, 200);
      },
    );
  }
}
