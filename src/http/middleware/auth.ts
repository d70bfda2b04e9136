import type { MiddlewareHandler } from 'hono';
import type { Container } from '../../app/container.ts';
import type { AuthenticateOptions } from '../../keys/auth.ts';
import type { AppEnv } from '../context.ts';

/** Admin JWT (or opt-in x-admin-password) for /admin/api/*. */
export function requireAdmin(c: Container): MiddlewareHandler<AppEnv> {
  return async (ctx, next) => {
    const admin = await c.adminAuth.verify(ctx.req.header('authorization'), ctx.req.header('x-admin-password'), ctx.get('clientIp'));
    ctx.set('admin', admin);
    await next();
  };
}

/**
 * Virtual key (or user-session JWT) for the data plane and user endpoints.
 * Governed calls (chat) pass `deferRevocationCheck`: their cap reservation re-checks revocation and
 * customer status atomically in the same statement, so the per-request freshness query is skipped.
 */
export function requireKey(c: Container, opts: AuthenticateOptions = {}): MiddlewareHandler<AppEnv> {
  return async (ctx, next) => {
    ctx.set('auth', await c.keyAuth.authenticate(ctx.req.header('authorization'), opts));
    ctx.get('info')?.timing?.mark('auth');
    await next();
  };
}
