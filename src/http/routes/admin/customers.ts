import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { customerView, keyView } from '../../../keys/policy.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse, PageQuery } from '../../route-kit.ts';
import { CreateCustomerBody, CustomerView, IssuedKeyView, UpdateCustomerBody } from './schemas.ts';

const security = [{ adminBearer: [] }];
const CustomerParam = z.object({ customer_id: z.string().min(1).max(100) });
const CustomerListItem = CustomerView.extend({ active_keys: z.number() });

export function registerAdminCustomers({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.customers.list',
      method: 'get',
      path: '/admin/api/customers',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { query: PageQuery.extend({ q: z.string().max(254).optional(), active: z.enum(['true', 'false']).optional() }) },
      responses: { 200: jsonResponse(z.object({ customers: z.array(CustomerListItem), total: z.number(), limit: z.number(), offset: z.number() })), ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      const res = await c.customers.list({ limit: q.limit, offset: q.offset, q: q.q, active: q.active === undefined ? undefined : q.active === 'true' });
      return ctx.json({ customers: res.customers.map((x) => ({ ...customerView(x), active_keys: x.active_keys })), total: res.total, limit: q.limit, offset: q.offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.customers.create',
      method: 'post',
      path: '/admin/api/customers',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Create a customer and issue its master key (shown once)',
      request: jsonBody(CreateCustomerBody),
      responses: { 201: jsonResponse(z.object({ customer: CustomerView, master_key: IssuedKeyView })), ...errorResponses(400, 401, 409) },
    }),
    async (ctx) => {
      const body = ctx.req.valid('json');
      const { customer, master } = await c.customers.create(body, actorOf(ctx));
      return ctx.json({ customer: customerView(customer), master_key: { key: master.key, api_key: keyView(master.api_key) } }, 201);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.customers.get',
      method: 'get',
      path: '/admin/api/customers/{customer_id}',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: CustomerParam },
      responses: { 200: jsonResponse(z.object({ customer: CustomerView })), ...errorResponses(401, 404) },
    }),
    async (ctx) => {
      const cust = await c.customers.get(ctx.req.valid('param').customer_id);
      if (!cust) throw new AppError('NOT_FOUND', 'Customer not found');
      return ctx.json({ customer: customerView(cust) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.customers.update',
      method: 'patch',
      path: '/admin/api/customers/{customer_id}',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Update a customer policy (plan, cap, active, seats, allowlists, default limits)',
      request: { params: CustomerParam, ...jsonBody(UpdateCustomerBody) },
      responses: { 200: jsonResponse(z.object({ customer: CustomerView })), ...errorResponses(400, 401, 404, 409) },
    }),
    async (ctx) => {
      const cust = await c.customers.update(ctx.req.valid('param').customer_id, ctx.req.valid('json'), actorOf(ctx));
      return ctx.json({ customer: customerView(cust) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.customers.deactivate',
      method: 'post',
      path: '/admin/api/customers/{customer_id}/deactivate',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: CustomerParam },
      responses: { 200: jsonResponse(z.object({ customer: CustomerView })), ...errorResponses(401, 404) },
    }),
    async (ctx) => {
      const cust = await c.customers.deactivate(ctx.req.valid('param').customer_id, actorOf(ctx));
      return ctx.json({ customer: customerView(cust) }, 200);
    },
  );
}
