import { notNull, withAutoId, zero, type MigrationDb } from './helpers.ts';

export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('customers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('plan', 'text', (c) => c.notNull().defaultTo('starter'))
    .addColumn('monthly_cap_cents', 'bigint', notNull)
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('cap_mode', 'text', (c) => c.notNull().defaultTo('hard'))
    .addColumn('max_devices_per_key', 'integer')
    .addColumn('require_install_id', 'integer', zero)
    .addColumn('allowed_providers', 'text')
    .addColumn('allowed_models', 'text')
    .addColumn('rpm_limit', 'integer')
    .addColumn('rpd_limit', 'integer')
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('updated_at', 'bigint', notNull)
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id').onDelete('cascade'))
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('key_last4', 'text', notNull)
    .addColumn('label', 'text', notNull)
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('deployer'))
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('sub'))
    .addColumn('monthly_cap_cents', 'bigint')
    .addColumn('rpm_limit', 'integer')
    .addColumn('rpd_limit', 'integer')
    .addColumn('max_devices', 'integer')
    .addColumn('require_install_id', 'integer')
    .addColumn('allowed_providers', 'text')
    .addColumn('allowed_models', 'text')
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('updated_at', 'bigint', notNull)
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_seen_at', 'bigint')
    .addColumn('rotated_from', 'text')
    .execute();
  await db.schema.createIndex('api_keys_customer').on('api_keys').columns(['customer_id', 'created_at']).execute();

  await db.schema
    .createTable('monthly_usage')
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id').onDelete('cascade'))
    .addColumn('month', 'text', notNull)
    .addColumn('spent_micros', 'bigint', zero)
    .addColumn('reserved_micros', 'bigint', zero)
    .addColumn('extra_cents', 'bigint', zero)
    .addColumn('input_tokens', 'bigint', zero)
    .addColumn('output_tokens', 'bigint', zero)
    .addColumn('calls', 'bigint', zero)
    .addColumn('updated_at', 'bigint', notNull)
    .addPrimaryKeyConstraint('monthly_usage_pk', ['customer_id', 'month'])
    .execute();

  await db.schema
    .createTable('monthly_key_usage')
    .addColumn('api_key_id', 'text', (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
    .addColumn('customer_id', 'text', notNull)
    .addColumn('month', 'text', notNull)
    .addColumn('spent_micros', 'bigint', zero)
    .addColumn('reserved_micros', 'bigint', zero)
    .addColumn('input_tokens', 'bigint', zero)
    .addColumn('output_tokens', 'bigint', zero)
    .addColumn('calls', 'bigint', zero)
    .addColumn('updated_at', 'bigint', notNull)
    .addPrimaryKeyConstraint('monthly_key_usage_pk', ['api_key_id', 'month'])
    .execute();
  await db.schema.createIndex('monthly_key_usage_customer').on('monthly_key_usage').columns(['customer_id', 'month']).execute();

  await withAutoId(db, db.schema.createTable('usage_events'))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('month', 'text', notNull)
    .addColumn('request_id', 'text', notNull)
    .addColumn('customer_id', 'text', notNull)
    .addColumn('api_key_id', 'text', notNull)
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('chat'))
    .addColumn('provider', 'text', notNull)
    .addColumn('model', 'text', notNull)
    .addColumn('upstream_provider', 'text', notNull)
    .addColumn('upstream_model', 'text', notNull)
    .addColumn('input_tokens', 'bigint', zero)
    .addColumn('output_tokens', 'bigint', zero)
    .addColumn('usage_source', 'text', (c) => c.notNull().defaultTo('provider'))
    .addColumn('cost_micros', 'bigint', zero)
    .addColumn('install_id', 'text')
    .addColumn('app', 'text')
    .addColumn('build', 'text')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('ok'))
    .addColumn('latency_ms', 'integer', zero)
    .addColumn('ip_hash', 'text')
    .addColumn('ua', 'text')
    .execute();
  await db.schema.createIndex('usage_events_customer_month').on('usage_events').columns(['customer_id', 'month', 'id']).execute();
  await db.schema.createIndex('usage_events_key_month').on('usage_events').columns(['api_key_id', 'month', 'id']).execute();
  await db.schema.createIndex('usage_events_request').on('usage_events').column('request_id').execute();

  await db.schema
    .createTable('key_devices')
    .addColumn('api_key_id', 'text', (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
    .addColumn('customer_id', 'text', notNull)
    .addColumn('install_id', 'text', notNull)
    .addColumn('device_label', 'text')
    .addColumn('first_seen_at', 'bigint', notNull)
    .addColumn('last_seen_at', 'bigint', notNull)
    .addColumn('last_seen_ua', 'text')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoked_by', 'text')
    .addPrimaryKeyConstraint('key_devices_pk', ['api_key_id', 'install_id'])
    .execute();
  await db.schema.createIndex('key_devices_customer').on('key_devices').columns(['customer_id', 'last_seen_at']).execute();

  await withAutoId(db, db.schema.createTable('audit_events'))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('actor', 'text', notNull)
    .addColumn('action', 'text', notNull)
    .addColumn('target', 'text')
    .addColumn('customer_id', 'text')
    .addColumn('summary', 'text')
    .addColumn('ip', 'text')
    .addColumn('meta', 'text')
    .execute();
  await db.schema.createIndex('audit_events_created').on('audit_events').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('audit_events_action').on('audit_events').columns(['action', 'created_at']).execute();

  await withAutoId(db, db.schema.createTable('invalidations'))
    .addColumn('kind', 'text', notNull)
    .addColumn('target', 'text', notNull)
    .addColumn('created_at', 'bigint', notNull)
    .execute();

  await db.schema
    .createTable('throttle_counters')
    .addColumn('scope', 'text', notNull)
    .addColumn('key', 'text', notNull)
    .addColumn('window_start', 'bigint', notNull)
    .addColumn('count', 'integer', zero)
    .addPrimaryKeyConstraint('throttle_counters_pk', ['scope', 'key', 'window_start'])
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  for (const t of ['throttle_counters', 'invalidations', 'audit_events', 'key_devices', 'usage_events', 'monthly_key_usage', 'monthly_usage', 'api_keys', 'customers']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
