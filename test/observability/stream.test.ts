import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSse, type SseEvent } from '../../src/lib/sse.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { until } from './util.ts';

/** Reads SSE frames from a response in the background; `next(pred)` waits for a matching one. */
function reader(res: Response) {
  const frames: SseEvent[] = [];
  const it = readSse(res.body! as unknown as AsyncIterable<Uint8Array>);
  let ended = false;
  const pump = (async () => {
    for await (const f of it) frames.push(f);
    ended = true;
  })();
  return {
    frames,
    get ended() {
      return ended;
    },
    async next(pred: (f: SseEvent) => boolean, ms = 5_000): Promise<SseEvent> {
      return until(() => frames.find(pred), ms) as Promise<SseEvent>;
    },
    async cancel() {
      await it.return(undefined);
      await pump.catch(() => undefined);
    },
    pump,
  };
}

describe.each(DIALECTS)('monitor live tail on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect, { env: { MONITOR_FLUSH_MS: '10', MONITOR_STREAM_POLL_MS: '50', STREAM_PING_MS: '150' } });
  });
  afterAll(async () => t?.close());

  it('sends hello, follows new rows with the filters, pings, and stops on disconnect', async () => {
    await t.req('GET', '/health'); // history before the tail: not replayed
    await t.c.monitor.writer.flush();
    const res = await t.admin('GET', '/admin/api/monitor/stream?operation=ops.health');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const r = reader(res);
    const hello = JSON.parse((await r.next((f) => f.event === 'hello')).data) as { ok: boolean; after_id: number; now: string };
    expect(hello.ok).toBe(true);
    expect(hello.after_id).toBeGreaterThan(0);
    await until(() => t.c.monitor.stats().streams_open === 1);

    const a = await t.req('GET', '/health');
    await t.req('GET', '/api/push-whoami'); // other operation: filtered out
    const b = await t.req('GET', '/health');
    const ids = [a, b].map((x) => x.headers.get('x-kaixu-request-id'));
    await until(() => r.frames.filter((f) => f.event === 'event').length >= 2);
    const events = r.frames.filter((f) => f.event === 'event').map((f) => JSON.parse(f.data) as { id: number; operation: string; request_id: string });
    expect(events.map((e) => e.request_id)).toEqual(ids);
    expect(events.every((e) => e.operation === 'ops.health' && e.id > hello.after_id)).toBe(true);

    const ping = JSON.parse((await r.next((f) => f.event === 'ping', 2_000)).data) as { t: number };
    expect(typeof ping.t).toBe('number');

    await r.cancel();
    await until(() => t.c.monitor.stats().streams_open === 0);
  });

  it('replays from after_id and honours level/kind filters', async () => {
    await t.c.monitor.writer.flush();
    const start = await t.c.monitor.store.maxId();
    await t.req('GET', '/api/push-whoami'); // 401 → warn
    await t.req('GET', '/health');
    await t.c.monitor.writer.flush();
    const res = await t.admin('GET', `/admin/api/monitor/stream?after_id=${start}&level=warn`);
    const r = reader(res);
    const ev = JSON.parse((await r.next((f) => f.event === 'event')).data) as { level: string; status: number };
    expect(ev).toMatchObject({ level: 'warn', status: 401 });
    await new Promise((res2) => setTimeout(res2, 100));
    expect(r.frames.filter((f) => f.event === 'event')).toHaveLength(1);
    await r.cancel();
  });

  it('rejects bad filters and non-admins', async () => {
    expect((await t.req('GET', '/admin/api/monitor/stream')).status).toBe(401);
    expect((await t.admin('GET', '/admin/api/monitor/stream?kind=nope')).status).toBe(400);
  });

  it('ends open tails when the server starts draining', async () => {
    const res = await t.admin('GET', '/admin/api/monitor/stream');
    const r = reader(res);
    await r.next((f) => f.event === 'hello');
    t.c.beginDrain();
    await until(() => r.ended, 3_000);
    expect(t.c.monitor.stats().streams_open).toBe(0);
  });
});
