import { sql } from 'kysely';
import { isPg, type MigrationDb } from './helpers.ts';

/**
 * SQLite: the ledger's ids without AUTOINCREMENT — one WAL frame less on every settle.
 *
 * AUTOINCREMENT keeps the highest id ever used in `sqlite_sequence` and rewrites that row on every
 * insert: one more page, so one more 4 KiB WAL frame (checksummed, hashed into the WAL index and
 * written with two `pwrite`s) in the commit each answered call makes before its answer — 6 frames
 * per settle, 5 without it (test/governance/hot-path.test.ts). What it buys is that an id is never
 * used twice even after the newest rows are deleted. Without it SQLite gives a new row the largest
 * id + 1, the same sequence as long as nothing deletes the newest rows, and nothing deletes ledger
 * rows at all (usage events are the record of what was charged). Ids still only grow, which the
 * ledger's keyset pages (`customer_id, month, id`) and exports rely on.
 *
 * SQLite cannot drop AUTOINCREMENT in place: the table is rebuilt from its own definition minus
 * the keyword (rows and ids copied as they are), its indexes recreated from theirs. It runs once,
 * inside the migration's transaction; a large ledger takes a while (a full copy). PostgreSQL's
 * `bigserial` has no such row and is left as it is.
 */
export async function up(db: MigrationDb): Promise<void> {
  if (isPg(db)) return;
  await rebuild(db, (ddl) => ddl.replace(/\s+autoincrement\b/i, ''));
}

export async function down(db: MigrationDb): Promise<void> {
  if (isPg(db)) return;
  await rebuild(db, (ddl) => ddl.replace(/("id" integer primary key)(?!\s+autoincrement)/i, '$1 autoincrement'));
}

/** Recreates usage_events from its own DDL, changed by `edit`, with its rows and indexes. */
async function rebuild(db: MigrationDb, edit: (ddl: string) => string): Promise<void> {
  const objects = await sql<{ type: string; name: string; sql: string | null }>`
    select type, name, sql from sqlite_master where tbl_name = 'usage_events' and type in ('table', 'index')`.execute(db);
  const table = objects.rows.find((o) => o.type === 'table');
  if (!table?.sql) throw new Error('migration 008: usage_events not found');
  const ddl = edit(table.sql);
  if (ddl === table.sql) throw new Error('migration 008: usage_events has an unexpected definition');
  // Indexes SQLite made itself (sql null) come back with the table.
  const indexes = objects.rows.filter((o) => o.type === 'index' && o.sql).map((o) => o.sql!);
  const rebuilt = ddl.replace(/^CREATE TABLE "usage_events"/i, 'CREATE TABLE "usage_events_rebuild"');
  if (rebuilt === ddl) throw new Error('migration 008: usage_events has an unexpected definition');
  await sql.raw(rebuilt).execute(db);
  await sql`insert into usage_events_rebuild select * from usage_events`.execute(db);
  await sql`drop table usage_events`.execute(db);
  await sql`alter table usage_events_rebuild rename to usage_events`.execute(db);
  for (const ix of indexes) await sql.raw(ix).execute(db);
}
