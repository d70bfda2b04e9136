import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from 'kysely';
import { PostgresAdapter } from 'kysely';

// Migrations run against the untyped schema: use Kysely<any> per Kysely's migration guidance.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type MigrationDb = Kysely<any>;

export const isPg = (db: MigrationDb): boolean => db.getExecutor().adapter instanceof PostgresAdapter;

/** Auto-increment integer primary key on both dialects. */
export function withAutoId<T extends string>(db: MigrationDb, t: CreateTableBuilder<T, never>, name = 'id'): CreateTableBuilder<T, never> {
  return isPg(db)
    ? (t.addColumn(name, 'bigserial', (c) => c.primaryKey()) as CreateTableBuilder<T, never>)
    : (t.addColumn(name, 'integer', (c) => c.primaryKey().autoIncrement()) as CreateTableBuilder<T, never>);
}

export const notNull = (c: ColumnDefinitionBuilder) => c.notNull();
export const zero = (c: ColumnDefinitionBuilder) => c.notNull().defaultTo(0);
