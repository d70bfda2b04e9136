import type pg from 'pg';
import { expect } from 'vitest';

/**
 * Row-lock probes for the PostgreSQL ledger functions' lock order (pg-settle-lock-order.test.ts,
 * pg-admit-lock-order.test.ts): one session holds a row, the function under test blocks on it, and
 * a third session proves with FOR UPDATE NOWAIT which rows the blocked call has, and has not,
 * locked so far.
 */

/** One row, named by its key columns. */
export interface RowRef {
  table: string;
  where: Record<string, unknown>;
}

function lockSql(r: RowRef, nowait: boolean): { text: string; values: unknown[] } {
  const cols = Object.keys(r.where);
  const cond = cols.map((c, i) => `${c} = $${i + 1}`).join(' and ');
  return { text: `select 1 from ${r.table} where ${cond} for update${nowait ? ' nowait' : ''}`, values: cols.map((c) => r.where[c]) };
}

/** Resolves once the backend `pid` is waiting for a lock. */
export async function blockedOnLock(pool: pg.Pool, pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await pool.query<{ w: string | null }>('select wait_event_type as w from pg_stat_activity where pid = $1', [pid]);
    if (r.rows[0]?.w === 'Lock') return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}

/** Whether another session can lock the row at once (FOR UPDATE NOWAIT); the lock is let go again. */
export async function lockable(c: pg.PoolClient, r: RowRef): Promise<boolean> {
  await c.query('begin');
  try {
    const q = lockSql(r, true);
    const res = await c.query(q.text, q.values);
    if (res.rowCount !== 1) throw new Error(`no row to probe in ${r.table} for ${JSON.stringify(r.where)}`);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === '55P03') return false; // lock_not_available
    throw e;
  } finally {
    await c.query('rollback');
  }
}

/**
 * Holds `hold`, runs `call` on a session of its own, waits until that session blocks on a lock, runs
 * `probe` on a third session, then lets the held row go and returns what `call` returned.
 */
export async function whileBlocked<T>(pool: pg.Pool, hold: RowRef, call: (c: pg.PoolClient) => Promise<T>, probe: (c: pg.PoolClient) => Promise<void>): Promise<T> {
  const [holder, caller, prober] = [await pool.connect(), await pool.connect(), await pool.connect()];
  let running: Promise<T> | undefined;
  try {
    await holder.query('begin');
    expect(await lockable(prober, hold)).toBe(true);
    const q = lockSql(hold, false);
    await holder.query(q.text, q.values);
    const pid = (await caller.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    running = call(caller);
    await blockedOnLock(pool, pid);
    await probe(prober);
    await holder.query('rollback');
    return await running;
  } finally {
    // On a failed expectation the holder still has its lock: drop it, and let the call finish,
    // before the clients go back to the pool.
    await holder.query('rollback').catch(() => undefined);
    await running?.catch(() => undefined);
    for (const c of [holder, caller, prober]) c.release();
  }
}
