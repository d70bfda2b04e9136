import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from './context.ts';

/** Both mount points of a seed function: `/.netlify/functions/<name>` and `/api/<name>`. */
export const seedPaths = (name: string): string[] => [`/.netlify/functions/${name}`, `/api/${name}`];

/** The standard error response schema, for OpenAPI. */
export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string(), request_id: z.string() }).passthrough() })
  .openapi('Error');
export const SeedErrorSchema = z.object({ error: z.string(), code: z.string().optional(), request_id: z.string().optional() }).passthrough().openapi('SeedError');

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: `Error ${s}`, content: { 'application/json': { schema: ErrorSchema } } }]));
export const seedErrorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: `Error ${s}`, content: { 'application/json': { schema: SeedErrorSchema } } }]));

export const jsonBody = <T extends z.ZodTypeAny>(schema: T, description?: string) => ({
  body: { required: true, description, content: { 'application/json': { schema } } },
});
export const jsonResponse = <T extends z.ZodTypeAny>(schema: T, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});

/** Pagination query: limit (1..500, default 50) and offset. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export const actorOf = (ctx: Context<AppEnv>) => ({ actor: ctx.get('admin')?.actor ?? 'system', ip: ctx.get('clientIp') });

export const IdParam = (name: string) => z.object({ [name]: z.string().min(1).max(100) });
