import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { seedUsage } from './helpers.ts';

/**
 * Golden files for the CSV exports (admin and key holder): columns, RFC 4180 quoting and the
 * formula-injection guard, identical on both dialects. Ids are random per run, so they are
 * replaced by names before comparing. UPDATE_GOLDEN=1 rewrites the files.
 */
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const T = (s: string) => Date.parse(s);

function golden(name: string, actual: string) {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  expect(existsSync(file), `${name} is missing (UPDATE_GOLDEN=1 writes it)`).toBe(true);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe.each(DIALECTS)('CSV exports on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(T('2026-02-10T12:00:00Z'));
  let cus: string;
  let master: { key: string; keyId: string };
  let sub: { key: string; keyId: string };
  let old: { key: string; keyId: string };
  let names: [string, string][];

  const normalise = (s: string) => names.reduce((acc, [id, name]) => acc.split(id).join(name), s);
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await t.req('GET', path, { headers });
    return { res, text: await res.text() };
  };

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock });
    const c = await t.createCustomer({ email: 'golden@example.com', plan: '=HYPERLINK("http://x")', monthly_cap_cents: 5000 });
    cus = c.customer.id;
    master = { key: c.key, keyId: c.keyId };
    sub = await t.createKey(cus, { label: '@ops, "north" team', role: 'deployer', monthly_cap_cents: 1500 });
    old = await t.createKey(cus, { label: 'old laptop' });
    const db = t.c.storage.db;
    for (const [id, last4] of [[master.keyId, 'MSTR'], [sub.keyId, 'SUBK'], [old.keyId, 'OLDK']] as const) {
      await db.updateTable('api_keys').set({ key_last4: last4 }).where('id', '=', id).execute();
    }
    const other = await t.createCustomer({ email: 'other@example.com' });
    names = [
      [cus, 'CUS'],
      [master.keyId, 'KEY_MASTER'],
      [sub.keyId, 'KEY_SUB'],
      [old.keyId, 'KEY_OLD'],
    ];
    await seedUsage(db, [
      { customerId: cus, apiKeyId: master.keyId, createdAt: T('2026-01-05T10:00:00Z'), costMicros: 12_345, input: 1200, output: 300, installId: 'plain-device', requestId: 'req_g1', app: 'web', build: '1.2.3' },
      { customerId: cus, apiKeyId: sub.keyId, createdAt: T('2026-01-06T11:30:00.250Z'), costMicros: 5, input: 10, output: 5, provider: 'anthropic', model: 'claude-3-5-sonnet-20241022', installId: "=cmd|' /C calc'!A0", requestId: 'req_g2' },
      { customerId: cus, apiKeyId: sub.keyId, createdAt: T('2026-01-07T00:00:00Z'), costMicros: 999_999, input: 4000, output: 2000, installId: '+1', app: '-2', build: '@SUM(A1)', requestId: 'req_g3', status: 'client_aborted' },
      { customerId: cus, apiKeyId: master.keyId, createdAt: T('2026-01-08T08:08:08Z'), costMicros: 10_000, input: 1, output: 1, installId: '\tTAB', app: 'comma, and "quote"', build: 'line1\nline2', requestId: 'req_g4' },
      { customerId: cus, apiKeyId: old.keyId, createdAt: T('2026-01-09T09:00:00Z'), costMicros: 250_000, input: 500, output: 500, installId: null, requestId: 'req_g5' },
      { customerId: cus, apiKeyId: sub.keyId, createdAt: T('2026-02-01T00:00:00Z'), costMicros: 7, requestId: 'req_feb' },
      { customerId: other.customer.id, apiKeyId: other.keyId, createdAt: T('2026-01-05T10:00:00Z'), costMicros: 77, requestId: 'req_other' },
    ]);
    clock.set(T('2026-01-20T00:00:00Z'));
    expect((await t.admin('POST', `/admin/api/customers/${cus}/topups`, { amount_cents: 500, month: '2026-01', note: '=note' })).status).toBe(201);
    clock.set(T('2026-02-10T12:00:00Z'));
    expect((await t.admin('POST', `/admin/api/keys/${old.keyId}/revoke`)).status).toBe(200);
  });
  afterAll(async () => t?.close());

  it('admin events CSV: seed columns first, quoting, injection guard, only this customer and month', async () => {
    const { res, text } = await get(`/admin/api/customers/${cus}/exports/events.csv?month=2026-01`, { authorization: `Bearer ${await t.adminToken()}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="kaixu-admin-events-2026-01-customer${cus}.csv"`);
    golden('admin-events.csv', normalise(text));
    expect(text).not.toContain('req_other');
    expect(text).not.toContain('req_feb');
  });

  it('admin events CSV filtered to one key, and limit', async () => {
    const auth = { authorization: `Bearer ${await t.adminToken()}` };
    const one = await get(`/admin/api/customers/${cus}/exports/events.csv?month=2026-01&api_key_id=${sub.keyId}`, auth);
    expect(one.res.headers.get('content-disposition')).toContain(`-key${sub.keyId}.csv`);
    expect(one.text.trim().split('\r\n').slice(1).map((l) => l.split(',')[1])).toEqual([sub.keyId, sub.keyId]);
    const lim = await get(`/admin/api/customers/${cus}/exports/events.csv?month=2026-01&limit=2`, auth);
    expect(lim.text.trim().split('\r\n')).toHaveLength(3);
  });

  it('admin summary CSV', async () => {
    const { res, text } = await get(`/admin/api/customers/${cus}/exports/summary.csv?month=2026-01`, { authorization: `Bearer ${await t.adminToken()}` });
    expect(res.status).toBe(200);
    golden('admin-summary.csv', normalise(text));
  });

  it('admin invoice CSV: TOTAL row then KEY rows (revoked keys included)', async () => {
    const { res, text } = await get(`/admin/api/customers/${cus}/exports/invoice.csv?month=2026-01`, { authorization: `Bearer ${await t.adminToken()}` });
    expect(res.status).toBe(200);
    golden('admin-invoice.csv', normalise(text));
  });

  it('admin exports: 404 unknown customer, 404 key of another customer, 400 bad month/file, 401 without admin', async () => {
    const auth = { authorization: `Bearer ${await t.adminToken()}` };
    expect((await get(`/admin/api/customers/cus_nope/exports/events.csv`, auth)).res.status).toBe(404);
    const other = await t.createCustomer();
    expect((await get(`/admin/api/customers/${cus}/exports/events.csv?api_key_id=${other.keyId}`, auth)).res.status).toBe(404);
    expect((await get(`/admin/api/customers/${cus}/exports/events.csv?month=2026-13`, auth)).res.status).toBe(400);
    expect((await get(`/admin/api/customers/${cus}/exports/ledger.csv`, auth)).res.status).toBe(400);
    expect((await get(`/admin/api/customers/${cus}/exports/events.csv`)).res.status).toBe(401);
  });

  it('key-holder events CSV (the seed’s was broken): works, and shows only the calling key', async () => {
    for (const prefix of ['/.netlify/functions', '/api']) {
      const { res, text } = await get(`${prefix}/user-export?type=events&month=2026-01`, { authorization: `Bearer ${sub.key}` });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toBe('attachment; filename="kaixu-events-2026-01-keySUBK.csv"');
      golden('user-events.csv', normalise(text));
      expect(text).not.toContain('req_g1');
      expect(text).not.toContain('req_g4');
    }
    const lim = await get('/api/user-export?type=events&month=2026-01&limit=1', { authorization: `Bearer ${sub.key}` });
    expect(lim.text.trim().split('\r\n')).toHaveLength(2);
  });

  it('key-holder summary and invoice CSVs: own key line only for a sub-key', async () => {
    const s = await get('/api/user-export?type=summary&month=2026-01', { authorization: `Bearer ${sub.key}` });
    expect(s.res.status).toBe(200);
    golden('user-summary.csv', normalise(s.text));
    const inv = await get('/api/user-export?type=invoice&month=2026-01', { authorization: `Bearer ${sub.key}` });
    golden('user-invoice.csv', normalise(inv.text));
    // The master key (owner) sees every key line, like the admin.
    const own = await get('/api/user-export?type=invoice&month=2026-01', { authorization: `Bearer ${master.key}` });
    expect(normalise(own.text)).toBe(readFileSync(join(GOLDEN, 'admin-invoice.csv'), 'utf8'));
  });

  it('key-holder export errors: no key 401, revoked key 401, bad type 400', async () => {
    expect((await get('/api/user-export?type=events')).res.status).toBe(401);
    expect((await get('/api/user-export?type=events', { authorization: `Bearer ${old.key}` })).res.status).toBe(401);
    expect((await get('/api/user-export?type=ledger', { authorization: `Bearer ${sub.key}` })).res.status).toBe(400);
  });
});
