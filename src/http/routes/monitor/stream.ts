import { createRoute, z } from '@hono/zod-openapi';
import { iso } from '../../../lib/clock.ts';
import { sseFrame } from '../../../lib/sse.ts';
import type { TailFrame } from '../../../monitor/tail.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { errorResponses } from '../../route-kit.ts';
import { MonitorFilterQuery, toFilter } from './schemas.ts';

function render(f: TailFrame): string {
  if (f.type === 'events') return f.events.map((e) => sseFrame('event', JSON.stringify(e))).join('');
  if (f.type === 'ping') return sseFrame('ping', JSON.stringify({ t: f.t }));
  return sseFrame('warn', JSON.stringify({ error: f.error }));
}

/**
 * Live tail over SSE: `hello {ok, after_id, now}`, then one `event` frame per new monitor row
 * (same filters as the list), `ping {t}` every STREAM_PING_MS. Without after_id it starts at the
 * newest row. The tail ends when the client disconnects or the server starts draining.
 */
export function registerMonitorStream({ app, c }: RouteDeps) {
  app.openapi(
    createRoute({
      operationId: 'admin.monitor.stream',
      method: 'get',
      path: '/admin/api/monitor/stream',
      tags: ['monitor'],
      security: [{ adminBearer: [] }],
      middleware: [requireAdmin(c)],
      summary: 'Live tail of monitor events (Server-Sent Events: hello, event, ping, warn)',
      request: { query: MonitorFilterQuery },
      responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      const afterId = q.after_id ?? (await c.monitor.store.maxId());
      const ac = new AbortController();
      const stop = () => ac.abort();
      c.drainSignal.addEventListener('abort', stop, { once: true });
      ctx.req.raw.signal?.addEventListener('abort', stop, { once: true });
      const frames = c.monitor.tails.follow(toFilter(q), afterId, ac.signal);
      const cleanup = () => c.drainSignal.removeEventListener('abort', stop);
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(enc.encode(sseFrame('hello', JSON.stringify({ ok: true, after_id: afterId, now: iso(c.clock.now()) }))));
        },
        async pull(controller) {
          const next = await frames.next();
          if (next.done) {
            cleanup();
            controller.close();
            return;
          }
          controller.enqueue(enc.encode(render(next.value)));
        },
        async cancel() {
          ac.abort();
          cleanup();
          await frames.return(undefined);
        },
      });
      return new Response(body, {
        status: 200,
        headers: {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        },
      });
    },
  );
}
