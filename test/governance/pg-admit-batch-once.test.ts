import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m009 from '../../src/storage/migrations/009_pg_admit_batch_once.ts';
import { makeGovApp, type GovApp } from './helpers.ts';

/**
 * kaixu_admit_batch (migration 009) decides a batch of admissions in memory and writes each hot row
 * once. These tests hold it to the serial semantics: the same batch, run once through
 * kaixu_admit_batch and once as kaixu_admit calls one after another, each inside a transaction that
 * is rolled back, must return the same row for every call and leave the same rows behind. Which way
 * the batch went shows in the transaction's own write counters (pg_stat_xact_user_tables).
 */

interface Win {
  bucket: string;
  start: number;
  prevStart: number;
  wnum: number;
  wden: number;
  limit: number;
  expires: number;
}
interface Call {
  id: string;
  amount: number;
  now: number;
  keyUpd: number;
  custUpd: number;
  devSeen?: boolean;
  windows: Win[];
}
interface Party {
  customerId: string;
  keyId: string;
  installId: string | null;
  month: string;
}

const ADMIT_SQL = `select * from kaixu_admit(${Array.from({ length: 21 }, (_, i) => `$${i + 1}`).join(', ')})`;
const BATCH_SQL = `select * from kaixu_admit_batch(${Array.from({ length: 22 }, (_, i) => `$${i + 1}`).join(', ')})`;
const MINUTE = 60_000;
const HOT = ['rate_limit_windows', 'monthly_usage', 'monthly_key_usage', 'reservations'];

function scalars(p: Party, c: Call): unknown[] {
  return [c.id, p.customerId, p.keyId, p.month, c.amount, p.installId, `req_${c.id}`, c.now, c.now + MINUTE, c.keyUpd, c.custUpd, c.devSeen ?? false, null, 0];
}
const windowArrays = (ws: Win[]): unknown[][] => [ws.map((w) => w.bucket), ws.map((w) => w.start), ws.map((w) => w.prevStart), ws.map((w) => w.wnum), ws.map((w) => w.wden), ws.map((w) => w.limit), ws.map((w) => w.expires)];

