import { sql } from 'kysely';
import { monthBounds, monthOf } from '../../src/lib/clock.ts';
import type { Db, Dialect } from '../../src/storage/db.ts';

/**
 * Usage the way metering writes it: one ledger row per call plus the matching monthly
 * aggregates (customer and key), in one transaction. Tests seed through this until they
 * drive real calls.
 */
export interface SeedEvent {
  customerId: string;
  apiKeyId: string;
  createdAt: number;
  costMicros: number;
  input?: number;
  output?: number;
  provider?: string;
  model?: string;
  installId?: string | null;
  app?: string | null;
  build?: string | null;
  status?: string;
  requestId?: string;
}

let seq = 0;

export async function seedUsage(db: Db, events: SeedEvent[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const e of events) {
      const month = monthOf(e.createdAt);
      const input = e.input ?? 100;
      const output = e.output ?? 50;
      await trx
        .insertInto('usage_events')
        .values({
          created_at: e.createdAt,
          month,
          request_id: e.requestId ?? `req_seed_${++seq}`,
          customer_id: e.customerId,
          api_key_id: e.apiKeyId,
          kind: 'chat',
          provider: e.provider ?? 'openai',
          model: e.model ?? 'gpt-4o-mini',
          upstream_provider: e.provider ?? 'openai',
          upstream_model: e.model ?? 'gpt-4o-mini',
          input_tokens: input,
          output_tokens: output,
          usage_source: 'provider',
          cost_micros: e.costMicros,
          install_id: e.installId ?? null,
          app: e.app ?? null,
          build: e.build ?? null,
          status: e.status ?? 'ok',
          latency_ms: 12,
          ip_hash: null,
          ua: null,
        })
        .execute();
      const now = e.createdAt;
      const row = { month, spent_micros: e.costMicros, reserved_micros: 0, input_tokens: input, output_tokens: output, calls: 1, updated_at: now };
      const add = (table: 'monthly_usage' | 'monthly_key_usage') => ({
        spent_micros: sql<number>`${sql.ref(`${table}.spent_micros`)} + ${e.costMicros}`,
        input_tokens: sql<number>`${sql.ref(`${table}.input_tokens`)} + ${input}`,
        output_tokens: sql<number>`${sql.ref(`${table}.output_tokens`)} + ${output}`,
        calls: sql<number>`${sql.ref(`${table}.calls`)} + 1`,
        updated_at: now,
      });
      await trx
        .insertInto('monthly_usage')
        .values({ ...row, customer_id: e.customerId, extra_cents: 0 })
        .onConflict((oc) => oc.columns(['customer_id', 'month']).doUpdateSet(add('monthly_usage')))
        .execute();
      await trx
        .insertInto('monthly_key_usage')
        .values({ ...row, api_key_id: e.apiKeyId, customer_id: e.customerId })
        .onConflict((oc) => oc.columns(['api_key_id', 'month']).doUpdateSet(add('monthly_key_usage')))
        .execute();
    }
  });
}

/**
 * N ledger rows for one key and month in a single statement (generate_series on PostgreSQL,
 * a recursive CTE on SQLite); created_at spreads over the month, two install ids alternate.
 */
export async function bulkEvents(db: Db, dialect: Dialect, o: { customerId: string; apiKeyId: string; month: string; count: number }): Promise<void> {
  const start = monthBounds(o.month).start;
  const cols = sql`(created_at, month, request_id, customer_id, api_key_id, kind, provider, model, upstream_provider, upstream_model,
    input_tokens, output_tokens, usage_source, cost_micros, install_id, status, latency_ms)`;
  const select = (n: ReturnType<typeof sql.raw>) => sql`select cast(${start} as bigint) + cast(${n} as bigint) * 2000, cast(${o.month} as text), 'req_bulk_' || ${n}, cast(${o.customerId} as text), cast(${o.apiKeyId} as text), 'chat',
    'openai', 'gpt-4o-mini', 'openai', 'gpt-4o-mini', 100 + (${n} % 900), 20 + (${n} % 300), 'provider', 1000 + (${n} % 5000),
    'device-' || (${n} % 2), 'ok', 10`;
  if (dialect === 'postgres') {
    await sql`insert into usage_events ${cols} ${select(sql.raw('g.n'))} from generate_series(1, ${o.count}::int) as g(n)`.execute(db);
  } else {
    await sql`insert into usage_events ${cols} with recursive seq(n) as (select 1 union all select n + 1 from seq where n < ${o.count}) ${select(sql.raw('n'))} from seq`.execute(db);
  }
}
