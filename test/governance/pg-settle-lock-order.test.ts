import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGovApp, type GovApp } from './helpers.ts';
import { lockable, whileBlocked, type RowRef } from './pg-locks.ts';

/**
 * kaixu_settle_batch (migration 003) locks a batch's month rows in one global order — every
 * customer's row sorted by id, then every key's row sorted by id — whatever order the calls came
 * in. That order is what keeps two nodes' settle batches, whose calls arrive in any order, from
 * deadlocking on each other (a deadlock is refused by the database and the batch retried call by
 * call; pg-admit-two-nodes.test.ts races them). Here the order itself is checked, without a race:
 * one session holds the row that sorts first, a settle whose calls list that row last blocks on
 * it, and a third session proves with NOWAIT which rows the blocked settle has, and has not, locked.
 */
describe('PostgreSQL settle batches lock month rows in sorted order', () => {
  let t: GovApp;
  let pool: pg.Pool;
  const MONTH = '2026-01';
  beforeAll(async () => {
    t = await makeGovApp('postgres');
    pool = t.c.storage.pool!;
  });
  afterAll(async () => t?.close());

  const SETTLE = 'select o_kind, o_id from kaixu_settle_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::boolean[], false)';
  type Call = { customerId: string; keyId: string };
  type MonthTable = 'monthly_usage' | 'monthly_key_usage';
  const ID_COLUMN: Record<MonthTable, string> = { monthly_usage: 'customer_id', monthly_key_usage: 'api_key_id' };
  const settleArgs = (calls: Call[]) => [calls.map(() => null), calls.map((c) => c.customerId), calls.map((c) => c.keyId), calls.map(() => MONTH), calls.map(() => 100), calls.map(() => 1), calls.map(() => 1), calls.map(() => t.clock.now()), calls.map(() => false)];

  /** Two customers with a key each, their month rows present, ordered as the database sorts their ids. */
  async function twoParties(): Promise<{ first: Call; last: Call }> {
    const parties: Call[] = [];
    for (let i = 0; i < 2; i++) {
      const { customer, keyId } = await t.createCustomer({ rpm_limit: 0 });
      parties.push({ customerId: customer.id, keyId });
    }
    await pool.query(SETTLE, settleArgs(parties)); // creates the month rows
    // The customers in the database's order; the keys of the test below are ordered the other way
    // round whenever the database sorts them so, to show the two sorts are independent.
    const sorted = await pool.query<{ id: string }>('select id from unnest($1::text[]) as x(id) order by id', [parties.map((p) => p.customerId)]);
    const first = parties.find((p) => p.customerId === sorted.rows[0]!.id)!;
    return { first, last: parties.find((p) => p !== first)! };
  }

  const row = (table: MonthTable, id: string): RowRef => ({ table, where: { [ID_COLUMN[table]]: id, month: MONTH } });
  const free = (c: pg.PoolClient, table: MonthTable, id: string) => lockable(c, row(table, id));

  /** Holds `table`'s row of `id`, runs the settle of `calls`, and probes while the settle waits for it. */
  async function settleWhileBlocked(hold: { table: MonthTable; id: string }, calls: Call[], probe: (c: pg.PoolClient) => Promise<void>) {
    const rows = (await whileBlocked(pool, row(hold.table, hold.id), (c) => c.query<{ o_kind: string }>(SETTLE, settleArgs(calls)), probe)).rows;
    expect(rows.filter((r) => r.o_kind === 'c')).toHaveLength(2);
    expect(rows.filter((r) => r.o_kind === 'k')).toHaveLength(2);
  }

  it('customers first, in id order: a settle listing the first-sorted customer last waits for it holding nothing', async () => {
    const { first, last } = await twoParties();
    await settleWhileBlocked({ table: 'monthly_usage', id: first.customerId }, [last, first], async (p) => {
      // In input order it would already hold `last`'s customer row.
      expect(await free(p, 'monthly_usage', last.customerId)).toBe(true);
      expect(await free(p, 'monthly_key_usage', first.keyId)).toBe(true);
      expect(await free(p, 'monthly_key_usage', last.keyId)).toBe(true);
    });
  });

  it('then keys, in id order: with both customers locked, it waits for the first-sorted key holding the other one free', async () => {
    const { first, last } = await twoParties();
    const sorted = await pool.query<{ id: string }>('select id from unnest($1::text[]) as x(id) order by id', [[first.keyId, last.keyId]]);
    const [kFirst, kLast] = sorted.rows.map((r) => r.id) as [string, string];
    const byKey = (k: string) => (first.keyId === k ? first : last);
    await settleWhileBlocked({ table: 'monthly_key_usage', id: kFirst }, [byKey(kLast), byKey(kFirst)], async (p) => {
      expect(await free(p, 'monthly_usage', first.customerId)).toBe(false);
      expect(await free(p, 'monthly_usage', last.customerId)).toBe(false);
      expect(await free(p, 'monthly_key_usage', kLast)).toBe(true);
    });
  });
});
