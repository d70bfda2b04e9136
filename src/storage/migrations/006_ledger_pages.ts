import type { MigrationDb } from './helpers.ts';

/**
 * One index less on the ledger, which every answered call writes before its answer.
 *
 * No query looks usage events up by request id (the monitor timeline has its own request_id
 * index), yet every insert paid for `usage_events_request`: a B-tree keyed by random ids, so each
 * call dirtied a different page of it — on SQLite one more WAL frame per settle (7 → 6,
 * test/governance/hot-path.test.ts), on PostgreSQL one more index insert per event, scattered
 * over an index as large as the ledger.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.dropIndex('usage_events_request').ifExists().execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.createIndex('usage_events_request').ifNotExists().on('usage_events').column('request_id').execute();
}
