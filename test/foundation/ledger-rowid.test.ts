import { Migrator } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { eventRow, EVENT_COLUMNS, type UsageEventInsert } from '../../src/governance/caps/types.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { migrations } from '../../src/storage/migrations/index.ts';

const migrator = (s: Storage) => new Migrator({ db: s.db, provider: { getMigrations: async () => migrations }, migrationTableName: 'kaixu_migrations', migrationLockTableName: 'kaixu_migrations_lock' });

const event = (i: number): UsageEventInsert => ({
  created_at: 1_767_225_600_000 + i,
  month: '2026-01',
  request_id: `req_${i}`,
  customer_id: 'cus_1',
  api_key_id: i % 2 ? 'key_a' : 'key_b',
  kind: 'chat',
  provider: 'openai',
  model: 'gpt-4o-mini',
  upstream_provider: 'openai',
  upstream_model: 'gpt-4o-mini',
  input_tokens: 10 * i,
  output_tokens: i,
  usage_source: 'provider',
  cost_micros: 100 * i,
  install_id: i % 3 ? `inst_${i}` : null,
  app: 'app',
  build: null,
  status: 'ok',
  latency_ms: i,
  ip_hash: null,
  ua: 'ua',
});

function insert(s: Storage, e: UsageEventInsert): number {
  const stmt = s.sqlite!.prepare(`insert into usage_events (${EVENT_COLUMNS.join(', ')}) values (${EVENT_COLUMNS.map(() => '?').join(', ')})`);
  return Number(stmt.run(eventRow(e)).lastInsertRowid);
}

const tableSql = (s: Storage) => (s.sqlite!.prepare(`select sql from sqlite_master where type = 'table' and name = 'usage_events'`).pluck().get() as string).toLowerCase();
const indexes = (s: Storage) => s.sqlite!.prepare(`select name from sqlite_master where type = 'index' and tbl_name = 'usage_events' order by name`).pluck().all();
const sequenceRows = (s: Storage) => s.sqlite!.prepare(`select count(*) from sqlite_sequence where name = 'usage_events'`).pluck().get();

describe('migration 008: the SQLite ledger without AUTOINCREMENT', () => {
  let storage: Storage | undefined;
  afterEach(async () => storage?.close());

  it('keeps every row, id and index; new ids continue after the largest; down puts AUTOINCREMENT back', async () => {
    storage = openStorage({ kind: 'sqlite', path: ':memory:' });
    const m = migrator(storage);
    const to007 = await m.migrateTo('007_pg_admit_batch');
    expect(to007.error).toBeUndefined();
    expect(tableSql(storage)).toContain('autoincrement');
    const ids = [1, 2, 3, 4, 5].map((i) => insert(storage!, event(i)));
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    const before = storage.sqlite!.prepare('select * from usage_events order by id').all();
    expect(sequenceRows(storage)).toBe(1);

    const up = await m.migrateTo('008_ledger_rowid');
    expect(up.error).toBeUndefined();
    expect(tableSql(storage)).not.toContain('autoincrement');
    expect(tableSql(storage)).toContain('"id" integer primary key');
    expect(storage.sqlite!.prepare('select * from usage_events order by id').all()).toEqual(before);
    expect(indexes(storage)).toEqual(['usage_events_customer_month', 'usage_events_key_month']);
    expect(sequenceRows(storage)).toBe(0);
    // The indexes are live: a customer's month read uses one and sees every row.
    const plan = storage.sqlite!.prepare(`explain query plan select id from usage_events where customer_id = 'cus_1' and month = '2026-01' order by id`).all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('usage_events_customer_month');
    expect(insert(storage, event(6))).toBe(6);
    expect(insert(storage, event(7))).toBe(7);
    expect(sequenceRows(storage)).toBe(0);

    const down = await m.migrateTo('007_pg_admit_batch');
    expect(down.error).toBeUndefined();
    expect(tableSql(storage)).toContain('autoincrement');
    expect(storage.sqlite!.prepare('select count(*) from usage_events').pluck().get()).toBe(7);
    expect(insert(storage, event(8))).toBe(8);
    expect(sequenceRows(storage)).toBe(1);
    expect(indexes(storage)).toEqual(['usage_events_customer_month', 'usage_events_key_month']);
  });
});
