import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openStorage, type Dialect, type Storage } from '../../src/storage/db.ts';
import { migrateToLatest } from '../../src/storage/migrate.ts';

export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

export interface TestDb {
  storage: Storage;
  /** DATABASE_URL another process can use to reach the same data. */
  url: string;
  close(): Promise<void>;
}

/** A fresh PostgreSQL schema in this run's database; returns a URL whose search_path points at it. */
export async function freshPgUrl(): Promise<string> {
  const base = inject('pgUrl');
  const schema = `s_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** A migrated, empty database of the given dialect, private to the caller. */
export async function makeTestDb(dialect: Dialect, opts: { file?: string } = {}): Promise<TestDb> {
  if (dialect === 'sqlite') {
    const path = opts.file ?? ':memory:';
    const storage = openStorage({ kind: 'sqlite', path });
    await migrateToLatest(storage.db);
    return { storage, url: path === ':memory:' ? 'sqlite::memory:' : `sqlite:${path}`, close: () => storage.close() };
  }
  const url = await freshPgUrl();
  const storage = openStorage({ kind: 'postgres', url }, { poolMax: 10 });
  await migrateToLatest(storage.db);
  return { storage, url, close: () => storage.close() };
}
