import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { jsonBody, seedErrorResponses, seedPaths } from '../../route-kit.ts';
import { sseFrame } from '../../../lib/sse.ts';
import type { Container } from '../../../app/container.ts';
import type { Clock } from '../../../lib/clock.ts';
import { beginSeedChat, callerOf, installIdOf, rateLimitHeadersOf, replyResponse, type ChatCaller, type ChatReply } from './call.ts';
import { sseHeaders, streamFailureRecorder } from './frame-stream.ts';
import { CHAT_ERROR_STATUSES } from './gateway-chat.ts';
import { SeedChatBody, seedHook } from './schemas.ts';
import { seedStreamSource } from './seed-stream.ts';

const SSE_DESCRIPTION = [
  'Server-sent events. `event: meta` `{provider, model, telemetry, month}` first (before the upstream call),',
  'then `event: delta` `{text}` per upstream chunk, `event: ping` `{t}` every STREAM_PING_MS,',
  'and finally `event: done` `{usage, month}` or `event: error` `{error}`.',
].join(' ');

/** Seed `gateway-stream`: admitted, then streamed (its `meta` frame goes out before the upstream call). */
export async function seedStreamReply(c: Container, caller: ChatCaller, body: SeedChatBody): Promise<ChatReply> {
  const session = await beginSeedChat(c, caller, body, true);
  const { requestId } = caller;
  const source = seedStreamSource(
    session,
    { install_id: installIdOf(caller) ?? null },
    (e) => c.log.error({ err: e, request_id: requestId }, 'gateway-stream failed'),
    streamFailureRecorder(caller.info),
  );
  return {
    kind: 'stream',
    headers: sseHeaders(rateLimitHeadersOf(session)),
    source,
    opts: { ping: { everyMs: c.config.STREAM_PING_MS, frame: pingFrameOf(c.clock) } },
  };
}

/** The seed stream's `ping` frame (the gateway's time). The returned arrow is anonymous: tsx's keepNames leaves it alone. */
function pingFrameOf(clock: Clock): () => string {
  return () => sseFrame('ping', JSON.stringify({ t: clock.now() }));
}

/** Seed `gateway-stream`: the same call, streamed as the seed's SSE frames. */
export function registerGatewayStream({ app, c }: RouteDeps) {
  for (const path of seedPaths('gateway-stream')) {
    app.openapi(
      createRoute({
        operationId: path.startsWith('/api') ? 'gateway.stream.api' : 'gateway.stream',
        method: 'post',
        path,
        tags: ['gateway'],
        summary: 'Chat completion streamed as SSE, seed-compatible',
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c, { deferRevocationCheck: true })],
        request: jsonBody(SeedChatBody),
        responses: {
          200: { description: SSE_DESCRIPTION, content: { 'text/event-stream': { schema: z.string() } } },
          ...seedErrorResponses(...CHAT_ERROR_STATUSES),
        },
      }),
      async (ctx) => replyResponse(ctx, await seedStreamReply(c, callerOf(ctx), ctx.req.valid('json'))),
      seedHook,
    );
  }
}
