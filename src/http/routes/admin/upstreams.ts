import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonBody, jsonResponse } from '../../route-kit.ts';

const security = [{ adminBearer: [] }];
const NameParam = z.object({ name: z.string().min(1).max(40) });
const HOP_BY_HOP = /^(host|connection|content-length|transfer-encoding|keep-alive|upgrade|te|trailer|proxy-connection)$/i;

const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'invalid header name')
  .refine((h) => !HOP_BY_HOP.test(h), 'hop-by-hop or framing header not allowed');
const HeaderValue = z.string().max(4096).regex(/^[^\r\n\0]*$/, 'header values must not contain CR, LF or NUL');
const timeout = z.number().int().min(1).max(3_600_000).nullable();

const Fields = {
  base_url: z
    .string()
    .url()
    .max(2000)
    .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
    .openapi({ example: 'https://api.groq.com/openai/v1', description: 'Chat Completions base: the gateway POSTs to {base_url}/chat/completions.' }),
  api_key: z.string().min(1).max(4096).nullable().openapi({ description: 'Sent as `Authorization: Bearer`. Stored encrypted, never returned.' }),
  headers: z.record(HeaderName, HeaderValue).nullable().openapi({ description: 'Extra static headers (stored encrypted; only the names are returned).' }),
  connect_timeout_ms: timeout,
  first_byte_timeout_ms: timeout,
  idle_timeout_ms: timeout,
  is_active: z.boolean(),
};
const optional = Object.fromEntries(Object.entries(Fields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof Fields]: z.ZodOptional<(typeof Fields)[K]> };

const CreateUpstream = z
  .object({ name: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'lowercase letters, digits, - and _, starting with a letter'), ...optional, base_url: Fields.base_url })
  .strict()
  .refine((o) => !o.headers || Object.keys(o.headers).length <= 20, { message: 'at most 20 headers', path: ['headers'] })
  .openapi('CreateUpstream');
const UpdateUpstream = z
  .object(optional)
  .strict()
  .refine((o) => Object.keys(o).length > 0, { message: 'No fields to update' })
  .refine((o) => !o.headers || Object.keys(o.headers).length <= 20, { message: 'at most 20 headers', path: ['headers'] })
  .openapi('UpdateUpstream');

const UpstreamView = z
  .object({
    name: z.string(),
    kind: z.string(),
    builtin: z.boolean(),
    base_url: z.string(),
    has_api_key: z.boolean(),
    header_names: z.array(z.string()),
    connect_timeout_ms: z.number().nullable(),
    first_byte_timeout_ms: z.number().nullable(),
    idle_timeout_ms: z.number().nullable(),
    is_active: z.boolean(),
    configured: z.boolean(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi('Upstream');

/** Admin CRUD for upstreams: built-ins (read-only, from the environment) and OpenAI-compatible ones. */
export function registerAdminUpstreams({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];
  const base = { tags: ['admin'], security, middleware: mw };

  app.openapi(
    createRoute({ ...base, operationId: 'admin.upstreams.list', method: 'get', path: '/admin/api/upstreams', responses: { 200: jsonResponse(z.object({ upstreams: z.array(UpstreamView) })), ...errorResponses(401) } }),
    async (ctx) => {
      return ctx.json({ upstreams: await c.upstreams.list() }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...base,
      operationId: 'admin.upstreams.create',
      method: 'post',
      path: '/admin/api/upstreams',
      summary: 'Register an OpenAI-compatible upstream (Ollama, vLLM, Groq, OpenRouter, Together…)',
      request: jsonBody(CreateUpstream),
      responses: { 201: jsonResponse(z.object({ upstream: UpstreamView })), ...errorResponses(400, 401, 409) },
    }),
    async (ctx) => {
      return ctx.json({ upstream: await c.upstreams.create(ctx.req.valid('json'), actorOf(ctx)) }, 201);
    },
  );

  app.openapi(
    createRoute({ ...base, operationId: 'admin.upstreams.get', method: 'get', path: '/admin/api/upstreams/{name}', request: { params: NameParam }, responses: { 200: jsonResponse(z.object({ upstream: UpstreamView })), ...errorResponses(401, 404) } }),
    async (ctx) => {
      return ctx.json({ upstream: await c.upstreams.getView(ctx.req.valid('param').name) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...base,
      operationId: 'admin.upstreams.update',
      method: 'patch',
      path: '/admin/api/upstreams/{name}',
      request: { params: NameParam, ...jsonBody(UpdateUpstream) },
      responses: { 200: jsonResponse(z.object({ upstream: UpstreamView })), ...errorResponses(400, 401, 404, 409) },
    }),
    async (ctx) => {
      return ctx.json({ upstream: await c.upstreams.update(ctx.req.valid('param').name, ctx.req.valid('json'), actorOf(ctx)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...base,
      operationId: 'admin.upstreams.delete',
      method: 'delete',
      path: '/admin/api/upstreams/{name}',
      request: { params: NameParam },
      responses: { 200: jsonResponse(z.object({ ok: z.literal(true), deleted: z.string() })), ...errorResponses(401, 404, 409) },
    }),
    async (ctx) => {
      const name = ctx.req.valid('param').name;
      await c.upstreams.remove(name, actorOf(ctx));
      return ctx.json({ ok: true as const, deleted: name }, 200);
    },
  );
}
