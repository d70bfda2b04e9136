import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { keyView } from '../../../keys/policy.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse, PageQuery } from '../../route-kit.ts';
import { CreateKeyBody, IssuedKeyView, KeyView, UpdateKeyBody } from './schemas.ts';

const security = [{ adminBearer: [] }];
const CustomerParam = z.object({ customer_id: z.string().min(1).max(100) });
const KeyParam = z.object({ key_id: z.string().min(1).max(100) });

export function registerAdminKeys({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.keys.list',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/keys',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'List a customer’s keys (last4 only)',
      request: { params: CustomerParam, query: PageQuery.extend({ include_revoked: z.enum(['true', 'false']).default('true') }) },
      responses: { 200: jsonResponse(z.object({ keys: z.array(KeyView) })), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      ctx.get('info').operation = 'admin.keys.list';
      const { customer_id } = ctx.req.valid('param');
      const q = ctx.req.valid('query');
      if (!(await c.customers.get(customer_id))) throw new AppError('NOT_FOUND', 'Customer not found');
      const keys = await c.keys.listForCustomer(customer_id, { includeRevoked: q.include_revoked === 'true', limit: q.limit, offset: q.offset });
      return ctx.json({ keys: keys.map(keyView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.keys.create',
      method: 'post',
      path: '/admin/api/customers/{customer_id}/keys',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Issue a sub-key with optional overrides (null = inherit); the key is shown once',
      request: { params: CustomerParam, ...jsonBody(CreateKeyBody) },
      responses: { 201: jsonResponse(IssuedKeyView), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      ctx.get('info').operation = 'admin.keys.create';
      const issued = await c.keys.create(ctx.req.valid('param').customer_id, ctx.req.valid('json'), actorOf(ctx));
      return ctx.json({ key: issued.key, api_key: keyView(issued.api_key) }, 201);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.keys.get',
      method: 'get',
      path: '/admin/api/keys/{key_id}',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: KeyParam },
      responses: { 200: jsonResponse(z.object({ api_key: KeyView })), ...errorResponses(401, 404) },
    }),
    async (ctx) => {
      ctx.get('info').operation = 'admin.keys.get';
      const key = await c.keys.get(ctx.req.valid('param').key_id);
      if (!key) throw new AppError('NOT_FOUND', 'Key not found');
      return ctx.json({ api_key: keyView(key) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.keys.update',
      method: 'patch',
      path: '/admin/api/keys/{key_id}',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: KeyParam, ...jsonBody(UpdateKeyBody) },
      responses: { 200: jsonResponse(z.object({ api_key: KeyView })), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      ctx.get('info').operation = 'admin.keys.update';
      const key = await c.keys.update(ctx.req.valid('param').key_id, ctx.req.valid('json'), actorOf(ctx));
      return ctx.json({ api_key: keyView(key) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.keys.rotate',
      method: 'post',
      path: '/admin/api/keys/{key_id}/rotate',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'New key with the same settings; the old key is revoked in the same transaction',
      request: { params: KeyParam },
      responses: { 200: jsonResponse(IssuedKeyView.extend({ old_key_id: z.string() })), ...errorResponses(401, 404, 409) },
    }),
    async (ctx) => {
      ctx.get('info').operation = 'admin.keys.rotate';
      const r = await c.keys.rotate(ctx.req.valid('param').key_id, actorOf(ctx));
      return ctx.json({ old_key_id: r.old_key_id, key: r.key, api_key: keyView(r.api_key) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.keys.revoke',
      method: 'post',
      path: '/admin/api/keys/{key_id}/revoke',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Revoke a key; it is refused on the next request on every node',
      request: { params: KeyParam },
      responses: { 200: jsonResponse(z.object({ api_key: KeyView })), ...errorResponses(401, 404) },
    }),
    async (ctx) => {
      ctx.get('info').operation = 'admin.keys.revoke';
      const key = await c.keys.revoke(ctx.req.valid('param').key_id, actorOf(ctx));
      return ctx.json({ api_key: keyView(key) }, 200);
    },
  );
}
