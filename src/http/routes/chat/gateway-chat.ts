import { createRoute } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { jsonAnswer, jsonBody, jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';
import type { Container } from '../../../app/container.ts';
import { beginSeedChat, callerOf, installIdOf, rateLimitHeadersOf, type ChatCaller, type JsonReply } from './call.ts';
import { SeedChatBody, SeedChatResponse, seedHook } from './schemas.ts';

export const CHAT_ERROR_STATUSES = [400, 401, 402, 403, 409, 413, 429, 501, 502, 504] as const;

/** Seed `gateway-chat`: the whole call, answered as the seed's JSON body. */
export async function seedChatReply(c: Container, caller: ChatCaller, body: SeedChatBody): Promise<JsonReply<SeedChatResponse>> {
  const session = await beginSeedChat(c, caller, body, false);
  const out = await session.complete();
  const { provider, model, ...requested } = out.names;
  const answer: SeedChatResponse = { provider, model, ...requested, output_text: out.text, usage: out.usage, month: out.month, telemetry: { install_id: installIdOf(caller) ?? null } };
  return { kind: 'json', body: answer, headers: rateLimitHeadersOf(session) };
}

/** Seed `gateway-chat`: one normalized chat call, answered as JSON. */
export function registerGatewayChat({ app, c }: RouteDeps) {
  for (const path of seedPaths('gateway-chat')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'gateway.chat.api' : 'gateway.chat',
        method: 'post',
        path,
        tags: ['gateway'],
        summary: 'Chat completion (non-stream), seed-compatible',
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c, { deferRevocationCheck: true })],
        request: jsonBody(SeedChatBody),
        responses: { 200: jsonResponse(SeedChatResponse), ...seedErrorResponses(...CHAT_ERROR_STATUSES) },
      }),
      async (ctx) => {
        const reply = await seedChatReply(c, callerOf(ctx), ctx.req.valid('json'));
        return jsonAnswer(reply.body, reply.headers);
      },
      seedHook,
    );
  }
}
