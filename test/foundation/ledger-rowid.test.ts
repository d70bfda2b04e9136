import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { migrations } from '../../src/storage/migrations/index.ts';

/**
 * Migration 008 on SQLite: the ledger rebuilt without AUTOINCREMENT, on a database that already
 * holds events — rows, ids and indexes kept, new ids following the old ones — and back.
 */

let dir: string | undefined;
let storage: Storage | undefined;
afterEach(async () => {
  await storage?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  storage = undefined;
});

const migrator = (s: Storage) =>
  new Migrator({ db: s.db, provider: { getMigrations: async () => migrations }, migrationTableName: 'kaixu_migrations', migrationLockTableName: 'kaixu_migrations_lock' });

function insertEvent(h: NonNullable<Storage['sqlite']>, requestId: string): number {
  // Every required column with a value of its type; the id is left to the table.
  const cols = (h.pragma('table_info(usage_events)') as { name: string; type: string; notnull: number }[]).filter((c) => c.name !== 'id');
  const vals = cols.map((c) => (c.name === 'request_id' ? requestId : c.name === 'month' ? '2026-12' : /int/i.test(c.type) ? 1 : 'x'));
  return Number(h.prepare(`insert into usage_events (${cols.map((c) => c.name).join(', ')}) values (${cols.map(() => '?').join(', ')})`).run(...vals).lastInsertRowid);
}

const tableSql = (h: NonNullable<Storage['sqlite']>) => (h.prepare(`select sql from sqlite_master where type = 'table' and name = 'usage_events'`).get() as { sql: string }).sql;
const indexNames = (h: NonNullable<Storage['sqlite']>) =>
  (h.prepare(`select name from sqlite_master where type = 'index' and tbl_name = 'usage_events' and sql is not null order by name`).all() as { name: string }[]).map((r) => r.name);
const sequence = (h: NonNullable<Storage['sqlite']>) => h.prepare(`select seq from sqlite_sequence where name = 'usage_events'`).get() as { seq: number } | undefined;

describe('migration 008: the ledger id without AUTOINCREMENT (SQLite)', () => {
  it('rebuilds a ledger that holds events: same rows, ids and indexes; new ids follow; down restores the counter', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kaixu-008-'));
    storage = openStorage({ kind: 'sqlite', path: join(dir, 'k.db') });
    const h = storage.sqlite!;
    const m = migrator(storage);
    expect((await m.migrateTo('007_pg_admit_batch')).error).toBeUndefined();
    expect(tableSql(h)).toMatch(/autoincrement/i);
    const before = indexNames(h);
    expect(before).toEqual(['usage_events_customer_month', 'usage_events_key_month']);
    const ids = ['a', 'b', 'c'].map((r) => insertEvent(h, `req_${r}`));
    expect(ids).toEqual([1, 2, 3]);
    const rows = h.prepare('select * from usage_events order by id').all();

    expect((await m.migrateTo('008_ledger_rowid')).error).toBeUndefined();
    expect(tableSql(h)).not.toMatch(/autoincrement/i);
    expect(tableSql(h)).toMatch(/^create table "usage_events" \("id" integer primary key,/i);
    expect(h.prepare('select * from usage_events order by id').all()).toEqual(rows);
    expect(indexNames(h)).toEqual(before);
    expect(sequence(h)).toBeUndefined();
    expect(insertEvent(h, 'req_d')).toBe(4);
    // The queries that page by id still use the indexes.
    const plan = h.prepare(`explain query plan select id from usage_events where customer_id = 'x' and month = '2026-12' and id > 1 order by id`).all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('usage_events_customer_month');

    expect((await m.migrateTo('007_pg_admit_batch')).error).toBeUndefined();
    expect(tableSql(h)).toMatch(/primary key autoincrement/i);
    expect(sequence(h)).toEqual({ seq: 4 });
    expect(indexNames(h)).toEqual(before);
    expect(insertEvent(h, 'req_e')).toBe(5);
    expect(h.prepare('select count(*) as n from usage_events').get()).toEqual({ n: 5 });
  });
});
