import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { keyView } from '../../../keys/policy.ts';
import type { KeyScope } from '../../../keys/service.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse, PageQuery } from '../../route-kit.ts';
import { CreateKeyBody, IssuedKeyView, KeyView, UpdateKeyBody } from './schemas.ts';

const security = [{ adminBearer: [] }];
const CustomerParam = z.object({ customer_id: z.string().min(1).max(100) });
const KeyParam = z.object({ key_id: z.string().min(1).max(100) });
const CustomerKeyParam = CustomerParam.extend(KeyParam.shape);

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
      const issued = await c.keys.create(ctx.req.valid('param').customer_id, ctx.req.valid('json'), actorOf(ctx));
      return ctx.json({ key: issued.key, api_key: keyView(issued.api_key) }, 201);
    },
  );

  // Each key operation exists globally (/admin/api/keys/{key_id}) and under its customer
  // (/admin/api/customers/{customer_id}/keys/{key_id}); the nested form is tenancy-checked:
  // another customer's key id there is "not found" and is never read or changed.
  for (const v of [
    { base: '/admin/api/keys/{key_id}', op: 'admin.keys', params: KeyParam },
    { base: '/admin/api/customers/{customer_id}/keys/{key_id}', op: 'admin.customers.keys', params: CustomerKeyParam as unknown as typeof KeyParam },
  ]) {
    const scopeOf = (p: { key_id: string; customer_id?: string }): KeyScope => ({ customerId: p.customer_id });

    app.openapi(
      createRoute({
        operationId: `${v.op}.get`,
        method: 'get',
        path: v.base,
        tags: ['admin'],
        security,
        middleware: mw,
        request: { params: v.params },
        responses: { 200: jsonResponse(z.object({ api_key: KeyView })), ...errorResponses(401, 404) },
      }),
      async (ctx) => {
        ctx.get('info').operation = `${v.op}.get`;
        const p = ctx.req.valid('param');
        const key = await c.keys.get(p.key_id, scopeOf(p));
        if (!key) throw new AppError('NOT_FOUND', 'Key not found');
        return ctx.json({ api_key: keyView(key) }, 200);
      },
    );

    app.openapi(
      createRoute({
        operationId: `${v.op}.update`,
        method: 'patch',
        path: v.base,
        tags: ['admin'],
        security,
        middleware: mw,
        summary: 'Update a key label, role and overrides (null = inherit from the customer)',
        request: { params: v.params, ...jsonBody(UpdateKeyBody) },
        responses: { 200: jsonResponse(z.object({ api_key: KeyView })), ...errorResponses(400, 401, 404) },
      }),
      async (ctx) => {
        ctx.get('info').operation = `${v.op}.update`;
        const p = ctx.req.valid('param');
        const key = await c.keys.update(p.key_id, ctx.req.valid('json'), actorOf(ctx), scopeOf(p));
        return ctx.json({ api_key: keyView(key) }, 200);
      },
    );

    app.openapi(
      createRoute({
        operationId: `${v.op}.rotate`,
        method: 'post',
        path: `${v.base}/rotate`,
        tags: ['admin'],
        security,
        middleware: mw,
        summary: 'New key with the same settings; the old key is revoked in the same transaction',
        request: { params: v.params },
        responses: { 200: jsonResponse(IssuedKeyView.extend({ old_key_id: z.string() })), ...errorResponses(401, 404, 409) },
      }),
      async (ctx) => {
        ctx.get('info').operation = `${v.op}.rotate`;
        const p = ctx.req.valid('param');
        const r = await c.keys.rotate(p.key_id, actorOf(ctx), scopeOf(p));
        return ctx.json({ old_key_id: r.old_key_id, key: r.key, api_key: keyView(r.api_key) }, 200);
      },
    );

    app.openapi(
      createRoute({
        operationId: `${v.op}.revoke`,
        method: 'post',
        path: `${v.base}/revoke`,
        tags: ['admin'],
        security,
        middleware: mw,
        summary: 'Revoke a key; it is refused on the next request on every node',
        request: { params: v.params },
        responses: { 200: jsonResponse(z.object({ api_key: KeyView })), ...errorResponses(401, 404) },
      }),
      async (ctx) => {
        ctx.get('info').operation = `${v.op}.revoke`;
        const p = ctx.req.valid('param');
        const key = await c.keys.revoke(p.key_id, actorOf(ctx), 'KEY_REVOKE', scopeOf(p));
        return ctx.json({ api_key: keyView(key) }, 200);
      },
    );
  }
}