describe('PostgreSQL batched admissions write each hot row once, with the serial outcome', () => {
  let t: GovApp;
  let pool: pg.Pool;
  beforeAll(async () => {
    t = await makeGovApp('postgres');
    pool = t.c.storage.pool!;
  });
  afterAll(async () => t?.close());

  /** A customer with its master key; `now` is the clock the calls are stamped with. */
  async function party(body: Record<string, unknown>, sqlAfter: (p: Party) => string[] = () => [], installId: string | null = 'dev-1') {
    const { customer, keyId } = await t.createCustomer({ rpm_limit: 0, ...body });
    const p: Party = { customerId: customer.id, keyId, installId, month: '2026-01' };
    for (const q of sqlAfter(p)) await pool.query(q);
    const k = await pool.query<{ u: string }>('select updated_at as u from api_keys where id = $1', [keyId]);
    const c = await pool.query<{ u: string }>('select updated_at as u from customers where id = $1', [customer.id]);
    return { p, keyUpd: Number(k.rows[0]!.u), custUpd: Number(c.rows[0]!.u) };
  }

  function calls(n: number, keyUpd: number, custUpd: number, windows: (i: number) => Win[], over: (i: number) => Partial<Call> = () => ({})): Call[] {
    const now = t.clock.now();
    return Array.from({ length: n }, (_, i) => ({ id: `res_${Math.random().toString(36).slice(2)}_${i}`, amount: 10_000, now: now + i, keyUpd, custUpd, windows: windows(i), ...over(i) }));
  }

  /** The key's rows a call can write, to compare after each way. */
  async function rowsOf(c: pg.PoolClient, p: Party, buckets: string[]) {
    const q = async (text: string, values: unknown[]) => (await c.query(text, values)).rows;
    return {
      windows: await q('select bucket, window_start, count, expires_at from rate_limit_windows where bucket = any($1) order by 1, 2', [buckets]),
      month: await q('select * from monthly_usage where customer_id = $1', [p.customerId]),
      keyMonth: await q('select * from monthly_key_usage where api_key_id = $1', [p.keyId]),
      reservations: await q('select * from reservations where customer_id = $1 order by id', [p.customerId]),
      devices: await q('select * from key_devices where api_key_id = $1 order by install_id', [p.keyId]),
    };
  }

  async function writes(c: pg.PoolClient): Promise<Record<string, number>> {
    const r = await c.query<{ relname: string; n: string }>('select relname, n_tup_upd + n_tup_ins as n from pg_stat_xact_user_tables where schemaname = current_schema() and relname = any($1)', [HOT]);
    return Object.fromEntries(HOT.map((name) => [name, Number(r.rows.find((x) => x.relname === name)?.n ?? 0)]));
  }

  const minus = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(HOT.map((k) => [k, a[k]! - b[k]!]));

  /** The batch both ways, each in a transaction rolled back afterwards. */
  async function bothWays(p: Party, cs: Call[]) {
    const width = cs[0]!.windows.length;
    const buckets = [...new Set(cs.flatMap((x) => x.windows.map((w) => w.bucket)))];
    const cols = cs.map((x) => scalars(p, x));
    const wins = cs.map((x) => windowArrays(x.windows));
    const batchArgs = [...cols[0]!.map((_, k) => cols.map((a) => a[k])), width, ...wins[0]!.map((_, k) => wins.flatMap((a) => a[k]!))];
    const c = await pool.connect();
    try {
      await c.query('begin');
      // The counters hold this backend's writes not yet reported, earlier transactions' too: take differences.
      const batchBase = await writes(c);
      const batch = (await c.query(BATCH_SQL, batchArgs)).rows.sort((a, b) => a.o_i - b.o_i).map(({ o_i: _, ...rest }) => rest);
      const batchRows = await rowsOf(c, p, buckets);
      const batchWrites = minus(await writes(c), batchBase);
      await c.query('rollback');
      await c.query('begin');
      const serialBase = await writes(c);
      const serial = [];
      for (const x of cs) serial.push((await c.query(ADMIT_SQL, [...scalars(p, x), ...windowArrays(x.windows)])).rows[0]);
      const serialRows = await rowsOf(c, p, buckets);
      const serialWrites = minus(await writes(c), serialBase);
      await c.query('rollback');
      expect(batch).toEqual(serial);
      expect(batchRows).toEqual(serialRows);
      return { outcomes: batch.map((r) => r.o_outcome as string), batch, batchWrites, serialWrites, rows: batchRows };
    } finally {
      c.release();
    }
  }

  const count = (xs: string[]) => xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});
  /** RPM-like and RPD-like windows of the key, both starting at the test clock's minute/day. */
  const rpmRpd = (p: Party, rpm: number, rpd: number) => (): Win[] => {
    const now = t.clock.now();
    const m = now - (now % MINUTE);
    const d = now - (now % 86_400_000);
    return [
      { bucket: `rpm:${p.keyId}`, start: m, prevStart: m - MINUTE, wnum: MINUTE - (now - m), wden: MINUTE, limit: rpm, expires: m + 2 * MINUTE },
      { bucket: `rpd:${p.keyId}`, start: d, prevStart: d - 86_400_000, wnum: 86_400_000 - (now - d), wden: 86_400_000, limit: rpd, expires: d + 2 * 86_400_000 },
    ];
  };

  it('rate limit and cap refusals in the middle of a batch, on rows that do not exist yet: each row written once', async () => {
    const { p, keyUpd, custUpd } = await party({ monthly_cap_cents: 5 });
    const r = await bothWays(p, calls(12, keyUpd, custUpd, rpmRpd(p, 8, 1000)));
    expect(count(r.outcomes)).toEqual({ reserved: 5, customer_cap: 3, rate_limited: 4 });
    expect(r.outcomes.slice(0, 5)).toEqual(Array(5).fill('reserved'));
    // Holds grow by one call each while they fit; a rate-limited call never reads the month rows.
    expect(r.batch.map((x) => (x.o_c_reserved === null ? null : Number(x.o_c_reserved) / 10_000))).toEqual([1, 2, 3, 4, 5, 5, 5, 5, null, null, null, null]);
    expect(r.batch.map((x) => x.o_rl_cur.map(Number)[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8]);
    expect(r.rows.windows.map((w) => Number(w.count))).toEqual([8, 8]);
    // Each window and month row: created, then written once — not once per call.
    expect(r.batchWrites).toEqual({ rate_limit_windows: 2 + 2, monthly_usage: 1 + 1, monthly_key_usage: 1 + 1, reservations: 5 });
    expect(r.serialWrites).toEqual({ rate_limit_windows: 2 + 2 * 8, monthly_usage: 1 + 5, monthly_key_usage: 1 + 5, reservations: 5 });
  });

  it('a key cap under the customer cap, month rows already there, and the previous window weighing in', async () => {
    const { p, keyUpd, custUpd } = await party({ monthly_cap_cents: 100 }, (q) => {
      const now = t.clock.now();
      const m = now - (now % MINUTE);
      return [
        `update api_keys set monthly_cap_cents = 6 where id = '${q.keyId}'`,
        `insert into monthly_usage (customer_id, month, spent_micros, reserved_micros, extra_cents, updated_at) values ('${q.customerId}', '2026-01', 20000, 10000, 3, 1)`,
        `insert into monthly_key_usage (api_key_id, customer_id, month, spent_micros, reserved_micros, updated_at) values ('${q.keyId}', '${q.customerId}', '2026-01', 20000, 10000, 1)`,
        // The previous minute served 20 calls; at half of this minute they weigh 10.
        `insert into rate_limit_windows (bucket, window_start, count, expires_at) values ('rpm:${q.keyId}', ${m - MINUTE}, 20, ${m + MINUTE})`,
      ];
    });
    const base = rpmRpd(p, 14, 1000)();
    // wnum differs call by call (time passes through the batch); the decision uses each call's own.
    const r = await bothWays(p, calls(8, keyUpd, custUpd, (i) => base.map((w, j) => (j === 0 ? { ...w, wnum: MINUTE / 2 - i * 1000 } : w))));
    // Time passing through the batch lowers the previous window's weight: call 7 is refused, call 8 is not.
    expect(r.outcomes).toEqual(['reserved', 'reserved', 'reserved', 'key_cap', 'key_cap', 'key_cap', 'rate_limited', 'key_cap']);
    expect(r.batch.map((x) => Number(x.o_rl_prev[0]))).toEqual(Array(8).fill(20));
    expect(r.batch[0]).toMatchObject({ o_extra_cents: 3, o_c_spent: 20_000, o_c_reserved: 20_000, o_k_reserved: 20_000, o_key_cap_cents: 6 });
    expect(r.batchWrites).toEqual({ rate_limit_windows: 2 + 2, monthly_usage: 1, monthly_key_usage: 1, reservations: 3 });
    expect(r.serialWrites).toEqual({ rate_limit_windows: 2 + 2 * 7, monthly_usage: 3, monthly_key_usage: 3, reservations: 3 });
  });

  it('soft caps, stale policies, a revoked device and a revoked key: the same answers as one by one', async () => {
    const soft = await party({ monthly_cap_cents: 2, cap_mode: 'soft' }, (q) => [
      `insert into monthly_usage (customer_id, month, spent_micros, updated_at) values ('${q.customerId}', '2026-01', 20000, 1)`,
    ]);
    let r = await bothWays(soft.p, calls(4, soft.keyUpd, soft.custUpd, rpmRpd(soft.p, 100, 1000)));
    expect(r.outcomes).toEqual(Array(4).fill('customer_cap'));
    expect(r.batchWrites.reservations).toBe(0);

    const stale = await party({ monthly_cap_cents: 100 });
    r = await bothWays(stale.p, calls(6, stale.keyUpd, stale.custUpd, rpmRpd(stale.p, 100, 1000), (i) => (i % 2 ? { keyUpd: stale.keyUpd - 1 } : {})));
    expect(r.outcomes).toEqual(['reserved', 'stale', 'reserved', 'stale', 'reserved', 'stale']);

    const dev = await party({ monthly_cap_cents: 100 }, (q) => [
      `insert into key_devices (api_key_id, customer_id, install_id, first_seen_at, last_seen_at, revoked_at) values ('${q.keyId}', '${q.customerId}', 'dev-1', 1, 1, 2)`,
    ]);
    r = await bothWays(dev.p, calls(3, dev.keyUpd, dev.custUpd, rpmRpd(dev.p, 100, 1000)));
    expect(r.outcomes).toEqual(Array(3).fill('device_revoked'));
    expect(r.batchWrites).toEqual({ rate_limit_windows: 0, monthly_usage: 0, monthly_key_usage: 0, reservations: 0 });

    const revoked = await party({ monthly_cap_cents: 100 }, (q) => [`update api_keys set revoked_at = 5 where id = '${q.keyId}'`]);
    r = await bothWays(revoked.p, calls(3, revoked.keyUpd, revoked.custUpd, rpmRpd(revoked.p, 100, 1000)));
    expect(r.outcomes).toEqual(Array(3).fill('key_revoked'));

    const bare = await party({ monthly_cap_cents: 3 }, () => [], null); // no install id, no rate limit
    r = await bothWays(bare.p, calls(5, bare.keyUpd, bare.custUpd, () => []));
    expect(r.outcomes).toEqual(['reserved', 'reserved', 'reserved', 'customer_cap', 'customer_cap']);
    expect(r.batch[0]!.o_rl_allowed).toBeNull();
    expect(r.batchWrites).toEqual({ rate_limit_windows: 0, monthly_usage: 2, monthly_key_usage: 2, reservations: 3 });
  });

  it('a batch whose calls do not share every row goes call by call: a minute turning over, a device step', async () => {
    const { p, keyUpd, custUpd } = await party({ monthly_cap_cents: 100 });
    const before = rpmRpd(p, 100, 1000)();
    const after = before.map((w, j) => (j === 0 ? { ...w, start: w.start + MINUTE, prevStart: w.start } : w));
    let r = await bothWays(p, calls(8, keyUpd, custUpd, (i) => (i < 4 ? before : after)));
    expect(r.outcomes).toEqual(Array(8).fill('reserved'));
    expect(r.batchWrites).toEqual(r.serialWrites); // the old way: a write per call
    expect(r.batchWrites.monthly_usage).toBe(1 + 8);

    r = await bothWays(p, calls(4, keyUpd, custUpd, rpmRpd(p, 100, 1000), (i) => ({ devSeen: i === 2 })));
    expect(r.outcomes).toEqual(Array(4).fill('reserved'));
    expect(r.batchWrites).toEqual(r.serialWrites);
    expect(r.rows.devices.map((d) => d.install_id)).toEqual(['dev-1']); // registered by the device step
  });

  it('migration 009 down puts 007’s batch back (call by call), and up again brings this one', async () => {
    const fns = async () =>
      Object.fromEntries(
        (await pool.query<{ proname: string; prosrc: string }>("select proname, prosrc from pg_proc where pronamespace = current_schema()::regnamespace and proname like 'kaixu_admit%'")).rows.map((r) => [r.proname, r.prosrc]),
      );
    const { p, keyUpd, custUpd } = await party({ monthly_cap_cents: 100 });
    await m009.down(t.c.storage.db);
    let f = await fns();
    expect(Object.keys(f).sort()).toEqual(['kaixu_admit', 'kaixu_admit_batch']);
    let r = await bothWays(p, calls(4, keyUpd, custUpd, rpmRpd(p, 100, 1000)));
    expect(r.outcomes).toEqual(Array(4).fill('reserved'));
    expect(r.batchWrites).toEqual(r.serialWrites);
    await m009.up(t.c.storage.db);
    f = await fns();
    expect(Object.keys(f).sort()).toEqual(['kaixu_admit', 'kaixu_admit_batch', 'kaixu_admit_each']);
    r = await bothWays(p, calls(4, keyUpd, custUpd, rpmRpd(p, 100, 1000)));
    expect(r.batchWrites.monthly_usage).toBe(1 + 1);
  });
});
