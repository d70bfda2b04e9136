import { createRoute, z } from '@hono/zod-openapi';
import type { Lane } from '../../../lanes/types.ts';
import { iso } from '../../../lib/clock.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';

const security = [{ adminBearer: [] }];
const LaneParam = z.object({ lane_id: z.string().min(1).max(100) });
const modelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/, 'letters, digits and . _ : / @ + - (no spaces)');
const Target = z.object({ provider: z.string().min(1).max(40), model: modelName }).strict();

const Fields = {
  provider: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, . _ -')
    .openapi({ example: 'kaixu', description: 'Public provider name clients send.' }),
  model: modelName.openapi({ example: 'kaixu-chat', description: 'Public model name clients send (on /v1 it is the whole model id).' }),
  targets: z.array(Target).min(1).max(8).openapi({ description: 'Upstream provider/model pairs tried in order.' }),
  report_public: z.boolean().openapi({ description: 'Responses show the public names instead of the vendor’s.' }),
  display_provider: z.string().min(1).max(64).nullable().openapi({ description: 'Provider name shown when report_public (defaults to provider).' }),
  is_active: z.boolean(),
};

const CreateLane = z
  .object({ provider: Fields.provider, model: Fields.model, targets: Fields.targets, report_public: Fields.report_public.optional(), display_provider: Fields.display_provider.optional(), is_active: Fields.is_active.optional() })
  .strict()
  .openapi('CreateLane');
const UpdateLane = z
  .object(Object.fromEntries(Object.entries(Fields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof Fields]: z.ZodOptional<(typeof Fields)[K]> })
  .strict()
  .refine((o) => Object.keys(o).length > 0, { message: 'No fields to update' })
  .openapi('UpdateLane');

const LaneView = z
  .object({
    id: z.string(),
    provider: z.string(),
    model: z.string(),
    targets: z.array(z.object({ provider: z.string(), model: z.string() })),
    report_public: z.boolean(),
    display_provider: z.string().nullable(),
    is_active: z.boolean(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi('Lane');

const view = (l: Lane) => ({ ...l, created_at: iso(l.created_at), updated_at: iso(l.updated_at) });

/** Admin CRUD for lanes: public model names → ordered upstream targets. */
export function registerAdminLanes({ app, c }: RouteDeps) {
  const base = { tags: ['admin'], security, middleware: [requireAdmin(c)] };

  app.openapi(
    createRoute({ ...base, operationId: 'admin.lanes.list', method: 'get', path: '/admin/api/lanes', responses: { 200: jsonResponse(z.object({ lanes: z.array(LaneView) })), ...errorResponses(401) } }),
    async (ctx) => {
      return ctx.json({ lanes: (await c.lanes.all()).map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...base,
      operationId: 'admin.lanes.create',
      method: 'post',
      path: '/admin/api/lanes',
      request: jsonBody(CreateLane),
      responses: { 201: jsonResponse(z.object({ lane: LaneView })), ...errorResponses(400, 401, 409) },
    }),
    async (ctx) => {
      return ctx.json({ lane: view(await c.lanes.create(ctx.req.valid('json'), actorOf(ctx))) }, 201);
    },
  );

  app.openapi(
    createRoute({ ...base, operationId: 'admin.lanes.get', method: 'get', path: '/admin/api/lanes/{lane_id}', request: { params: LaneParam }, responses: { 200: jsonResponse(z.object({ lane: LaneView })), ...errorResponses(401, 404) } }),
    async (ctx) => {
      return ctx.json({ lane: view(await c.lanes.get(ctx.req.valid('param').lane_id)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...base,
      operationId: 'admin.lanes.update',
      method: 'patch',
      path: '/admin/api/lanes/{lane_id}',
      request: { params: LaneParam, ...jsonBody(UpdateLane) },
      responses: { 200: jsonResponse(z.object({ lane: LaneView })), ...errorResponses(400, 401, 404, 409) },
    }),
    async (ctx) => {
      return ctx.json({ lane: view(await c.lanes.update(ctx.req.valid('param').lane_id, ctx.req.valid('json'), actorOf(ctx))) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...base,
      operationId: 'admin.lanes.delete',
      method: 'delete',
      path: '/admin/api/lanes/{lane_id}',
      request: { params: LaneParam },
      responses: { 200: jsonResponse(z.object({ ok: z.literal(true), deleted: z.string() })), ...errorResponses(401, 404) },
    }),
    async (ctx) => {
      const id = ctx.req.valid('param').lane_id;
      await c.lanes.remove(id, actorOf(ctx));
      return ctx.json({ ok: true as const, deleted: id }, 200);
    },
  );
}
