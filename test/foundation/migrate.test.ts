import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/db.ts';
import { migrateToLatest } from '../../src/storage/migrate.ts';
import { freshPgUrl } from '../helpers/db.ts';

describe('migrations on a PostgreSQL database shared with other schemas', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('fresh schemas migrate while another schema renames a table back and forth', async () => {
    // Another deployment's DDL: a table renamed in a tight loop in its own schema. Kysely's own
    // introspection (every schema's tables, each looked up by name) failed here every time.
    const other = new pg.Client({ connectionString: await freshPgUrl() });
    await other.connect();
    closers.push(() => other.end());
    await other.query('create table t_a (id serial primary key, v text)');
    let stop = false;
    let renames = 0;
    const churn = (async () => {
      for (; !stop; renames++) await other.query(renames % 2 ? 'alter table t_b rename to t_a' : 'alter table t_a rename to t_b');
    })();
    try {
      for (let i = 0; i < 4; i++) {
        const storage = openStorage({ kind: 'postgres', url: await freshPgUrl() }, { poolMax: 2 });
        closers.push(() => storage.close());
        await migrateToLatest(storage.db);
        const { rows } = await storage.pool!.query<{ n: number }>('select count(*)::int as n from kaixu_migrations');
        expect(rows[0]!.n).toBeGreaterThan(0);
        // Migrating again finds its own bookkeeping tables and has nothing left to do.
        expect((await migrateToLatest(storage.db)).results).toEqual([]);
      }
    } finally {
      stop = true;
      await churn;
    }
    expect(renames).toBeGreaterThan(10);
  });

  it('a schema that holds other tables of the same names as ours still gets its own', async () => {
    // The bookkeeping tables of another schema must not be mistaken for ours.
    const first = openStorage({ kind: 'postgres', url: await freshPgUrl() }, { poolMax: 2 });
    closers.push(() => first.close());
    await migrateToLatest(first.db);
    const second = openStorage({ kind: 'postgres', url: await freshPgUrl() }, { poolMax: 2 });
    closers.push(() => second.close());
    const res = await migrateToLatest(second.db);
    expect(res.results!.length).toBeGreaterThan(0);
    expect(res.results!.every((r) => r.status === 'Success')).toBe(true);
  });
});
