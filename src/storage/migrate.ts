import { Migrator, PostgresAdapter, sql, type DatabaseIntrospector, type MigrationResultSet } from 'kysely';
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
    db: migrationTableSchema ? schemaScoped(db, migrationTableSchema) : db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'kaixu_migrations',
    migrationLockTableName: 'kaixu_migrations_lock',
    migrationTableSchema,
  });
  const res = await migrator.migrateToLatest();
  if (res.error) throw res.error;
  return res;
}

/**
 * The Migrator checks for its bookkeeping tables through `db.introspection.getTables()`, which on
 * PostgreSQL reads every column of every table in every schema and looks each table up again by
 * name: a table that another deployment (or test file) renames or drops meanwhile fails the
 * query with "relation … does not exist", and the boot with it. The Migrator only needs the
 * table names of our own schema, which a catalog query by oid answers without that race. Every
 * other member is the database's own (methods bound to it: Kysely keeps its state in private fields).
 */
function schemaScoped(db: Db, schema: string): Db {
  const tables: DatabaseIntrospector['getTables'] = async () => {
    const r = await sql<{ name: string; kind: string }>`
      select c.relname as name, c.relkind as kind from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relkind in ('r', 'p', 'v')`.execute(db);
    return r.rows.map((t) => ({ name: t.name, schema, isView: t.kind === 'v', columns: [] }));
  };
  const own = db.introspection;
  const introspection: DatabaseIntrospector = { getSchemas: () => own.getSchemas(), getTables: tables, getMetadata: async () => ({ tables: await tables() }) };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'introspection') return introspection;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
