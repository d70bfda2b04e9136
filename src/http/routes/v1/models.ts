import { createRoute } from '@hono/zod-openapi';
import { listModels } from '../../../chat/models.ts';
import { effectivePolicy } from '../../../keys/policy.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { errorResponses, jsonResponse } from '../../route-kit.ts';
import { ModelList } from './schemas.ts';

/** OpenAI-compatible `GET /v1/models`: the models this key may use. */
export function registerV1Models({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'v1.models.list',
      method: 'get',
      path: '/v1/models',
      tags: ['openai'],
      summary: 'Models this key may use: lane names and provider/model ids',
      security: [{ virtualKey: [] }],
      middleware: [requireKey(c)],
      responses: { 200: jsonResponse(ModelList), ...errorResponses(401, 403) },
    }),
    async (ctx) => {
      const auth = ctx.get('auth')!;
      const policy = effectivePolicy(auth.key, auth.customer, { rpm: c.config.DEFAULT_RPM_LIMIT });
      const priced = (await c.gov.pricing.list()).map((p) => ({ provider: p.provider, model: p.model, since: p.updated_at }));
      const models = await listModels({ lanes: c.lanes, upstreams: c.upstreams }, policy, priced);
      ctx.header('x-request-id', ctx.get('requestId'));
      return ctx.json({ object: 'list' as const, data: models.map((m) => ({ id: m.id, object: 'model' as const, created: m.created, owned_by: m.owned_by })) }, 200);
    },
  );
}
