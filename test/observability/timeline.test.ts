import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

interface Item {
  id: string;
  time: string;
  source: string;
  actor: string;
  action: string;
  target: string | null;
  status: string;
  summary: string | null;
  customer_id: string | null;
}
interface Page {
  items: Item[];
  next_cursor: string | null;
}

describe.each(DIALECTS)('platform timeline on %s', (dialect) => {
  let t: TestApp;
  const t0 = Date.UTC(2026, 8, 1, 10);
  const clock = new ManualClock(t0);
  let cust: { customer: { id: string }; key: string };

  const get = async (qs: string): Promise<Page> => {
    const res = await t.admin('GET', `/admin/api/timeline${qs}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock, env: { MONITOR_FLUSH_MS: '60000' } });
    t.c.jobs.register('test.customer_job', async () => {
      throw new Error('nope');
    }, { maxAttempts: 1 });
    cust = await t.createCustomer(); // audit CUSTOMER_CREATE (+ key) at t0
    clock.set(t0 + 1_000);
    await t.req('GET', '/api/gateway-heartbeat-read?bogus=1', { headers: { authorization: `Bearer ${cust.key}` } }); // 400 after auth: warn with customer
    await t.req('GET', '/api/push-whoami'); // 401: warn without customer
    await t.req('GET', '/health'); // info: not on the timeline
    clock.set(t0 + 2_000);
    await t.c.jobs.enqueue('test.customer_job', {}, { customerId: cust.customer.id });
    await t.c.jobs.runDue(); // started + dead for the customer job (+ scheduled system jobs)
    clock.set(t0 + 3_000); // several sources in the same millisecond
    await t.c.audit.record({ actor: 'admin', action: 'TEST_A', customerId: cust.customer.id });
    await t.c.audit.record({ actor: 'admin', action: 'TEST_B' });
    await t.req('GET', '/api/push-whoami');
    await t.c.monitor.writer.flush();
    clock.set(t0 + 3_600_000);
  });
  afterAll(async () => t?.close());

  it('merges audit, monitor warnings/errors and job events newest first', async () => {
    const { items, next_cursor } = await get('?limit=500');
    expect(next_cursor).toBeNull();
    const times = items.map((i) => Date.parse(i.time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(new Set(items.map((i) => i.source))).toEqual(new Set(['audit', 'monitor', 'job']));
    expect(items.some((i) => i.source === 'monitor' && i.target === '/health')).toBe(false);
    const warn = items.find((i) => i.source === 'monitor' && i.status === '401')!;
    expect(warn).toMatchObject({ action: 'user.whoami', target: '/api/push-whoami', summary: 'MISSING_KEY: Missing Authorization: Bearer <virtual_key>' });
    const dead = items.find((i) => i.source === 'job' && i.status === 'dead')!;
    expect(dead).toMatchObject({ action: 'JOB_DEAD', customer_id: cust.customer.id });
    expect(dead.summary).toBe('test.customer_job attempt 1: nope');
    expect(items.find((i) => i.action === 'TEST_A')).toMatchObject({ source: 'audit', actor: 'admin', status: 'ok' });
    // At the shared millisecond: audit before monitor, and newer ids first within a source.
    const tie = items.filter((i) => Date.parse(i.time) === t0 + 3_000);
    expect(tie.map((i) => i.source)).toEqual(['audit', 'audit', 'monitor']);
    expect(tie.map((i) => i.action).slice(0, 2)).toEqual(['TEST_B', 'TEST_A']);
  });

  it('filters by source, customer and time window', async () => {
    const jobs = await get('?source=job&limit=500');
    expect(jobs.items.length).toBeGreaterThan(0);
    expect(jobs.items.every((i) => i.source === 'job')).toBe(true);
    const two = await get('?source=audit,monitor&limit=500');
    expect(new Set(two.items.map((i) => i.source))).toEqual(new Set(['audit', 'monitor']));

    const mine = await get(`?customer_id=${cust.customer.id}&limit=500`);
    expect(mine.items.length).toBeGreaterThanOrEqual(4);
    expect(mine.items.every((i) => i.customer_id === cust.customer.id)).toBe(true);
    expect(new Set(mine.items.map((i) => i.source))).toEqual(new Set(['audit', 'monitor', 'job']));

    const window = await get(`?since=${new Date(t0 + 1_000).toISOString()}&until=${t0 + 2_000}&limit=500`);
    expect(window.items.length).toBeGreaterThan(0);
    expect(window.items.every((i) => Date.parse(i.time) >= t0 + 1_000 && Date.parse(i.time) < t0 + 2_000)).toBe(true);
    expect(window.items.every((i) => i.source === 'monitor')).toBe(true);
  });

  it('pages with a cursor without gaps or duplicates, ties included', async () => {
    const all = (await get('?limit=500')).items.map((i) => i.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const p: Page = await get(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...p.items.map((i) => i.id));
      cursor = p.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(all);
  });

  it('validates its query and requires an admin', async () => {
    expect((await t.admin('GET', '/admin/api/timeline?source=logs')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/timeline?cursor=abc')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/timeline?limit=0')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/timeline?x=1')).status).toBe(400);
    expect((await t.req('GET', '/admin/api/timeline')).status).toBe(401);
  });
});
