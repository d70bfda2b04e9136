import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admitGroup } from '../../src/governance/caps/pg-admit.ts';
import type { PostgresCapStore } from '../../src/governance/caps/postgres.ts';
import type { ReserveInput } from '../../src/governance/caps/types.ts';
import { makeGovApp, ONE_CENT_CALL, TARGET, usageRows, type GovApp } from './helpers.ts';

/**
 * PostgreSQL admissions of one key and device that arrive together share one kaixu_admit_batch
 * statement (src/governance/caps/pg-admit.ts, migration 007). These tests drive real concurrent
 * admissions through governance and check that batching happened and that every decision is the
 * one the calls would have got admitted one after another.
 */
describe('PostgreSQL admissions batched per key and device', () => {
  let t: GovApp;
  let caps: PostgresCapStore;
  beforeAll(async () => {
    t = await makeGovApp('postgres');
    caps = t.c.gov.caps as unknown as PostgresCapStore;
  });
  afterAll(async () => t?.close());

  const code = async (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: { code?: string; message?: string }) => e.code ?? e.message,
    );

  it('60 calls at once: batched, and the split between rate limit, cap and reservation is exactly the serial one', async () => {
    // RPM and RPD: two rate-limit windows per call, flattened into the batch's window arrays.
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 10, rpm_limit: 25, rpd_limit: 1000, require_install_id: true });
    const auth = await t.auth(key);
    const before = { ...caps.admitter.stats };
    const admissions = Array.from({ length: 60 }, () => t.c.governance.admit(t.ctx(auth, { installId: 'dev-batch' }), ONE_CENT_CALL));
    const outcomes = await Promise.all(admissions.map(code));
    const count = (c: string) => outcomes.filter((o) => o === c).length;
    // Serial semantics: the first 25 pass the rate limit (each counted), the first 10 of those fit
    // the 10 ¢ cap at 1 ¢ each; the order among identical calls does not change the split.
    expect({ ok: count('ok'), cap: count('CAP_REACHED'), rate: count('RATE_LIMITED') }).toEqual({ ok: 10, cap: 15, rate: 35 });

    const sent = caps.admitter.stats.statements - before.statements;
    expect(caps.admitter.stats.admissions - before.admissions).toBe(60);
    expect(sent).toBeLessThan(60);
    expect(caps.admitter.stats.maxBatch).toBeGreaterThan(1);
    expect(caps.admitter.activeGroups).toBe(0); // a group lives only while its calls are in flight

    const u = await usageRows(t, customer.id);
    expect(u.reserved).toBe(10 * 10_000);
    expect(u.reservations).toHaveLength(10);
    const windows = await t.c.storage.db.selectFrom('rate_limit_windows').select(['bucket', 'count']).where('bucket', 'like', `%${keyId}%`).execute();
    expect(windows.map((w) => Number(w.count)).sort()).toEqual([25, 25]); // the minute's and the day's
    const seats = await t.c.storage.db.selectFrom('key_devices').select('install_id').where('api_key_id', '=', keyId).execute();
    expect(seats.map((s) => s.install_id)).toEqual(['dev-batch']);
    for (const a of await Promise.allSettled(admissions)) if (a.status === 'fulfilled') await a.value.release();
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });

  it('calls admitted in one batch settle to the exact ledger: holds, spend and events reconcile', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 100, rpm_limit: 0 });
    const auth = await t.auth(key);
    const before = caps.admitter.stats.statements;
    const adms = await Promise.all(Array.from({ length: 12 }, () => t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL)));
    expect(caps.admitter.stats.statements - before).toBeLessThan(12);
    const held = await usageRows(t, customer.id);
    expect(held.reserved).toBe(12 * 10_000);
    for (const a of adms) await a.settle({ target: TARGET, usage: { input_tokens: 3_000, output_tokens: 5_000 }, usageSource: 'provider', status: 'ok', latencyMs: 1 });
    const u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: 12 * 8_000, reserved: 0, calls: 12 });
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-01')).ok).toBe(true);
  });

  it('reserve results carry each call its own snapshot: reserved grows by one hold per call, in order', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 100, rpm_limit: 0 });
    await t.auth(key);
    const rows = await expectRows(customer.id, keyId);
    const inputs = Array.from({ length: 8 }, (_, n) => reserveInput(rows, `res_snap_${n}_${Date.now()}`));
    const results = await Promise.all(inputs.map((i) => caps.reserve(i)));
    expect(results.map((r) => r.outcome)).toEqual(Array(8).fill('reserved'));
    // The first went alone; the other seven queued behind it and went as one batch, in order.
    expect(results.map((r) => r.snap!.cReserved)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => n * 10_000));
    expect(results.map((r) => r.snap!.kReserved)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => n * 10_000));
    for (const i of inputs) await caps.release(i.id);
  });

  it('a batch the database refuses is retried one call at a time: only the faulty call fails', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 100, rpm_limit: 0 });
    await t.auth(key);
    const rows = await expectRows(customer.id, keyId);
    const id = (s: string) => `res_retry_${s}_${Date.now()}`;
    const first = reserveInput(rows, id('a'));
    const b = reserveInput(rows, id('b'));
    const dup = { ...reserveInput(rows, b.id), requestId: 'req_dup' }; // same reservation id as b: a primary-key violation
    const d = reserveInput(rows, id('d'));
    const before = caps.admitter.stats.statements;
    // `first` goes out alone; b, dup and d queue behind it and go together — and that batch fails.
    const settled = await Promise.allSettled([first, b, dup, d].map((i) => caps.reserve(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((settled[2] as PromiseRejectedResult).reason.message).toMatch(/duplicate key/);
    expect(caps.admitter.stats.statements - before).toBe(1 + 1 + 3);
    const u = await usageRows(t, customer.id);
    expect(u.reserved).toBe(3 * 10_000);
    expect(u.reservations.map((r) => r.id).sort()).toEqual([first.id, b.id, d.id].sort());
    for (const i of [first, b, d]) await caps.release(i.id);
  });

  it('calls of different keys, devices or months are never grouped together', () => {
    const base: ReserveInput = reserveInput({ customerId: 'c1', keyId: 'k1', keyUpd: 1, custUpd: 1 }, 'r1');
    const g = admitGroup(base);
    expect(admitGroup({ ...base, id: 'r2', requestId: 'q2', amount: 5 })).toBe(g);
    expect(admitGroup({ ...base, keyId: 'k2' })).not.toBe(g);
    expect(admitGroup({ ...base, customerId: 'c2' })).not.toBe(g);
    expect(admitGroup({ ...base, installId: 'dev-2' })).not.toBe(g);
    expect(admitGroup({ ...base, month: '2026-02' })).not.toBe(g);
  });

  async function expectRows(customerId: string, keyId: string) {
    const db = t.c.storage.db;
    const k = await db.selectFrom('api_keys').select('updated_at').where('id', '=', keyId).executeTakeFirstOrThrow();
    const c = await db.selectFrom('customers').select('updated_at').where('id', '=', customerId).executeTakeFirstOrThrow();
    return { customerId, keyId, keyUpd: Number(k.updated_at), custUpd: Number(c.updated_at) };
  }

  function reserveInput(r: { customerId: string; keyId: string; keyUpd: number; custUpd: number }, id: string): ReserveInput {
    const now = t.clock.now();
    return {
      id,
      customerId: r.customerId,
      keyId: r.keyId,
      month: '2026-01',
      amount: 10_000,
      installId: 'dev-1',
      requestId: `req_${id}`,
      now,
      expiresAt: now + 60_000,
      expect: { keyUpdatedAt: r.keyUpd, customerUpdatedAt: r.custUpd },
    };
  }
});
