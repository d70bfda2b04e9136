import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { sseComment } from '../../../lib/sse.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { errorResponses, jsonBody } from '../../route-kit.ts';
import { beginChat, rateLimitHeaders } from '../chat/call.ts';
import { frameStream, SSE_HEADERS } from '../chat/frame-stream.ts';
import { CHAT_ERROR_STATUSES } from '../chat/gateway-chat.ts';
import { chatParams } from '../chat/schemas.ts';
import { completionBody, completionId, v1Messages } from './format.ts';
import { ChatCompletion, V1ChatBody } from './schemas.ts';
import { v1StreamSource } from './stream.ts';

/** OpenAI-compatible `POST /v1/chat/completions` (stream and non-stream), any provider behind it. */
export function registerV1ChatCompletions({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'v1.chat.completions',
      method: 'post',
      path: '/v1/chat/completions',
      tags: ['openai'],
      summary: 'Chat Completions (OpenAI-compatible)',
      security: [{ virtualKey: [] }],
      middleware: [requireKey(c)],
      request: jsonBody(V1ChatBody),
      responses: {
        200: {
          description: 'A chat.completion, or with `stream: true` an SSE stream of chat.completion.chunk objects ending in `data: [DONE]`.',
          content: { 'application/json': { schema: ChatCompletion }, 'text/event-stream': { schema: z.string() } },
        },
        ...errorResponses(...CHAT_ERROR_STATUSES),
      },
    }),
    async (ctx) => {
      const requestId = ctx.get('requestId');
      const body = ctx.req.valid('json');
      const messages = v1Messages(body.messages);
      if (!messages.length) throw new AppError('VALIDATION_ERROR', 'messages must contain at least one non-empty message', { param: 'messages' });
      const params = chatParams({ ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens }, messages);
      const route = await c.laneRouter.resolveModelName(body.model);
      const session = await beginChat(c, ctx, route, params, !!body.stream);
      const id = completionId();
      const created = Math.floor(c.clock.now() / 1000);
      // The OpenAI SDK reports `x-request-id` in its errors and logs.
      ctx.header('x-request-id', requestId);
      if (!body.stream) {
        const out = await session.complete();
        for (const [k, v] of Object.entries(rateLimitHeaders(session))) ctx.header(k, v);
        return ctx.json(completionBody(id, created, out), 200);
      }

      // Open before answering, so a call no target could serve is a plain HTTP error.
      await session.open();
      const source = v1StreamSource(session, { id, created, includeUsage: body.stream_options?.include_usage === true, requestId }, (e) =>
        c.log.error({ err: e, request_id: requestId }, 'v1 stream failed'),
      );
      const stream = frameStream(source, { ping: { everyMs: c.config.STREAM_PING_MS, frame: () => sseComment('ping') } });
      return new Response(stream, { status: 200, headers: { ...SSE_HEADERS, ...rateLimitHeaders(session), 'x-request-id': requestId } });
    },
  );
}
