import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';

const route = createRoute({
  operationId: 'admin.login',
  method: 'post',
  path: '/admin/api/login',
  tags: ['admin'],
  summary: 'Exchange the admin password for a 12 h JWT',
  request: jsonBody(z.object({ password: z.string().min(1).max(1024) }).strict()),
  responses: {
    200: jsonResponse(z.object({ token: z.string(), expires_at: z.string() })),
    ...errorResponses(400, 401, 429),
  },
});

export function registerAdminLogin({ app, c }: RouteDeps) {
  app.openapi(route, async (ctx) => {
    const { password } = ctx.req.valid('json');
    return ctx.json(await c.adminAuth.login(password, ctx.get('clientIp')), 200);
  });
}
