import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

interface Ev {
  id: number;
  level: string;
  kind: string;
  operation: string | null;
  method: string | null;
  path: string | null;
  status: number | null;
  duration_ms: number | null;
  request_id: string | null;
  app: string | null;
  build: string | null;
  customer_id: string | null;
  api_key_id: string | null;
  error_code: string | null;
  error_message: string | null;
  body_preview: string | null;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
}
interface Page {
  events: Ev[];
  next_after_id: number;
  has_more: boolean;
}

describe.each(DIALECTS)('monitor events on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 12));
  let cust: { customer: { id: string }; key: string; keyId: string };

  const list = async (qs = ''): Promise<Page> => {
    await t.c.monitor.writer.flush();
    const res = await t.admin('GET', `/admin/api/monitor/events${qs}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock, env: { MONITOR_FLUSH_MS: '60000' } });
    // A route that fails unexpectedly, to see a thrown error recorded.
    t.app.get('/.netlify/functions/test-boom', () => {
      throw new Error('kaboom with kx_live_secretsecretsecret inside');
    });
    cust = await t.createCustomer();
  });
  afterAll(async () => t?.close());

  it('records one event per request with its request metadata', async () => {
    const res = await t.req('GET', '/.netlify/functions/health', { headers: { 'x-kaixu-app': 'MyApp', 'x-kaixu-build': 'b-42', 'user-agent': 'ua-test/1', 'x-forwarded-for': '10.1.2.3' } });
    const rid = res.headers.get('x-kaixu-request-id')!;
    const { events } = await list(`?request_id=${rid}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      level: 'info',
      kind: 'http_response',
      operation: 'ops.health',
      method: 'GET',
      path: '/.netlify/functions/health',
      status: 200,
      request_id: rid,
      app: 'MyApp',
      build: 'b-42',
      user_agent: 'ua-test/1',
      ip: '10.1.2.3',
      error_code: null,
      customer_id: null,
    });
    expect(events[0]!.duration_ms).toBeGreaterThanOrEqual(0);
    expect(events[0]!.created_at).toBe(new Date(clock.now()).toISOString());
  });

  it('records the customer and key of authenticated calls', async () => {
    const res = await t.req('GET', '/api/push-whoami', { headers: { authorization: `Bearer ${cust.key}` } });
    expect(res.status).toBe(200);
    const { events } = await list(`?request_id=${res.headers.get('x-kaixu-request-id')}`);
    expect(events[0]).toMatchObject({ operation: 'user.whoami', customer_id: cust.customer.id, api_key_id: cust.keyId, level: 'info' });
  });

  it('records 4xx as warn with the error code, message and body preview', async () => {
    const res = await t.req('GET', '/api/push-whoami', { headers: { authorization: 'Bearer kx_live_notarealkeynotarealkeynotarealkeynotarealkey1234' } });
    expect(res.status).toBe(401);
    const { events } = await list(`?request_id=${res.headers.get('x-kaixu-request-id')}`);
    expect(events[0]).toMatchObject({ level: 'warn', kind: 'http_error_response', status: 401, error_code: 'INVALID_KEY', error_message: 'Invalid or revoked key' });
    expect(events[0]!.body_preview).toContain('Invalid or revoked key');
  });

  it('records unexpected errors as error / thrown_error, without leaking key material', async () => {
    const res = await t.req('GET', '/.netlify/functions/test-boom');
    expect(res.status).toBe(500);
    const { events } = await list(`?request_id=${res.headers.get('x-kaixu-request-id')}`);
    expect(events[0]).toMatchObject({ level: 'error', kind: 'thrown_error', status: 500, error_code: 'INTERNAL', error_message: 'Internal server error' });
    expect(JSON.stringify(events)).not.toContain('secretsecret');
  });

  it('filters by level, kind, operation (and its route alias), app, customer, since; pages by after_id', async () => {
    for (let i = 0; i < 3; i++) await t.req('GET', '/health', { headers: { 'x-kaixu-app': 'FilterApp' } });
    clock.advance(60_000);
    const sinceIso = new Date(clock.now()).toISOString();
    await t.req('GET', '/health', { headers: { 'x-kaixu-app': 'FilterApp' } });
    await t.req('GET', '/api/push-whoami');

    const byApp = await list('?app=FilterApp');
    expect(byApp.events).toHaveLength(4);
    expect(byApp.events.every((e) => e.app === 'FilterApp')).toBe(true);
    const ids = byApp.events.map((e) => e.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    expect((await list('?app=FilterApp&since=' + encodeURIComponent(sinceIso))).events).toHaveLength(1);
    expect((await list(`?app=FilterApp&since=${clock.now()}`)).events).toHaveLength(1);

    const warn = await list('?level=warn');
    expect(warn.events.length).toBeGreaterThan(0);
    expect(warn.events.every((e) => e.level === 'warn')).toBe(true);
    const errs = await list('?kind=thrown_error');
    expect(errs.events.every((e) => e.kind === 'thrown_error')).toBe(true);
    expect(errs.events.length).toBe(1);

    const op = await list('?operation=ops.health');
    const route = await list('?route=ops.health');
    expect(op.events.map((e) => e.id)).toEqual(route.events.map((e) => e.id));
    expect(op.events.every((e) => e.operation === 'ops.health')).toBe(true);

    const mine = await list(`?customer_id=${cust.customer.id}`);
    expect(mine.events.length).toBeGreaterThan(0);
    expect(mine.events.every((e) => e.customer_id === cust.customer.id)).toBe(true);

    // Pagination: 2 at a time covers the same 4 rows, in order, with has_more until the end.
    const seen: number[] = [];
    let after = 0;
    for (let guard = 0; guard < 10; guard++) {
      const p = await list(`?app=FilterApp&limit=2&after_id=${after}`);
      seen.push(...p.events.map((e) => e.id));
      after = p.next_after_id;
      if (!p.has_more) break;
    }
    expect(seen).toEqual(ids);
    const empty = await list(`?app=FilterApp&after_id=${after}`);
    expect(empty).toMatchObject({ events: [], next_after_id: after, has_more: false });
  });

  it('validates the query and requires an admin', async () => {
    expect((await t.admin('GET', '/admin/api/monitor/events?level=loud')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/monitor/events?limit=1001')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/monitor/events?bogus=1')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/monitor/events?since=yesterday')).status).toBe(400);
    expect((await t.req('GET', '/admin/api/monitor/events')).status).toBe(401);
    expect((await t.req('GET', '/admin/api/monitor/stats')).status).toBe(401);
    expect((await t.req('POST', '/admin/api/monitor/prune', { body: { days: 1 } })).status).toBe(401);
  });

  it('exposes writer stats', async () => {
    await t.c.monitor.writer.flush();
    const res = await t.admin('GET', '/admin/api/monitor/stats');
    const s = (await res.json()) as Record<string, number | string>;
    expect(s).toMatchObject({ node_id: t.c.config.nodeId, dropped: 0, queue_max: 10_000, streams_open: 0 });
    expect(s.written).toBeGreaterThan(10);
    expect(s.queue_depth).toBe(0); // the stats request's own event is queued after its response
  });

  it('prunes by age (admin API and the retention job) and audits the manual prune', async () => {
    // Admin tokens live 12 h, so "old" events are made by moving the clock back and returning.
    const now = clock.now();
    clock.set(now - 10 * 86_400_000);
    const r1 = await t.req('GET', '/health');
    const oldRid = r1.headers.get('x-kaixu-request-id')!;
    clock.set(now);
    const r2 = await t.req('GET', '/health');
    await t.c.monitor.writer.flush();

    expect((await t.admin('POST', '/admin/api/monitor/prune', { days: 0 })).status).toBe(400);
    expect((await t.admin('POST', '/admin/api/monitor/prune', { days: 5, extra: 1 })).status).toBe(400);
    const res = await t.admin('POST', '/admin/api/monitor/prune', { days: 5 });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { ok: boolean; deleted: number; days: number; archived: number };
    expect(j).toMatchObject({ ok: true, days: 5, archived: 0 });
    expect(j.deleted).toBe(1);
    expect((await list(`?request_id=${oldRid}`)).events).toHaveLength(0);
    expect((await list(`?request_id=${r2.headers.get('x-kaixu-request-id')}`)).events).toHaveLength(1);
    const audit = (await (await t.admin('GET', '/admin/api/audit?action=MONITOR_PRUNE')).json()) as { events: { summary: string }[] };
    expect(audit.events[0]!.summary).toContain(`Pruned ${j.deleted} events`);

    // The hourly retention job keeps MONITOR_RETENTION_DAYS (30).
    clock.set(now - 31 * 86_400_000);
    const stale = await t.req('GET', '/health');
    clock.set(now);
    const fresh = await t.req('GET', '/health');
    await t.c.monitor.writer.flush();
    expect((await list(`?request_id=${stale.headers.get('x-kaixu-request-id')}`)).events).toHaveLength(1);
    await t.c.jobs.runDue();
    expect((await list(`?request_id=${stale.headers.get('x-kaixu-request-id')}`)).events).toHaveLength(0);
    const left = await list('?limit=1000');
    expect(left.events.map((e) => e.request_id)).toContain(fresh.headers.get('x-kaixu-request-id'));
    expect(left.events.every((e) => Date.parse(e.created_at) >= clock.now() - 30 * 86_400_000)).toBe(true);
    const jobs = (await (await t.admin('GET', '/admin/api/jobs?kind=monitor.retention')).json()) as { jobs: { status: string }[] };
    expect(jobs.jobs[0]!.status).toBe('done');
  });
});

