import { Migrator, PostgresAdapter, sql, type MigrationResultSet } from 'kysely';
import type { Db } from './db.ts';
import { migrations } from './migrations/index.ts';

export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  // Kysely looks for its bookkeeping tables in *any* schema unless told which one, so on a
  // PostgreSQL database shared by several schemas (search_path per deployment or per test)
  // it would find another schema's table and skip creating ours. Pin it to the current schema.
  let migrationTableSchema: string | undefined;
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const r = await sql<{ s: string }>`select current_schema() as s`.execute(db);
    migrationTableSchema = r.rows[0]?.s;
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'kaixu_migrations',
    migrationLockTableName: 'kaixu_migrations_lock',
    migrationTableSchema,
  });
  const res = await migrator.migrateToLatest();
  if (res.error) throw res.error;
  return res;
}
