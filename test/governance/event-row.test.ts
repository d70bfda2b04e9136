import { describe, expect, it } from 'vitest';
import { eventRow, EVENT_COLUMNS, type UsageEventInsert } from '../../src/governance/caps/types.ts';

const event: UsageEventInsert = {
  created_at: 1_767_225_600_000,
  month: '2026-01',
  request_id: 'req_1',
  customer_id: 'cus_1',
  api_key_id: 'key_a',
  kind: 'chat',
  provider: 'openai',
  model: 'gpt-4o-mini',
  upstream_provider: 'openai',
  upstream_model: 'gpt-4o-mini-2024-07-18',
  input_tokens: 40,
  output_tokens: 4,
  usage_source: 'provider',
  cost_micros: 400,
  install_id: 'inst_1',
  app: 'app',
  build: '1.2.3',
  status: 'ok',
  latency_ms: 4,
  ip_hash: 'iph',
  ua: 'ua',
};

describe('eventRow: a usage event as the cap stores bind it', () => {
  it('eventRow lists an event in EVENT_COLUMNS order, a missing optional column as NULL', async () => {
    const e = event;
    expect(eventRow(e)).toEqual(EVENT_COLUMNS.map((c) => e[c] ?? null));
    const bare: UsageEventInsert = { ...e };
    for (const c of ['install_id', 'app', 'build', 'ip_hash', 'ua'] as const) delete bare[c];
    const row = eventRow(bare);
    expect(row).toHaveLength(EVENT_COLUMNS.length);
    EVENT_COLUMNS.forEach((c, i) => expect(row[i]).toBe(bare[c] ?? null));
    expect(row.filter((v) => v === null)).toHaveLength(5);
    // Distinct values per column: a swapped pair would show.
    const distinct = Object.fromEntries(EVENT_COLUMNS.map((c, i) => [c, `v${i}`])) as unknown as UsageEventInsert;
    expect(eventRow(distinct)).toEqual(EVENT_COLUMNS.map((_, i) => `v${i}`));
  });
});
