import { createRoute, z } from '@hono/zod-openapi';
import { effectivePolicy } from '../../../keys/policy.ts';
import type { RouteDeps } from '../../context.ts';
import { requireKey } from '../../middleware/auth.ts';
import { jsonBody, jsonResponse, seedErrorResponses, seedPaths } from '../../route-kit.ts';

export const DeviceView = z
  .object({
    api_key_id: z.string(),
    key_last4: z.string(),
    key_label: z.string(),
    install_id: z.string(),
    device_label: z.string().nullable(),
    first_seen_at: z.string().nullable(),
    last_seen_at: z.string().nullable(),
    last_seen_ua: z.string().nullable(),
    revoked_at: z.string().nullable(),
    revoked_by: z.string().nullable(),
  })
  .openapi('Device');

const PatchBody = z.object({ install_id: z.string().trim().min(1).max(80), revoked: z.boolean() }).strict().openapi('UserDevicePatch');
const Devices = z.object({ api_key_id: z.string(), devices: z.array(DeviceView) }).openapi('UserDevices');

/** Seed `user-devices`: list the calling key's devices; revoke or restore one of them. */
export function registerUserDevices({ app, c }: RouteDeps) {
  for (const path of seedPaths('user-devices')) {
    const api = path.startsWith('/api');
    app.openapi(
      createRoute({
        operationId: api ? 'user.devices.list.api' : 'user.devices.list',
        method: 'get',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c)],
        responses: { 200: jsonResponse(Devices), ...seedErrorResponses(401, 403) },
      }),
      async (ctx) => {
        const { key, customer } = ctx.get('auth')!;
        const devices = await c.gov.devices.list({ customerId: customer.id, keyId: key.id, limit: 200 });
        return ctx.json({ api_key_id: key.id, devices }, 200);
      },
    );
    app.openapi(
      createRoute({
        operationId: api ? 'user.devices.update.api' : 'user.devices.update',
        method: 'patch',
        path,
        tags: ['user'],
        security: [{ virtualKey: [] }],
        middleware: [requireKey(c)],
        summary: 'Revoke or restore one of this key’s devices',
        request: jsonBody(PatchBody),
        responses: { 200: jsonResponse(Devices.extend({ ok: z.boolean() })), ...seedErrorResponses(400, 401, 403, 404) },
      }),
      async (ctx) => {
        const { key, customer } = ctx.get('auth')!;
        const body = ctx.req.valid('json');
        const policy = effectivePolicy(key, customer, { rpm: c.config.DEFAULT_RPM_LIMIT });
        await c.gov.devices.setRevoked(
          { customerId: customer.id, keyId: key.id, installId: body.install_id, revoked: body.revoked, maxDevices: policy.maxDevices },
          { actor: 'user', ip: ctx.get('clientIp'), revokedBy: `user:key${key.key_last4}` },
        );
        const devices = await c.gov.devices.list({ customerId: customer.id, keyId: key.id, limit: 200 });
        return ctx.json({ ok: true, api_key_id: key.id, devices }, 200);
      },
    );
  }
}
