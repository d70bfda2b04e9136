import type { MiddlewareHandler } from 'hono';
import type { Container } from '../../app/container.ts';
import type { AppEnv } from '../context.ts';

/** Admin JWT (or opt-in x-admin-password) for /admin/api/*. */
export function requireAdmin(c: Container): MiddlewareHandler<AppEnv> {
  return async (ctx, next) => {
    const admin = await c.adminAuth.verify(ctx.req.header('authorization'), ctx.req.header('x-admin-password'), ctx.get('clientIp'));
    ctx.set('admin', admin);
    await next();
  };
}

/** Virtual key (or user-session JWT) for the data plane and user endpoints. */
export function requireKey(c: Container): MiddlewareHandler<AppEnv> {
  return async (ctx, next) => {
    ctx.set('auth', await c.keyAuth.authenticate(ctx.req.header('authorization')));
    await next();
  };
}
