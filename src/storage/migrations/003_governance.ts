import { sql } from 'kysely';
import { isPg, notNull, zero, type MigrationDb } from './helpers.ts';
import { PG_FUNCTIONS } from './003_governance_pg.ts';

/**
 * Governance and metering: prices, cap reservations, shared rate-limit windows, cap alerts.
 * On PostgreSQL the hot-path steps (admit = key re-check + device seat + rate limit + reservation,
 * batched settle, release, device seat, rate-limit hit) are PL/pgSQL functions so each is one
 * atomic round trip (003_governance_pg.ts). On SQLite reservations are held in the gateway's
 * memory (src/governance/caps/sqlite.ts): the reservations table and the reserved_micros columns
 * are used on PostgreSQL only.
 */

/** List prices in micro-dollars per 1M tokens [input, output] at the time of this migration. */
const SEED_PRICES: Record<string, Record<string, [number, number]>> = {
  openai: {
    'gpt-4o': [2_500_000, 10_000_000],
    'gpt-4o-2024-08-06': [2_500_000, 10_000_000],
    'gpt-4o-2024-11-20': [2_500_000, 10_000_000],
    'gpt-4o-mini': [150_000, 600_000],
    'gpt-4o-mini-2024-07-18': [150_000, 600_000],
    'gpt-4.1': [2_000_000, 8_000_000],
    'gpt-4.1-mini': [400_000, 1_600_000],
    'gpt-4.1-nano': [100_000, 400_000],
    'gpt-5': [1_250_000, 10_000_000],
    'gpt-5-mini': [250_000, 2_000_000],
    'gpt-5-nano': [50_000, 400_000],
    o3: [2_000_000, 8_000_000],
    'o3-mini': [1_100_000, 4_400_000],
    'o4-mini': [1_100_000, 4_400_000],
    'text-embedding-3-small': [20_000, 0],
    'text-embedding-3-large': [130_000, 0],
    'text-embedding-ada-002': [100_000, 0],
  },
  anthropic: {
    'claude-sonnet-4-5': [3_000_000, 15_000_000],
    'claude-sonnet-4-5-20250929': [3_000_000, 15_000_000],
    'claude-sonnet-4-0': [3_000_000, 15_000_000],
    'claude-sonnet-4-20250514': [3_000_000, 15_000_000],
    'claude-3-7-sonnet-latest': [3_000_000, 15_000_000],
    'claude-3-7-sonnet-20250219': [3_000_000, 15_000_000],
    'claude-3-5-sonnet-20241022': [3_000_000, 15_000_000],
    'claude-opus-4-1': [15_000_000, 75_000_000],
    'claude-opus-4-1-20250805': [15_000_000, 75_000_000],
    'claude-opus-4-0': [15_000_000, 75_000_000],
    'claude-opus-4-20250514': [15_000_000, 75_000_000],
    'claude-opus-4-5': [5_000_000, 25_000_000],
    'claude-opus-4-5-20251101': [5_000_000, 25_000_000],
    // Priced by the original product (list $5/$25 before its +31 %).
    'claude-opus-4-6': [5_000_000, 25_000_000],
    'claude-haiku-4-5': [1_000_000, 5_000_000],
    'claude-haiku-4-5-20251001': [1_000_000, 5_000_000],
    'claude-3-5-haiku-latest': [800_000, 4_000_000],
    'claude-3-5-haiku-20241022': [800_000, 4_000_000],
    'claude-3-haiku-20240307': [250_000, 1_250_000],
  },
  gemini: {
    // gemini-2.5-pro: the ≤ 200k-token prompt tier.
    'gemini-2.5-pro': [1_250_000, 10_000_000],
    'gemini-2.5-flash': [300_000, 2_500_000],
    'gemini-2.5-flash-lite': [100_000, 400_000],
    'gemini-2.0-flash': [100_000, 400_000],
    'gemini-2.0-flash-lite': [75_000, 300_000],
    'gemini-embedding-001': [150_000, 0],
  },
};

export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('pricing')
    .addColumn('provider', 'text', notNull)
    .addColumn('model', 'text', notNull)
    .addColumn('input_micros_per_m', 'bigint', notNull)
    .addColumn('output_micros_per_m', 'bigint', notNull)
    .addColumn('markup_bp', 'integer', zero)
    .addColumn('updated_at', 'bigint', notNull)
    .addColumn('updated_by', 'text')
    .addPrimaryKeyConstraint('pricing_pk', ['provider', 'model'])
    .execute();

  await db.schema
    .createTable('reservations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('customer_id', 'text', notNull)
    .addColumn('api_key_id', 'text', notNull)
    .addColumn('month', 'text', notNull)
    .addColumn('amount_micros', 'bigint', notNull)
    .addColumn('request_id', 'text', notNull)
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('expires_at', 'bigint', notNull)
    .execute();
  await db.schema.createIndex('reservations_expires').on('reservations').column('expires_at').execute();

  // Sliding-window counters for the PostgreSQL rate-limit backend (one row per bucket and window).
  await db.schema
    .createTable('rate_limit_windows')
    .addColumn('bucket', 'text', notNull)
    .addColumn('window_start', 'bigint', notNull)
    .addColumn('count', 'integer', zero)
    .addColumn('expires_at', 'bigint', notNull)
    .addPrimaryKeyConstraint('rate_limit_windows_pk', ['bucket', 'window_start'])
    .execute();
  await db.schema.createIndex('rate_limit_windows_expires').on('rate_limit_windows').column('expires_at').execute();

  // Cap alerts sent, once per (customer, key or '' for the customer scope, month, type).
  await db.schema
    .createTable('alerts_sent')
    .addColumn('customer_id', 'text', notNull)
    .addColumn('api_key_id', 'text', notNull)
    .addColumn('month', 'text', notNull)
    .addColumn('alert_type', 'text', notNull)
    .addColumn('created_at', 'bigint', notNull)
    .addPrimaryKeyConstraint('alerts_sent_pk', ['customer_id', 'api_key_id', 'month', 'alert_type'])
    .execute();

  const now = Date.now();
  const rows = Object.entries(SEED_PRICES).flatMap(([provider, models]) =>
    Object.entries(models).map(([model, [inP, outP]]) => ({
      provider,
      model,
      input_micros_per_m: inP,
      output_micros_per_m: outP,
      markup_bp: 0,
      updated_at: now,
      updated_by: 'seed',
    })),
  );
  await db.insertInto('pricing').values(rows).execute();

  if (isPg(db)) for (const fn of PG_FUNCTIONS) await sql.raw(fn).execute(db);
}

export async function down(db: MigrationDb): Promise<void> {
  if (isPg(db)) {
    for (const f of ['kaixu_admit', 'kaixu_settle_batch', 'kaixu_release', 'kaixu_device_seen', 'kaixu_rate_hit']) {
      await sql.raw(`drop function if exists ${f} cascade`).execute(db);
    }
  }
  for (const t of ['alerts_sent', 'rate_limit_windows', 'reservations', 'pricing']) await db.schema.dropTable(t).ifExists().execute();
}
