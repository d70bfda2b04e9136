import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGovApp, type GovApp } from './helpers.ts';
import { lockable, whileBlocked, type RowRef } from './pg-locks.ts';

/**
 * Admissions and releases lock in migration 003's global order — rate-limit windows, then the
 * reservation, then the customer's month row, then the key's — the order kaixu_settle_batch takes
 * the month rows in (pg-settle-lock-order.test.ts). A function that took the key's row before the
 * customer's could hold one while a settle holds the other, each waiting for the other: a deadlock
 * the database breaks by failing one of them. Each test holds one row, starts the call, and probes
 * from a third session what the blocked call has, and has not, locked. Admission is checked on both
 * of its paths: kaixu_admit (a call alone) and kaixu_admit_batch's shared path (migration 009).
 */
describe('PostgreSQL admissions and releases lock windows, then the customer’s month row, then the key’s', () => {
  let t: GovApp;
  let pool: pg.Pool;
  const MONTH = '2026-01';
  const HOLD = 10_000;
  beforeAll(async () => {
    t = await makeGovApp('postgres');
    pool = t.c.storage.pool!;
  });
  afterAll(async () => t?.close());

  interface Party {
    customerId: string;
    keyId: string;
    keyUpd: number;
    custUpd: number;
    window: { bucket: string; start: number };
  }

  /** A customer with a key, its month rows and its minute window present (so each can be held and probed). */
  async function party(): Promise<Party> {
    const { customer, keyId } = await t.createCustomer({ monthly_cap_cents: 1_000_000, rpm_limit: 0 });
    const k = await pool.query<{ u: string }>('select updated_at as u from api_keys where id = $1', [keyId]);
    const c = await pool.query<{ u: string }>('select updated_at as u from customers where id = $1', [customer.id]);
    const now = t.clock.now();
    const window = { bucket: `minute:${keyId}`, start: now - (now % 60_000) };
    await pool.query('insert into monthly_usage (customer_id, month, updated_at) values ($1, $2, $3)', [customer.id, MONTH, now]);
    await pool.query('insert into monthly_key_usage (api_key_id, customer_id, month, updated_at) values ($1, $2, $3, $4)', [keyId, customer.id, MONTH, now]);
    await pool.query('insert into rate_limit_windows (bucket, window_start, count, expires_at) values ($1, $2, 0, $3)', [window.bucket, window.start, now + 120_000]);
    return { customerId: customer.id, keyId, keyUpd: Number(k.rows[0]!.u), custUpd: Number(c.rows[0]!.u), window };
  }

  const rows = (p: Party) => ({
    window: { table: 'rate_limit_windows', where: { bucket: p.window.bucket, window_start: p.window.start } } as RowRef,
    customer: { table: 'monthly_usage', where: { customer_id: p.customerId, month: MONTH } } as RowRef,
    key: { table: 'monthly_key_usage', where: { api_key_id: p.keyId, month: MONTH } } as RowRef,
  });

  let seq = 0;
  /** kaixu_admit's arguments for one call of `p`: one minute window, no device step. */
  function admitArgs(p: Party): unknown[] {
    const now = t.clock.now();
    const id = `res_lock_${++seq}_${now}`;
    const scalars = [id, p.customerId, p.keyId, MONTH, HOLD, null, `req_${id}`, now, now + 600_000, p.keyUpd, p.custUpd, false, null, 0];
    const window = [[p.window.bucket], [p.window.start], [p.window.start - 60_000], [60_000], [60_000], [1_000_000], [p.window.start + 120_000]];
    return [...scalars, ...window];
  }

  const SINGLE = `select o_outcome from kaixu_admit($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::bigint, $9::bigint,
    $10::bigint, $11::bigint, $12::boolean, $13::text, $14::integer, $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[])`;
  const BATCH = `select o_outcome from kaixu_admit_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::bigint[],
    $10::bigint[], $11::bigint[], $12::boolean[], $13::text[], $14::integer[], $15::integer, $16::text[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[])`;

  /** The admission of one call (kaixu_admit) or two (kaixu_admit_batch, shared path), run on `c`. */
  const admissions = {
    alone: (p: Party) => (c: pg.PoolClient) => c.query<{ o_outcome: string }>(SINGLE, admitArgs(p)),
    batch: (p: Party) => (c: pg.PoolClient) => {
      const calls = [admitArgs(p), admitArgs(p)];
      const scalars = Array.from({ length: 14 }, (_, k) => calls.map((a) => a[k]));
      const windows = Array.from({ length: 7 }, (_, k) => calls.flatMap((a) => a[14 + k] as unknown[]));
      return c.query<{ o_outcome: string }>(BATCH, [...scalars, 1, ...windows]);
    },
  };

  describe.each(['alone', 'batch'] as const)('admission (%s)', (path) => {
    it('waits for the customer’s month row holding its window and not yet the key’s row', async () => {
      const p = await party();
      const r = rows(p);
      const res = await whileBlocked(pool, r.customer, admissions[path](p), async (probe) => {
        expect(await lockable(probe, r.window)).toBe(false);
        expect(await lockable(probe, r.key)).toBe(true);
      });
      expect(res.rows.map((x) => x.o_outcome)).toEqual(path === 'alone' ? ['reserved'] : ['reserved', 'reserved']);
    });

    it('waits for the key’s month row holding its window and the customer’s row', async () => {
      const p = await party();
      const r = rows(p);
      const res = await whileBlocked(pool, r.key, admissions[path](p), async (probe) => {
        expect(await lockable(probe, r.window)).toBe(false);
        expect(await lockable(probe, r.customer)).toBe(false);
      });
      expect(res.rows.every((x) => x.o_outcome === 'reserved')).toBe(true);
    });
  });

  describe('release (kaixu_release)', () => {
    /** A reservation of `p`, committed: the row a release deletes first. */
    async function held(p: Party): Promise<{ id: string; row: RowRef }> {
      const args = admitArgs(p);
      const res = await pool.query<{ o_outcome: string }>(SINGLE, args);
      expect(res.rows[0]!.o_outcome).toBe('reserved');
      return { id: args[0] as string, row: { table: 'reservations', where: { id: args[0] } } };
    }
    const release = (id: string) => (c: pg.PoolClient) => c.query<{ n: string }>('select kaixu_release($1) as n', [id]);

    it('waits for the customer’s month row holding the reservation and not yet the key’s row', async () => {
      const p = await party();
      const r = rows(p);
      const h = await held(p);
      const res = await whileBlocked(pool, r.customer, release(h.id), async (probe) => {
        expect(await lockable(probe, h.row)).toBe(false);
        expect(await lockable(probe, r.key)).toBe(true);
      });
      expect(Number(res.rows[0]!.n)).toBe(HOLD);
    });

    it('waits for the key’s month row holding the customer’s', async () => {
      const p = await party();
      const r = rows(p);
      const h = await held(p);
      const res = await whileBlocked(pool, r.key, release(h.id), async (probe) => {
        expect(await lockable(probe, h.row)).toBe(false);
        expect(await lockable(probe, r.customer)).toBe(false);
      });
      expect(Number(res.rows[0]!.n)).toBe(HOLD);
      const left = await pool.query<{ c: number | string; k: number | string }>(
        'select (select reserved_micros from monthly_usage where customer_id = $1 and month = $3) as c, (select reserved_micros from monthly_key_usage where api_key_id = $2 and month = $3) as k',
        [p.customerId, p.keyId, MONTH],
      );
      expect([Number(left.rows[0]!.c), Number(left.rows[0]!.k)]).toEqual([0, 0]);
    });
  });
});
