import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { DIALECTS } from '../helpers/db.ts';
import { ADMIN_PASSWORD, makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.each(DIALECTS)('audit on %s', (dialect) => {
  let t: TestApp;
  let clock: ManualClock;
  const audit = async (qs = '') => {
    const res = await t.admin('GET', `/admin/api/audit${qs}`);
    expect(res.status).toBe(200);
    return (await res.json()) as { events: Json[]; next_before_id: number | null };
  };
  const ip = { 'x-forwarded-for': '192.0.2.7' };
  let customerId = '';
  let subKeyId = '';
  let tStart = 0;
  let tMiddle = 0;

  beforeAll(async () => {
    clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
    t = await makeTestApp(dialect, { clock });
    tStart = clock.now();
    // One of each admin mutation, a minute apart, from a known client ip.
    const step = () => clock.advance(60_000);
    await t.req('POST', '/admin/api/login', { body: { password: 'wrong-password!' }, headers: ip });
    step();
    await t.req('POST', '/admin/api/login', { body: { password: ADMIN_PASSWORD }, headers: ip });
    step();
    const created = (await (await t.admin('POST', '/admin/api/customers', { email: 'audited@example.com', plan: 'pro' }, ip)).json()) as Json;
    customerId = created.customer.id;
    step();
    await t.admin('PATCH', `/admin/api/customers/${customerId}`, { monthly_cap_cents: 5000 }, ip);
    tMiddle = clock.now();
    step();
    const sub = (await (await t.admin('POST', `/admin/api/customers/${customerId}/keys`, { label: 'audited-sub' }, ip)).json()) as Json;
    subKeyId = sub.api_key.id;
    step();
    await t.admin('PATCH', `/admin/api/keys/${subKeyId}`, { rpm_limit: 9 }, ip);
    step();
    const rotated = (await (await t.admin('POST', `/admin/api/keys/${subKeyId}/rotate`, undefined, ip)).json()) as Json;
    step();
    await t.admin('POST', `/admin/api/keys/${rotated.api_key.id}/revoke`, undefined, ip);
    step();
    await t.admin('POST', `/admin/api/customers/${customerId}/deactivate`, undefined, ip);
  });
  afterAll(async () => t?.close());

  it('records every admin mutation with actor, action, target, summary, ip and time', async () => {
    const { events } = await audit('?limit=500');
    const actions = events.map((e) => e.action).reverse();
    expect(actions).toEqual(
      expect.arrayContaining(['ADMIN_LOGIN_FAIL', 'ADMIN_LOGIN_OK', 'CUSTOMER_CREATE', 'KEY_CREATE', 'CUSTOMER_UPDATE', 'KEY_UPDATE', 'KEY_ROTATE', 'KEY_REVOKE', 'CUSTOMER_DEACTIVATE']),
    );
    const mine = events.filter((e) => e.ip === '192.0.2.7');
    expect(mine.map((e) => e.action).reverse()).toEqual([
      'ADMIN_LOGIN_FAIL',
      'ADMIN_LOGIN_OK',
      'CUSTOMER_CREATE',
      'KEY_CREATE',
      'CUSTOMER_UPDATE',
      'KEY_CREATE',
      'KEY_UPDATE',
      'KEY_ROTATE',
      'KEY_REVOKE',
      'CUSTOMER_DEACTIVATE',
    ]);
    for (const e of mine) {
      expect(e.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(Date.parse(e.created_at)).toBeGreaterThanOrEqual(tStart);
    }
    const byAction = (a: string) => mine.find((e) => e.action === a)!;
    expect(byAction('ADMIN_LOGIN_FAIL')).toMatchObject({ actor: 'anonymous', customer_id: null });
    expect(byAction('CUSTOMER_CREATE')).toMatchObject({ actor: 'admin', target: `customer:${customerId}`, customer_id: customerId });
    expect(byAction('CUSTOMER_CREATE').summary).toContain('plan=pro');
    expect(byAction('CUSTOMER_UPDATE').meta).toEqual({ changes: { monthly_cap_cents: 5000 } });
    expect(byAction('KEY_UPDATE')).toMatchObject({ target: `key:${subKeyId}`, customer_id: customerId });
    expect(byAction('KEY_ROTATE')).toMatchObject({ target: `key:${subKeyId}`, customer_id: customerId });
    expect(JSON.stringify(events)).not.toMatch(/kx_live_|wrong-password!|test-admin-password/);
  });

  it('filters by action, actor, target, customer and time', async () => {
    expect((await audit('?action=KEY_ROTATE')).events.map((e) => e.target)).toEqual([`key:${subKeyId}`]);
    const anon = await audit('?actor=anonymous');
    expect(anon.events.length).toBeGreaterThan(0);
    expect(anon.events.every((e) => e.actor === 'anonymous')).toBe(true);
    const target = await audit(`?target=${encodeURIComponent(`customer:${customerId}`)}`);
    expect(target.events.map((e) => e.action).sort()).toEqual(['CUSTOMER_CREATE', 'CUSTOMER_DEACTIVATE', 'CUSTOMER_UPDATE']);
    const cust = await audit(`?customer_id=${customerId}`);
    expect(cust.events).toHaveLength(8);
    expect(cust.events.every((e) => e.customer_id === customerId)).toBe(true);
    const since = new Date(tMiddle).toISOString();
    const after = await audit(`?customer_id=${customerId}&since=${since}`);
    expect(after.events.map((e) => e.action).reverse()).toEqual(['CUSTOMER_UPDATE', 'KEY_CREATE', 'KEY_UPDATE', 'KEY_ROTATE', 'KEY_REVOKE', 'CUSTOMER_DEACTIVATE']);
    const before = await audit(`?customer_id=${customerId}&until=${since}`);
    expect(before.events.map((e) => e.action).reverse()).toEqual(['CUSTOMER_CREATE', 'KEY_CREATE']);
    expect((await audit('?action=NOTHING_LIKE_THIS')).events).toEqual([]);
  });

  it('pages newest first with before_id', async () => {
    const all = await audit(`?customer_id=${customerId}`);
    const seen: number[] = [];
    let cursor: number | null = null;
    for (let i = 0; i < 10; i++) {
      const page = await audit(`?customer_id=${customerId}&limit=3${cursor ? `&before_id=${cursor}` : ''}`);
      seen.push(...page.events.map((e) => e.id as number));
      cursor = page.next_before_id;
      if (!cursor) break;
    }
    expect(seen).toEqual(all.events.map((e) => e.id));
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
  });

  it('rejects bad filters and requires the admin token', async () => {
    for (const qs of ['?since=yesterday', '?until=2026-13-01', '?before_id=0', '?limit=0', '?limit=501', '?before_id=abc']) {
      const res = await t.admin('GET', `/admin/api/audit${qs}`);
      expect(res.status, qs).toBe(400);
      expect(((await res.json()) as Json).error.code).toBe('VALIDATION_ERROR');
    }
    expect((await t.req('GET', '/admin/api/audit')).status).toBe(401);
  });
});
