import { sql } from 'kysely';
import { isPg, type MigrationDb } from './helpers.ts';

/**
 * SQLite: the ledger's id is the plain rowid, without AUTOINCREMENT.
 *
 * AUTOINCREMENT makes every insert read and rewrite the table's row in `sqlite_sequence`, so each
 * settle, which every answered call commits before its answer, wrote one more page to the WAL
 * (6 frames → 5, test/governance/hot-path.test.ts) and spent ≈ 8–10 µs more on this project's VMs
 * (bench/README.md, "Where SQLite's system calls come from"). What it guards against is an id reused after the table's
 * newest rows were deleted; the ledger is append-only (nothing deletes usage events), so the
 * rowid — one more than the largest id — is already increasing and never reused, and the ids the
 * exports and event pages use as keyset cursors keep their order. PostgreSQL (bigserial) is
 * unchanged.
 *
 * SQLite cannot drop AUTOINCREMENT in place: the table is rebuilt from its own recorded
 * definition (so every column added since stays as it is), rows and ids copied, its indexes
 * recreated, all in one transaction. That copies the whole ledger once, on the first start of
 * this version.
 */
export async function up(db: MigrationDb): Promise<void> {
  if (isPg(db)) return;
  await rebuild(db, (create) => create.replace(/\s+autoincrement\b/i, ''), 'delete');
}

export async function down(db: MigrationDb): Promise<void> {
  if (isPg(db)) return;
  await rebuild(db, (create) => create.replace(/\bprimary key\b/i, 'primary key autoincrement'), 'restore');
}

async function rebuild(db: MigrationDb, define: (create: string) => string, sequence: 'delete' | 'restore'): Promise<void> {
  const table = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'usage_events'`.execute(db);
  const create = table.rows[0]?.sql;
  if (!create) throw new Error('migration 008: no usage_events table');
  const next = define(create).replace(/^create table\s+("usage_events"|usage_events)/i, 'create table "usage_events_rebuilt"');
  if (!next.startsWith('create table "usage_events_rebuilt"')) throw new Error(`migration 008: unexpected definition of usage_events: ${create.slice(0, 80)}`);
  const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = 'usage_events' and sql is not null`.execute(db);
  await db.transaction().execute(async (trx) => {
    await sql.raw(next).execute(trx);
    await sql`insert into usage_events_rebuilt select * from usage_events`.execute(trx);
    await sql`drop table usage_events`.execute(trx);
    await sql`alter table usage_events_rebuilt rename to usage_events`.execute(trx);
    for (const ix of indexes.rows) await sql.raw(ix.sql).execute(trx);
    if (sequence === 'delete') await sql`delete from sqlite_sequence where name = 'usage_events'`.execute(trx);
    else await sql`insert into sqlite_sequence (name, seq) select 'usage_events', coalesce(max(id), 0) from usage_events`.execute(trx);
  });
}
