import type { Context } from 'hono';
import type { Container } from '../../../app/container.ts';
import type { ChatParams } from '../../../chat/types.ts';
import type { ChatSession } from '../../../chat/session.ts';
import type { Route } from '../../../lanes/types.ts';
import type { AppEnv } from '../../context.ts';
import { chatParams, nonEmptyMessages, type SeedChatBody } from './schemas.ts';
import { rateLimitHeaders } from '../../../governance/rate-limit/headers.ts';
import { clientAbort } from '../../node.ts';

/** `x-kaixu-install-id`, trimmed and bounded as the seed did (80 chars). */
export function installIdOf(ctx: Context<AppEnv>): string | undefined {
  const v = ctx.req.header('x-kaixu-install-id')?.trim().slice(0, 80);
  return v ? v : undefined;
}

const short = (v: string | undefined, n: number) => (v ? v.slice(0, n) : undefined);

/** Admits a chat call for this request (throws the governance errors as plain JSON responses). */
export function beginChat(c: Container, ctx: Context<AppEnv>, route: Route, params: ChatParams, stream: boolean): Promise<ChatSession> {
  const timing = ctx.get('info').timing;
  timing?.mark('parse');
  const admitted = c.chat.begin({
    ctx: {
      auth: ctx.get('auth')!,
      requestId: ctx.get('requestId'),
      installId: installIdOf(ctx),
      app: short(ctx.req.header('x-kaixu-app'), 120),
      build: short(ctx.req.header('x-kaixu-build'), 120),
      ip: ctx.get('clientIp'),
      userAgent: short(ctx.req.header('user-agent'), 300),
    },
    route,
    params,
    stream,
    abort: clientAbort(ctx),
    info: ctx.get('info'),
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
export async function beginSeedChat(c: Container, ctx: Context<AppEnv>, body: SeedChatBody, stream: boolean): Promise<ChatSession> {
  const params = chatParams(body, nonEmptyMessages(body.messages));
  const route = await c.laneRouter.resolve(body.provider, body.model);
  return beginChat(c, ctx, route, params, stream);
}
