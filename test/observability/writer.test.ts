import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/lib/logger.ts';
import { eventFromRequest } from '../../src/monitor/events.ts';
import type { NewMonitorEvent, ObservedRequest } from '../../src/monitor/types.ts';
import { COLUMNS, monitorRow, MonitorWriter } from '../../src/monitor/writer.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';
import { until } from './util.ts';

const log = createLogger({ level: 'silent' });
const req = (i: number): ObservedRequest => ({
  requestId: `req_writer_${i}`,
  method: 'GET',
  path: '/health',
  status: 200,
  durationMs: 1,
  overheadMs: 1,
  surface: 'admin',
  ip: '127.0.0.1',
  thrown: false,
  info: { upstreamMs: 0, operation: 'ops.health' },
});
const count = async (db: TestDb) => Number((await sql<{ n: number }>`select count(*) as n from monitor_events`.execute(db.storage.db)).rows[0]!.n);

describe('monitorRow: a monitor event as the writer binds it', () => {
  it('lists the columns in COLUMNS order, a missing one as NULL, then the node id', () => {
    const distinct = Object.fromEntries(COLUMNS.map((c, i) => [c, `v${i}`])) as unknown as NewMonitorEvent;
    expect(monitorRow(distinct, 'node-1')).toEqual([...COLUMNS.map((_, i) => `v${i}`), 'node-1']);
    const bare: NewMonitorEvent = { created_at: 5, level: 'info', kind: 'request' };
    const row = monitorRow(bare, 'n');
    expect(row).toHaveLength(COLUMNS.length + 1);
    COLUMNS.forEach((c, i) => expect(row[i]).toBe((bare as Record<string, unknown>)[c] ?? null));
    expect(row.filter((v) => v === null)).toHaveLength(COLUMNS.length - 3);
  });
});

describe.each(DIALECTS)('monitor writer on %s', (dialect) => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  it('keeps events through write failures, then drops (and counts) a batch that keeps failing', async () => {
    db = await makeTestDb(dialect);
    const w = new MonitorWriter(db.storage, log, { queueMax: 100, flushMs: 60_000, nodeId: 'n1', batchSize: 10 });
    await sql`alter table monitor_events rename to monitor_events_away`.execute(db.storage.db);
    for (let i = 0; i < 15; i++) w.record(eventFromRequest(req(i), 1));
    await w.flush();
    expect(w.stats()).toMatchObject({ queue_depth: 15, write_errors: 1, dropped: 0, written: 0 });
    await sql`alter table monitor_events_away rename to monitor_events`.execute(db.storage.db);
    await w.flush();
    expect(w.stats()).toMatchObject({ queue_depth: 0, written: 15, dropped: 0 });
    expect(await count(db)).toBe(15);

    await sql`alter table monitor_events rename to monitor_events_away`.execute(db.storage.db);
    for (let i = 0; i < 5; i++) w.record(eventFromRequest(req(100 + i), 1));
    for (let i = 0; i < 3; i++) await w.flush();
    expect(w.stats()).toMatchObject({ queue_depth: 0, written: 15, dropped: 5, write_errors: 4 });
    await sql`alter table monitor_events_away rename to monitor_events`.execute(db.storage.db);
  });

  it('flushes on a timer armed by the first event after a flush; an idle writer never wakes to flush', async () => {
    db = await makeTestDb(dialect);
    const w = new MonitorWriter(db.storage, log, { queueMax: 100, flushMs: 30, nodeId: 'n1' });
    const flushes = vi.spyOn(w, 'flush');
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    w.start();
    await pause(150);
    expect(flushes).not.toHaveBeenCalled();
    w.record(eventFromRequest(req(1), 1));
    w.record(eventFromRequest(req(2), 1));
    await until(() => w.stats().written >= 2);
    expect(await count(db)).toBe(2);
    const after = flushes.mock.calls.length;
    expect(after).toBe(1);
    await pause(150);
    expect(flushes).toHaveBeenCalledTimes(after);
    // A batch put back after a failed write is retried on the timer, with no new event to arm it.
    await sql`alter table monitor_events rename to monitor_events_away`.execute(db.storage.db);
    w.record(eventFromRequest(req(3), 1));
    await until(() => w.stats().write_errors >= 1, 5_000, 5);
    await sql`alter table monitor_events_away rename to monitor_events`.execute(db.storage.db);
    await until(() => w.stats().written >= 3);
    expect(w.stats()).toMatchObject({ written: 3, queue_depth: 0, dropped: 0 });
    await w.stop();
  });

  it('stores every value as given, in batches of any size (text array literals must escape, NULL, the string "NULL", numbers)', async () => {
    db = await makeTestDb(dialect);
    const w = new MonitorWriter(db.storage, log, { queueMax: 1000, flushMs: 60_000, nodeId: 'node "β", {1}', batchSize: 7 });
    const odd = ['a,b', '{x}', '"q"', 'back\\slash', 'NULL', '', ' lead and trail ', 'line\nbreak\ttab', 'emoji 🚀 and \u2028', "it's", '\\"},{'];
    const sent: NewMonitorEvent[] = [];
    const take = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const k = sent.length;
        const e: NewMonitorEvent = {
          ...eventFromRequest(req(k), 1_700_000_000_000 + k),
          path: odd[k % odd.length]!,
          error_message: k % 3 ? odd[(k + 1) % odd.length]! : null,
          user_agent: k % 2 ? null : odd[(k + 5) % odd.length]!,
          extra: odd[(k + 7) % odd.length]!,
          status: k % 5 ? 200 + k : null,
          duration_ms: k * 1000,
          upstream_status: k % 4 ? null : 2_000_000_000,
        };
        sent.push(e);
        w.record(e);
      }
      await w.flush();
    };
    // Batches of 1, 3 and 7 rows, then several of 7 and a remainder: one statement text for all.
    await take(1);
    await take(3);
    await take(7);
    await take(30);
    expect(w.stats()).toMatchObject({ written: sent.length, write_errors: 0, dropped: 0 });
    const rows = await db.storage.db.selectFrom('monitor_events').selectAll().orderBy('id').execute();
    expect(rows.map(({ id: _id, node_id, created_at, ...rest }) => ({ ...rest, node_id, created_at: Number(created_at) }))).toEqual(
      sent.map((e) => ({ ...e, node_id: 'node "β", {1}' })),
    );
  });

  it.runIf(dialect === 'sqlite')('never writes into another caller’s open SQLite transaction', async () => {
    db = await makeTestDb(dialect);
    const w = new MonitorWriter(db.storage, log, { queueMax: 100, flushMs: 60_000, nodeId: 'n1' });
    let commit: () => void = () => {};
    const trx = db.storage.db.transaction().execute(async (t) => {
      await t.insertInto('audit_events').values({ created_at: 1, actor: 'x', action: 'TRX' }).execute();
      await new Promise<void>((r) => (commit = r));
      throw new Error('roll back');
    });
    await new Promise((r) => setTimeout(r, 10));
    w.record(eventFromRequest(req(1), 1));
    await w.flush();
    expect(w.stats()).toMatchObject({ queue_depth: 1, written: 0 });
    commit();
    await expect(trx).rejects.toThrow('roll back');
    await w.flush();
    expect(await count(db)).toBe(1);
  });
});
