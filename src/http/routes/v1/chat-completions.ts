import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { newCompletionId } from '../../../lib/ids.ts';
import type { Spelled } from '../../../lib/shape.ts';
import { sseComment } from '../../../lib/sse.ts';
import type { Container } from '../../../app/container.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { errorResponses, jsonBody } from '../../route-kit.ts';
import { beginChat, callerOf, rateLimitHeadersOf, replyResponse, type ChatCaller, type ChatReply } from '../chat/call.ts';
import { sseHeaders, streamFailureRecorder } from '../chat/frame-stream.ts';
import { CHAT_ERROR_STATUSES } from '../chat/gateway-chat.ts';
import { chatParams, type ChatParamsInput } from '../chat/schemas.ts';
import { completionBody, v1Messages } from './format.ts';
import { ChatCompletion, V1ChatBody } from './schemas.ts';
import { v1StreamSource } from './stream.ts';

/** The keep-alive comment a /v1 stream sends while it waits (one function for every stream). */
const pingFrame = () => sseComment('ping');

/** Normalizes a /v1 chat body, resolves the model (or lane) and admits the call. */
async function beginV1Chat(c: Container, caller: ChatCaller, body: V1ChatBody) {
  const messages = v1Messages(body.messages);
  if (!messages.length) throw new AppError('VALIDATION_ERROR', 'messages must contain at least one non-empty message', { param: 'messages' });
  // A literal, not `{ ...body, max_tokens }`: for a body without max_tokens that copy was an object
  // shape of its own on every call, which chatParams then read through V8's runtime (lib/shape.ts).
  const input: Spelled<ChatParamsInput> = { max_tokens: body.max_completion_tokens ?? body.max_tokens, temperature: body.temperature, top_p: body.top_p, stop: body.stop };
  const params = chatParams(input, messages);
  const route = await c.laneRouter.resolveModelName(body.model);
  const session = await beginChat(c, caller, route, params, !!body.stream);
  return { session, id: newCompletionId(), created: Math.floor(c.clock.now() / 1000) };
}

/** The whole /v1 call: a chat.completion, or an SSE stream of chunks. */
export async function v1Reply(c: Container, caller: ChatCaller, body: V1ChatBody): Promise<ChatReply> {
  try {
    return await v1Answer(c, caller, body);
  } catch (e) {
    // The OpenAI SDK reports `x-request-id` in its errors and logs: on the error response too (an
    // answer carries it in its own headers, so it is set once either way).
    caller.setHeader('x-request-id', caller.requestId);
    throw e;
  }
}

async function v1Answer(c: Container, caller: ChatCaller, body: V1ChatBody): Promise<ChatReply> {
  const { requestId } = caller;
  const { session, id, created } = await beginV1Chat(c, caller, body);
  if (!body.stream) {
    const out = await session.complete();
    // The literal first, then the spread (lib/shape.ts): one header object shape for every answer.
    return { kind: 'json', body: completionBody(id, created, out), headers: { 'x-request-id': requestId, ...rateLimitHeadersOf(session) } };
  }
  // Answer once an upstream is streaming (its first event), so a call no target could serve
  // is a plain HTTP error; the role chunk goes out with the headers.
  await session.open('event');
  const source = v1StreamSource(
    session,
    { id, created, includeUsage: body.stream_options?.include_usage === true, requestId },
    (e) => c.log.error({ err: e, request_id: requestId }, 'v1 stream failed'),
    streamFailureRecorder(caller.info),
  );
  return {
    kind: 'stream',
    headers: sseHeaders({ 'x-request-id': requestId, ...rateLimitHeadersOf(session) }),
    source,
    opts: { ping: { everyMs: c.config.STREAM_PING_MS, frame: pingFrame } },
  };
}

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
      middleware: [requireKey(c, { deferRevocationCheck: true })],
      request: jsonBody(V1ChatBody),
      responses: {
        200: {
          description: 'A chat.completion, or with `stream: true` an SSE stream of chat.completion.chunk objects ending in `data: [DONE]`.',
          content: { 'application/json': { schema: ChatCompletion }, 'text/event-stream': { schema: z.string() } },
        },
        ...errorResponses(...CHAT_ERROR_STATUSES),
      },
    }),
    async (ctx) => replyResponse(ctx, await v1Reply(c, callerOf(ctx), ctx.req.valid('json'))),
  );
}
