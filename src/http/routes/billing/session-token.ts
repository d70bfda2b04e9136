import { createRoute, z } from '@hono/zod-openapi';
import { KEY_PREFIX } from '../../../keys/key-material.ts';
import { AppError } from '../../../lib/errors.ts';
import type { RouteDeps } from '../../context.ts';
import { jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

const SessionBody = z
  .object({ ttl_seconds: z.number().optional().openapi({ description: 'Clamped to 60..86400; default USER_SESSION_TTL_SECONDS' }) })
  .strict()
  .openapi('SessionTokenRequest');
const SessionResult = z.object({ token: z.string(), expires_in: z.number(), key_last4: z.string() }).openapi('SessionToken');

/**
 * Seed `session-token`: trade a raw virtual key for a short-lived user-session JWT, accepted
 * wherever a virtual key is. Only a raw key can mint one (a session cannot extend itself).
 */
export function registerSessionToken({ app, c }: RouteDeps) {
  for (const path of seedPaths('session-token')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api/') ? 'seed.session_token.api' : 'seed.session_token',
        method: 'post',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        request: { body: { required: false, content: { 'application/json': { schema: SessionBody } } } },
        responses: { 200: jsonResponse(SessionResult), ...seedErrorResponses(400, 401, 403) },
      }),
      async (ctx) => {
        const authz = ctx.req.header('authorization');
        const bearer = authz ? /^Bearer\s+(\S+)\s*$/i.exec(authz)?.[1] : undefined;
        if (bearer && !bearer.startsWith(KEY_PREFIX) && bearer.split('.').length === 3) {
          throw new AppError('BAD_REQUEST', 'Provide a sub-key (not a session token) to mint a session token: Authorization: Bearer kx_live_…');
        }
        const auth = await c.keyAuth.authenticate(authz);
        ctx.set('auth', auth);
        const body = ctx.req.header('content-type')?.includes('application/json') ? ctx.req.valid('json') : {};
        return ctx.json(await c.billing.sessions.issue(auth, body.ttl_seconds), 200);
      },
    );
  }
}
