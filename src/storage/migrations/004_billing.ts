import { notNull, withAutoId, zero, type MigrationDb } from './helpers.ts';

/**
 * Billing: top-ups (manual and Stripe), processed Stripe events, stored invoice snapshots.
 * Stripe idempotency lives in the schema: a Stripe event id is recorded once (primary key)
 * and a Checkout session credits at most one top-up (unique stripe_session_id; NULLs,
 * i.e. manual top-ups, never collide on either dialect).
 */
export async function up(db: MigrationDb): Promise<void> {
  await withAutoId(db, db.schema.createTable('topup_events'))
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id').onDelete('cascade'))
    .addColumn('month', 'text', notNull)
    .addColumn('amount_cents', 'bigint', notNull)
    .addColumn('source', 'text', notNull)
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('applied'))
    .addColumn('stripe_session_id', 'text', (c) => c.unique())
    .addColumn('stripe_event_id', 'text')
    .addColumn('note', 'text')
    .addColumn('actor', 'text', notNull)
    .addColumn('created_at', 'bigint', notNull)
    .execute();
  await db.schema.createIndex('topup_events_customer_month').on('topup_events').columns(['customer_id', 'month', 'id']).execute();

  await db.schema
    .createTable('stripe_events')
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', notNull)
    .addColumn('session_id', 'text')
    .addColumn('outcome', 'text', notNull)
    .addColumn('received_at', 'bigint', notNull)
    .execute();

  await db.schema
    .createTable('monthly_invoices')
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id').onDelete('cascade'))
    .addColumn('month', 'text', notNull)
    .addColumn('snapshot', 'text', notNull)
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('updated_at', 'bigint', notNull)
    .addColumn('created_by', 'text', notNull)
    .addColumn('grand_total_cents', 'bigint', zero)
    .addPrimaryKeyConstraint('monthly_invoices_pk', ['customer_id', 'month'])
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  for (const t of ['monthly_invoices', 'stripe_events', 'topup_events']) await db.schema.dropTable(t).ifExists().execute();
}
