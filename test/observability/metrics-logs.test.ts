import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/metrics.ts';
import type { ObservedRequest } from '../../src/monitor/types.ts';
import { ADMIN_PASSWORD, makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { fakeHealth } from './util.ts';

const execFileP = promisify(execFile);

/** The value of one sample line in Prometheus text format (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[4]);
  }
  return undefined;
}

describe.each(DIALECTS)('metrics, overhead header and logs on %s', (dialect) => {
  let t: TestApp;
  let upstream: Awaited<ReturnType<typeof fakeHealth>>;
  const lines: string[] = [];
  beforeAll(async () => {
    upstream = await fakeHealth();
    t = await makeTestApp(dialect, { logLines: lines, env: { CLIENT_ERROR_PER_IP_PER_MIN: '1' } });
    t.app.get('/api/test-passthrough', () => fetch(upstream.url));
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('counts requests by operation and status, overhead, rejections', async () => {
    const before = await (await t.req('GET', '/metrics')).text();
    const base = sample(before, 'kaixu_http_requests_total', { operation: 'ops.health', status: '200' }) ?? 0;
    for (let i = 0; i < 3; i++) await t.req('GET', '/health');
    await t.req('GET', '/api/push-whoami');
    await t.req('POST', '/api/client-error-report', { body: { raw: 1 } });
    expect((await t.req('POST', '/api/client-error-report', { body: { raw: 2 } })).status).toBe(429);
    const res = await t.req('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'kaixu_http_requests_total', { operation: 'ops.health', status: '200' })).toBe(base + 3);
    expect(sample(text, 'kaixu_http_requests_total', { operation: 'user.whoami', status: '401' })).toBe(1);
    expect(sample(text, 'kaixu_rate_limited_total', { operation: 'seed.client_error_report' })).toBe(1);
    expect(sample(text, 'kaixu_gateway_overhead_seconds_count', { operation: 'ops.health' })).toBe(base + 3);
    expect(sample(text, 'kaixu_build_info', { version: t.c.config.version })).toBe(1);
    expect(text).toContain('kaixu_monitor_queue_depth');
    expect(text).toContain('kaixu_monitor_events_written_total');
  });

  it('sets x-kaixu-overhead-ms on data-plane responses only', async () => {
    const seed = await t.req('GET', '/.netlify/functions/health');
    expect(Number(seed.headers.get('x-kaixu-overhead-ms'))).toBeGreaterThanOrEqual(0);
    expect(seed.headers.get('x-kaixu-overhead-ms')).toMatch(/^\d+\.\d{3}$/);
    const err = await t.req('GET', '/api/push-whoami');
    expect(err.status).toBe(401);
    expect(err.headers.get('x-kaixu-overhead-ms')).toMatch(/^\d+\.\d{3}$/);
    const v1 = await t.req('GET', '/v1/nothing-here');
    expect(v1.headers.get('x-kaixu-overhead-ms')).toMatch(/^\d+\.\d{3}$/);
    expect((await t.req('GET', '/health')).headers.get('x-kaixu-overhead-ms')).toBeNull();
    // A passed-through fetch() Response has immutable headers; the edge still stamps it.
    const pass = await t.req('GET', '/api/test-passthrough');
    expect(pass.status).toBe(200);
    expect(pass.headers.get('x-kaixu-request-id')).toMatch(/^req_/);
    expect(pass.headers.get('x-kaixu-overhead-ms')).toMatch(/^\d+\.\d{3}$/);
    expect(await pass.json()).toMatchObject({ ok: true });
    expect((await t.admin('GET', '/admin/api/monitor/stats')).headers.get('x-kaixu-overhead-ms')).toBeNull();
  });

  it('writes a JSON access log line per request with the request id, redacting key material', async () => {
    lines.length = 0;
    const key = 'kx_live_' + 'Q'.repeat(48);
    const ok = await t.req('GET', '/health', { headers: { 'x-kaixu-app': `leaky ${key}` } });
    const bad = await t.req('GET', '/api/push-whoami', { headers: { authorization: `Bearer ${key}`, 'user-agent': `curl ${key}` } });
    await t.req('POST', '/admin/api/login', { body: { password: ADMIN_PASSWORD } });
    await new Promise((r) => setTimeout(r, 20));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = parsed.filter((p) => p.msg === 'request');
    const okLine = access.find((p) => p.request_id === ok.headers.get('x-kaixu-request-id'))!;
    const badLine = access.find((p) => p.request_id === bad.headers.get('x-kaixu-request-id'))!;
    expect(okLine).toMatchObject({ level: 20, method: 'GET', path: '/health', status: 200, operation: 'ops.health', app: 'leaky kx_live_[REDACTED]' });
    expect(badLine).toMatchObject({ level: 30, status: 401, error_code: 'INVALID_KEY', ua: 'curl kx_live_[REDACTED]' });
    const all = lines.join('\n');
    expect(all).not.toContain('Q'.repeat(10));
    expect(all).not.toContain(ADMIN_PASSWORD);
  });
});

describe.each(DIALECTS)('metrics token on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect, { env: { METRICS_TOKEN: 'scrape-token-xyz' } });
  });
  afterAll(async () => t?.close());

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    expect((await t.req('GET', '/metrics')).status).toBe(401);
    expect((await t.req('GET', '/metrics', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const ok = await t.req('GET', '/metrics', { headers: { authorization: 'Bearer scrape-token-xyz' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('kaixu_http_requests_total');
  });
});

describe('Metrics unit', () => {
  const req = (o: Omit<Partial<ObservedRequest>, 'info'> & { info?: Partial<ObservedRequest['info']> }): ObservedRequest => ({
    requestId: 'req_x',
    method: 'POST',
    path: '/v1/chat/completions',
    status: 200,
    durationMs: 120,
    overheadMs: 1.5,
    surface: 'openai',
    ip: '127.0.0.1',
    thrown: false,
    ...o,
    info: { upstreamMs: 0, ...o.info },
  });

  it('records upstream latency per provider, cap rejections, usage tokens and cost', async () => {
    const m = new Metrics({ version: 't' });
    m.observe(req({ info: { operation: 'gateway.chat', provider: 'openai', upstreamMs: 118.5 } }));
    m.observe(req({ info: { operation: 'gateway.chat', provider: 'openai', upstreamMs: 300 } }));
    m.observe(req({ status: 402, info: { operation: 'gateway.chat', errorCode: 'CAP_REACHED' } }));
    m.observe(req({ status: 429, info: { operation: 'gateway.chat', errorCode: 'RATE_LIMITED' } }));
    m.recordUsage({ provider: 'openai', model: 'gpt-4o-mini', input: 100, output: 40, costMicros: 51 });
    m.recordUsage({ provider: 'openai', model: 'gpt-4o-mini', input: 10, output: 0, costMicros: 2 });
    m.recordJob('heartbeat', 'succeeded');
    const { body } = await m.render();
    expect(sample(body, 'kaixu_upstream_latency_seconds_count', { provider: 'openai' })).toBe(2);
    expect(sample(body, 'kaixu_upstream_latency_seconds_sum', { provider: 'openai' })).toBeCloseTo(0.4185, 6);
    expect(sample(body, 'kaixu_cap_rejections_total', { operation: 'gateway.chat' })).toBe(1);
    expect(sample(body, 'kaixu_rate_limited_total', { operation: 'gateway.chat' })).toBe(1);
    expect(sample(body, 'kaixu_tokens_total', { provider: 'openai', model: 'gpt-4o-mini', type: 'input' })).toBe(110);
    expect(sample(body, 'kaixu_tokens_total', { provider: 'openai', model: 'gpt-4o-mini', type: 'output' })).toBe(40);
    expect(sample(body, 'kaixu_cost_micros_total', { provider: 'openai', model: 'gpt-4o-mini' })).toBe(53);
    expect(sample(body, 'kaixu_jobs_total', { kind: 'heartbeat', outcome: 'succeeded' })).toBe(1);
    expect(sample(body, 'kaixu_http_requests_total', { operation: 'gateway.chat', status: '200' })).toBe(2);
  });

  it('default metrics still see an event-loop stall', async () => {
    const m = new Metrics({ version: 't', defaultMetrics: true });
    await new Promise((r) => setTimeout(r, 120));
    const until = performance.now() + 150;
    while (performance.now() < until); // the stall
    await new Promise((r) => setTimeout(r, 120));
    const { body } = await m.render();
    expect(sample(body, 'kaixu_nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.1);
    expect(sample(body, 'kaixu_process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  // The event-loop lag sampler is a repeating timer: at prom-client's default 10 ms it woke an
  // idle gateway ~100 times a second (metrics.ts, EVENT_LOOP_SAMPLE_MS).
  it.runIf(process.platform === 'linux')('default metrics wake an idle process every 50 ms, not every 10 ms', async () => {
    const idle = async (mode: 'on' | 'off') => {
      const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'idle-metrics.ts'), mode]);
      return JSON.parse(stdout) as { wakeups: number; series: number };
    };
    const [on, off] = await Promise.all([idle('on'), idle('off')]);
    expect(on.series).toBeGreaterThan(off.series + 10);
    // ~20 more a second at 50 ms; ~97 at prom-client's default 10 ms.
    expect(on.wakeups - off.wakeups).toBeLessThanOrEqual(50);
  });

  it('keeps registries apart per instance', async () => {
    const a = new Metrics({ version: 'a' });
    const b = new Metrics({ version: 'b' });
    a.observe(req({ info: { operation: 'x' } }));
    expect(sample((await b.render()).body, 'kaixu_http_requests_total', { operation: 'x', status: '200' })).toBeUndefined();
  });
});
