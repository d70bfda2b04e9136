import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../context.ts';
import { seedPaths } from '../route-kit.ts';

const Health = z
  .object({
    ok: z.boolean(),
    ts: z.string(),
    version: z.string(),
    uptime_s: z.number(),
    db: z.object({ ok: z.boolean(), dialect: z.string(), latency_ms: z.number().nullable(), error: z.string().optional() }),
  })
  .openapi('Health');

export function registerHealth({ app, c }: RouteDeps) {
  for (const path of ['/health', ...seedPaths('health')]) {
    app.openapi(
      createRoute({
        operationId: path === '/health' ? 'ops.health' : path.startsWith('/api') ? 'ops.health.api' : 'ops.health.seed',
        method: 'get',
        path,
        tags: ['ops'],
        summary: 'Liveness and database reachability',
        responses: {
          200: { description: 'Healthy', content: { 'application/json': { schema: Health } } },
          503: { description: 'Database unreachable', content: { 'application/json': { schema: Health } } },
        },
      }),
      async (ctx) => {
        let db: z.infer<typeof Health>['db'];
        try {
          const ms = await Promise.race([
            c.storage.ping(),
            new Promise<number>((_, rej) => setTimeout(() => rej(new Error('timeout')), 3000).unref()),
          ]);
          db = { ok: true, dialect: c.storage.dialect, latency_ms: Number(ms.toFixed(3)) };
        } catch (e) {
          db = { ok: false, dialect: c.storage.dialect, latency_ms: null, error: (e as Error).message === 'timeout' ? 'timeout' : 'unreachable' };
        }
        const body = { ok: db.ok, ts: new Date(c.clock.now()).toISOString(), version: c.config.version, uptime_s: Math.round(process.uptime()), db };
        return ctx.json(body, db.ok ? 200 : 503);
      },
    );
  }
}