describe.each(DIALECTS)('monitor archive on %s', (dialect) => {
  it('archives pruned rows as NDJSON under DATA_DIR/monitor-archive before deleting them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kaixu-archive-'));
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 8));
    const t = await makeTestApp(dialect, { clock, env: { MONITOR_ARCHIVE: 'true', DATA_DIR: dir, MONITOR_FLUSH_MS: '60000' } });
    try {
      const now = clock.now();
      clock.set(now - 40 * 86_400_000);
      const old: string[] = [];
      for (let i = 0; i < 3; i++) old.push((await t.req('GET', '/health')).headers.get('x-kaixu-request-id')!);
      clock.set(now);
      const keep = (await t.req('GET', '/health')).headers.get('x-kaixu-request-id')!;
      await t.c.monitor.writer.flush();
      const res = await t.admin('POST', '/admin/api/monitor/prune', { days: 30 });
      const j = (await res.json()) as { deleted: number; archived: number; archive_files: string[] };
      expect(j).toMatchObject({ deleted: 3, archived: 3 });
      expect(j.archive_files).toHaveLength(1);
      const file = j.archive_files[0]!;
      expect(file.startsWith(join(dir, 'monitor-archive', new Date(now - 40 * 86_400_000).toISOString().slice(0, 10)))).toBe(true);
      expect(file).toMatch(/batch-\d+-\d+\.ndjson$/);
      const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { request_id: string; operation: string });
      expect(rows.map((r) => r.request_id)).toEqual(old);
      expect(rows.every((r) => r.operation === 'ops.health')).toBe(true);
      const left = (await (await t.admin('GET', '/admin/api/monitor/events?operation=ops.health')).json()) as { events: { request_id: string }[] };
      expect(left.events.map((e) => e.request_id)).toEqual([keep]);
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents the observability routes in /openapi.json', async () => {
    const t = await makeTestApp(dialect);
    try {
      const doc = (await (await t.req('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, { operationId: string }>> };
      const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
      for (const op of ['admin.monitor.events', 'admin.monitor.stream', 'admin.monitor.prune', 'admin.monitor.stats', 'seed.client_error_report', 'admin.heartbeat.get', 'seed.heartbeat_read', 'ops.metrics', 'admin.jobs.list', 'admin.jobs.retry', 'admin.timeline.list']) {
        expect(ops).toContain(op);
      }
    } finally {
      await t.close();
    }
  });
});
