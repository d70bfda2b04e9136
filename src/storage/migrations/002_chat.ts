import { notNull, type MigrationDb } from './helpers.ts';

/**
 * Chat data plane: admin-registered OpenAI-compatible upstreams and lanes
 * (public provider/model → ordered upstream targets). Seeds the `kaixu/kaixu-chat` lane.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('upstreams')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('openai-compatible'))
    .addColumn('base_url', 'text', notNull)
    // AES-GCM envelopes (lib/crypto.ts SecretBox): the credential and the extra headers (JSON object).
    .addColumn('api_key_sealed', 'text')
    .addColumn('headers_sealed', 'text')
    .addColumn('connect_timeout_ms', 'integer')
    .addColumn('first_byte_timeout_ms', 'integer')
    .addColumn('idle_timeout_ms', 'integer')
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('updated_at', 'bigint', notNull)
    .execute();

  await db.schema
    .createTable('lanes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', notNull)
    .addColumn('model', 'text', notNull)
    // JSON array of {provider, model}, tried in order.
    .addColumn('targets', 'text', notNull)
    .addColumn('report_public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('display_provider', 'text')
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', notNull)
    .addColumn('updated_at', 'bigint', notNull)
    .execute();
  await db.schema.createIndex('lanes_public_name').on('lanes').columns(['provider', 'model']).unique().execute();

  const now = Date.now();
  await db
    .insertInto('lanes')
    .values({
      id: 'lane_kaixu_chat',
      provider: 'kaixu',
      model: 'kaixu-chat',
      targets: JSON.stringify([
        { provider: 'openai', model: 'gpt-4o-mini' },
        { provider: 'anthropic', model: 'claude-3-5-haiku-latest' },
      ]),
      report_public: 1,
      display_provider: 'kAIxu',
      is_active: 1,
      created_at: now,
      updated_at: now,
    })
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropTable('lanes').ifExists().execute();
  await db.schema.dropTable('upstreams').ifExists().execute();
}
