import { notNull, withAutoId, zero, type MigrationDb } from './helpers.ts';

/**
 * Observability and background work: monitor events (one per request + client errors),
 * the durable job queue with its event trail, and heartbeat records (one per interval slot).
 */
export async function up(db: MigrationDb): Promise<void> {
  await withAutoId(db, db.schema.createTable('monitor_events'))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('request_id', 'text')
    .addColumn('level', 'text', notNull)
    .addColumn('kind', 'text', notNull)
    .addColumn('operation', 'text')
    .addColumn('method', 'text')
    .addColumn('path', 'text')
    .addColumn('status', 'integer')
    .addColumn('duration_ms', 'integer')
    .addColumn('app', 'text')
    .addColumn('build', 'text')
    .addColumn('customer_id', 'text')
    .addColumn('api_key_id', 'text')
    .addColumn('provider', 'text')
    .addColumn('model', 'text')
    .addColumn('upstream_status', 'integer')
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('body_preview', 'text')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('node_id', 'text')
    .addColumn('extra', 'text')
    .execute();
  await db.schema.createIndex('monitor_events_created').on('monitor_events').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('monitor_events_request').on('monitor_events').column('request_id').execute();
  await db.schema.createIndex('monitor_events_level').on('monitor_events').columns(['level', 'id']).execute();
  await db.schema.createIndex('monitor_events_operation').on('monitor_events').columns(['operation', 'id']).execute();
  await db.schema.createIndex('monitor_events_app').on('monitor_events').columns(['app', 'id']).execute();
  await db.schema.createIndex('monitor_events_customer').on('monitor_events').columns(['customer_id', 'id']).execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', notNull)
    .addColumn('payload', 'text', notNull)
    .addColumn('status', 'text', notNull)
    .addColumn('attempts', 'integer', zero)
    .addColumn('max_attempts', 'integer', notNull)
    .addColumn('next_attempt_at', 'bigint', notNull)
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('dedupe_key', 'text', (c) => c.unique())
    .addColumn('customer_id', 'text')
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('updated_at', 'bigint', notNull)
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('jobs_due').on('jobs').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('jobs_lease').on('jobs').columns(['status', 'lease_expires_at']).execute();
  await db.schema.createIndex('jobs_kind').on('jobs').columns(['kind', 'created_at']).execute();

  await withAutoId(db, db.schema.createTable('job_events'))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('job_id', 'text', notNull)
    .addColumn('kind', 'text', notNull)
    .addColumn('event', 'text', notNull)
    .addColumn('attempt', 'integer', zero)
    .addColumn('node_id', 'text')
    .addColumn('customer_id', 'text')
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer')
    .execute();
  await db.schema.createIndex('job_events_created').on('job_events').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('job_events_job').on('job_events').columns(['job_id', 'id']).execute();

  await db.schema
    .createTable('heartbeats')
    .addColumn('slot_start', 'bigint', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('ok', 'integer', notNull)
    .addColumn('http_status', 'integer')
    .addColumn('db_ok', 'integer', notNull)
    .addColumn('response_ms', 'integer')
    .addColumn('error', 'text')
    .addColumn('error_type', 'text')
    .addColumn('node_id', 'text')
    .execute();
  await db.schema.createIndex('heartbeats_created').on('heartbeats').column('created_at').execute();
}

export async function down(db: MigrationDb): Promise<void> {
  for (const t of ['heartbeats', 'job_events', 'jobs', 'monitor_events']) await db.schema.dropTable(t).ifExists().execute();
}
