import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../../lib/errors.ts';
import { effectivePolicy } from '../../../keys/policy.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';
import { DeviceView } from '../user/devices.ts';

const security = [{ adminBearer: [] }];
const CustomerParam = z.object({ customer_id: z.string().min(1).max(100) });
const ListQuery = z.object({ api_key_id: z.string().min(1).max(100).optional(), limit: z.coerce.number().int().min(1).max(500).default(200) });
const PatchBody = z
  .object({ api_key_id: z.string().min(1).max(100), install_id: z.string().trim().min(1).max(80), revoked: z.boolean() })
  .strict()
  .openapi('AdminDevicePatch');

/** Admin: a customer's devices (seats) per key; revoke or restore one (audited). */
export function registerAdminDevices({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.devices.list',
      method: 'get',
      path: '/admin/api/customers/{customer_id}/devices',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: CustomerParam, query: ListQuery },
      responses: { 200: jsonResponse(z.object({ devices: z.array(DeviceView) })), ...errorResponses(400, 401, 404) },
    }),
    async (ctx) => {
      const { customer_id } = ctx.req.valid('param');
      const q = ctx.req.valid('query');
      if (!(await c.customers.get(customer_id))) throw new AppError('NOT_FOUND', 'Customer not found');
      return ctx.json({ devices: await c.gov.devices.list({ customerId: customer_id, keyId: q.api_key_id, limit: q.limit }) }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.devices.update',
      method: 'patch',
      path: '/admin/api/customers/{customer_id}/devices',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Revoke or restore a device of one of the customer’s keys',
      request: { params: CustomerParam, ...jsonBody(PatchBody) },
      responses: { 200: jsonResponse(z.object({ ok: z.boolean(), device: DeviceView })), ...errorResponses(400, 401, 403, 404) },
    }),
    async (ctx) => {
      const { customer_id } = ctx.req.valid('param');
      const body = ctx.req.valid('json');
      const [cust, key] = await Promise.all([c.customers.get(customer_id), c.keys.get(body.api_key_id)]);
      if (!cust || !key || key.customer_id !== customer_id) throw new AppError('NOT_FOUND', 'Device not found for this key');
      const actor = actorOf(ctx);
      const device = await c.gov.devices.setRevoked(
        { customerId: customer_id, keyId: key.id, installId: body.install_id, revoked: body.revoked, maxDevices: effectivePolicy(key, cust, { rpm: 0 }).maxDevices },
        { ...actor, revokedBy: `admin:${actor.actor}` },
      );
      return ctx.json({ ok: true, device }, 200);
    },
  );
}
