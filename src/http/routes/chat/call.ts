import type { Context } from 'hono';
import type { Container } from '../../../app/container.ts';
import type { ChatParams } from '../../../chat/types.ts';
import type { ChatSession } from '../../../chat/session.ts';
import type { CallContext } from '../../../gateway/governance.ts';
import type { Spelled } from '../../../lib/shape.ts';
import type { AuthContext } from '../../../keys/auth.ts';
import type { Route } from '../../../lanes/types.ts';
import type { CallAbort } from '../../../upstream/abort.ts';
import type { AppEnv, RequestInfo } from '../../context.ts';
import { chatParams, nonEmptyMessages, type SeedChatBody } from './schemas.ts';
import { rateLimitHeaders } from '../../../governance/rate-limit/headers.ts';
import { jsonAnswer } from '../../route-kit.ts';
import { clientAbort, responseHeader } from '../../node.ts';
import { streamAnswer, type FrameSource, type FrameStreamOptions } from './frame-stream.ts';

/**
 * What a chat call needs of its HTTP request, whichever pipeline serves it: the Hono app
 * (`callerOf`) or the data plane's fast lane (fast-lane.ts). One chat code path behind both.
 */
export interface ChatCaller {
  requestId: string;
  info: RequestInfo;
  auth: AuthContext;
  clientIp: string;
  /** A request header (lower-case name). */
  header(name: string): string | undefined;
  /** The call's abort handle, tripped when the client goes away (asked for once). */
  abort(): CallAbort;
  /** Sets a header on whatever response this request ends with (an answer or an error). */
  setHeader(name: string, value: string): void;
}

export function callerOf(ctx: Context<AppEnv>): ChatCaller {
  return {
    requestId: ctx.get('requestId'),
    info: ctx.get('info'),
    auth: ctx.get('auth')!,
    clientIp: ctx.get('clientIp'),
    header: (name) => ctx.req.header(name),
    abort: () => clientAbort(ctx),
    setHeader: (name, value) => responseHeader(ctx, name, value),
  };
}

/** `x-kaixu-install-id`, trimmed and bounded as the seed did (80 chars). */
export function installIdOf(caller: ChatCaller): string | undefined {
  const v = caller.header('x-kaixu-install-id')?.trim().slice(0, 80);
  return v ? v : undefined;
}

const short = (v: string | undefined, n: number) => (v ? v.slice(0, n) : undefined);

/** Admits a chat call for this request (throws the governance errors as plain JSON responses). */
export function beginChat(c: Container, caller: ChatCaller, route: Route, params: ChatParams, stream: boolean): Promise<ChatSession> {
  const { info } = caller;
  const timing = info.timing;
  timing?.mark('parse');
  // The whole call context in one literal, every field named (lib/shape.ts): governance reads it
  // on every call, and a spread's copy with fields added would be an object shape of its own each time.
  const ctx: Spelled<CallContext> = {
    auth: caller.auth,
    requestId: caller.requestId,
    publicProvider: route.requested.provider,
    publicModel: route.requested.model,
    installId: installIdOf(caller),
    app: short(caller.header('x-kaixu-app'), 120),
    build: short(caller.header('x-kaixu-build'), 120),
    ip: caller.clientIp,
    userAgent: short(caller.header('user-agent'), 300),
    kind: 'chat',
  };
  const admitted = c.chat.begin({
    ctx,
    route,
    params,
    stream,
    abort: caller.abort(),
    info,
  });
  // Only a timed request pays for the extra step.
  return timing ? admitted.then((s) => (timing.mark('admit'), s)) : admitted;
}

/** RateLimit-* headers (the key's window after this call was counted) on an answer. */
export function rateLimitHeadersOf(session: ChatSession): Record<string, string> {
  const rl = session.admission.rateLimit;
  return rl ? rateLimitHeaders(rl) : {};
}

/** Seed gateway-chat / gateway-stream: normalize the body, resolve the lane, admit. */
export async function beginSeedChat(c: Container, caller: ChatCaller, body: SeedChatBody, stream: boolean): Promise<ChatSession> {
  const params = chatParams(body, nonEmptyMessages(body.messages));
  const route = await c.laneRouter.resolve(body.provider, body.model);
  return beginChat(c, caller, route, params, stream);
}

/** A chat route's answer, for whichever pipeline writes it: a JSON body, or an SSE stream. */
export type ChatReply = JsonReply | { kind: 'stream'; headers: Record<string, string>; source: FrameSource; opts: FrameStreamOptions };
export interface JsonReply<T = unknown> {
  kind: 'json';
  body: T;
  headers: Record<string, string>;
}

/** The app's Response for a reply. */
export function replyResponse(ctx: Context<AppEnv>, reply: ChatReply): Response {
  return reply.kind === 'json' ? jsonAnswer(reply.body, reply.headers) : streamAnswer(ctx, reply.headers, reply.source, reply.opts);
}
