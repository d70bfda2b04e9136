import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { pool } from './util.ts';

const N = 5_000;

async function healthRows(t: TestApp): Promise<number> {
  const r = await sql<{ n: number }>`select count(*) as n from monitor_events where operation = 'ops.health'`.execute(t.c.storage.db);
  return Number(r.rows[0]!.n);
}

describe.each(DIALECTS)('monitor under load on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it(`${N} requests leave ${N} monitor events`, async () => {
    t = await makeTestApp(dialect, { env: { MONITOR_FLUSH_MS: '20' } });
    const app = t;
    await pool(N, 32, async () => {
      const res = await app.req('GET', '/health');
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    });
    await t.c.monitor.writer.flush();
    const s = t.c.monitor.writer.stats();
    expect(s.dropped).toBe(0);
    expect(await healthRows(t)).toBe(N);
    expect(s.batches).toBeGreaterThan(1); // written in batches while requests were running
  });

  it('when the queue overflows, the drop counter accounts for every missing event', async () => {
    // No flush during the burst: the queue holds 200, every other event is dropped and counted.
    t = await makeTestApp(dialect, { env: { MONITOR_QUEUE_MAX: '200', MONITOR_FLUSH_MS: '60000' } });
    const app = t;
    await pool(N, 64, async () => void (await app.req('GET', '/health')));
    expect(t.c.monitor.writer.stats()).toMatchObject({ queue_depth: 200, dropped: N - 200, written: 0 });
    const metrics = await (await t.req('GET', '/metrics')).text();
    expect(metrics).toContain(`kaixu_monitor_events_dropped_total ${N - 200}`);
    expect(metrics).toContain('kaixu_monitor_queue_depth 200');
    await t.c.close(); // shutdown flushes what is still queued
    const s = t.c.monitor.writer.stats();
    expect(s.queue_depth).toBe(0);
    expect(await healthRows(t)).toBe(200);
    expect(s.written + s.dropped).toBe(N + 1); // + the /metrics request
  });

  it('with a small queue flushed while requests run, written + dropped is exactly the request count', async () => {
    t = await makeTestApp(dialect, { env: { MONITOR_QUEUE_MAX: '100', MONITOR_FLUSH_MS: '5' } });
    const app = t;
    await pool(N, 64, async () => void (await app.req('GET', '/health')));
    await t.c.close();
    const s = t.c.monitor.writer.stats();
    expect(s.queue_depth).toBe(0);
    const rows = await healthRows(t);
    expect(rows + s.dropped).toBe(N);
    expect(s.written).toBe(rows);
  });
});
