import { Migrator, type MigrationResultSet } from 'kysely';
import type { Db } from './db.ts';
import { migrations } from './migrations/index.ts';

export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'kaixu_migrations',
    migrationLockTableName: 'kaixu_migrations_lock',
  });
  const res = await migrator.migrateToLatest();
  if (res.error) throw res.error;
  return res;
}
