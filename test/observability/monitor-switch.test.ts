import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config/index.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

/** MONITOR_ENABLED=false removes the per-request monitor event; metrics, logs and client error reports stay. */

interface Page {
  events: { kind: string; operation: string | null; status: number | null }[];
}

async function events(t: TestApp, qs = ''): Promise<Page['events']> {
  await t.c.monitor.writer.flush();
  const res = await t.admin('GET', `/admin/api/monitor/events?limit=1000${qs}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as Page).events;
}

async function traffic(t: TestApp): Promise<void> {
  for (let i = 0; i < 5; i++) expect((await t.req('GET', '/health')).status).toBe(200);
  expect((await t.req('GET', '/.netlify/functions/no-such-function')).status).toBe(404);
}

describe.each(DIALECTS)('MONITOR_ENABLED on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is on by default: every request leaves an event', async () => {
    t = await makeTestApp(dialect, { env: { MONITOR_FLUSH_MS: '60000' } });
    expect(t.c.config.MONITOR_ENABLED).toBe(true);
    await traffic(t);
    const evs = await events(t);
    expect(evs.filter((e) => e.operation === 'ops.health')).toHaveLength(5);
    expect(evs.filter((e) => e.status === 404)).toHaveLength(1);
  });

  it('off: no request events are queued or written, metrics still count, client errors are still recorded', async () => {
    t = await makeTestApp(dialect, { env: { MONITOR_ENABLED: 'false', MONITOR_FLUSH_MS: '60000', CLIENT_ERROR_PER_IP_PER_MIN: '1000' } });
    expect(t.c.config.MONITOR_ENABLED).toBe(false);
    await traffic(t);
    expect(t.c.monitor.writer.stats()).toMatchObject({ queue_depth: 0, dropped: 0 });
    expect(await events(t)).toEqual([]);

    const metrics = await (await t.req('GET', '/metrics')).text();
    expect(metrics).toMatch(/kaixu_http_requests_total\{operation="ops\.health",status="200"\} 5/);

    const res = await t.req('POST', '/.netlify/functions/client-error-report', { body: { error: { name: 'TypeError', message: 'x is undefined' } } });
    expect(res.status).toBe(200);
    const evs = await events(t);
    expect(evs.map((e) => e.kind)).toEqual(['client_error']);
  });
});

describe('MONITOR_ENABLED config', () => {
  it('parses the usual boolean spellings and rejects anything else', () => {
    expect(testConfig({ MONITOR_ENABLED: 'off' }).MONITOR_ENABLED).toBe(false);
    expect(testConfig({ MONITOR_ENABLED: '1' }).MONITOR_ENABLED).toBe(true);
    expect(testConfig({ MONITOR_ENABLED: '' }).MONITOR_ENABLED).toBe(true); // empty counts as unset
    expect(() => testConfig({ MONITOR_ENABLED: 'maybe' })).toThrow(/MONITOR_ENABLED/);
  });
});
