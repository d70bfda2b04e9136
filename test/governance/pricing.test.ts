import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { microsToCents } from '../../src/lib/money.ts';
import { priceCost, type Price } from '../../src/metering/pricing.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';

const price = (inP: number, outP: number, markup_bp = 0): Price => ({
  provider: 'p',
  model: 'm',
  input_micros_per_m: inP,
  output_micros_per_m: outP,
  markup_bp,
  updated_at: 0,
  updated_by: null,
});

describe('µ$ → cents', () => {
  it('is the exact 4-decimal value, the same double its decimal text parses to', () => {
    const viaText = (m: number) => Number(`${m < 0 ? '-' : ''}${Math.trunc(Math.abs(m) / 10_000)}.${String(Math.abs(m) % 10_000).padStart(4, '0')}`);
    const cases = [0, 1, 5, 9_999, 10_000, 10_001, 15, 450, 123_456_789, -1, -10_001, 2 ** 53 - 1, -(2 ** 53 - 1)];
    let seed = 42;
    for (let i = 0; i < 30_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      cases.push(seed * (i % 7) + (i % 10_000), -seed);
    }
    for (const m of cases) expect(microsToCents(m)).toBe(viaText(m));
    expect(microsToCents(1)).toBe(0.0001);
    expect(microsToCents(450)).toBe(0.045);
    expect(microsToCents(123_456_789)).toBe(12_345.6789);
  });
});

describe('exact call cost in µ$', () => {
  it('tokens × price per 1M, rounded up once per call (never per token, never to cents)', () => {
    const mini = price(150_000, 600_000); // gpt-4o-mini list price
    expect(priceCost(mini, 1, 0)).toBe(1); // 0.15 µ$ → 1 µ$, not 0
    expect(priceCost(mini, 1_000, 500)).toBe(450);
    expect(priceCost(mini, 1_000_000, 0)).toBe(150_000);
    expect(priceCost(mini, 0, 0)).toBe(0);
  });

  it('applies the markup before the single rounding', () => {
    expect(priceCost(price(1_000_000, 0, 3_100), 1, 0)).toBe(2); // 1.31 µ$
    expect(priceCost(price(1_000_000, 0, 3_100), 100, 0)).toBe(131);
    expect(priceCost(price(3_000_000, 15_000_000, 3_100), 1_234, 567)).toBe(Math.ceil((1_234 * 3 + 567 * 15) * 1.31 - 1e-9));
  });

  it('stays exact beyond 2^53 intermediate products (BigInt path)', () => {
    const opus = price(15_000_000, 75_000_000, 3_100);
    // 2M in + 1M out tokens: (3e13 + 7.5e13) × 13 100 = 1.3755e18 > 2^53.
    expect(priceCost(opus, 2_000_000, 1_000_000)).toBe(137_550_000);
    expect(priceCost(opus, 2_000_001, 1_000_000)).toBe(137_550_020); // 19.65 µ$ more, rounded up
  });
});

describe.each(DIALECTS)('price cache on %s', (dialect) => {
  let db: TestDb;
  let a: Container;
  let b: Container;
  let bStorage: Storage | undefined;
  const log = createLogger({ level: 'silent' });

  beforeAll(async () => {
    db = await makeTestDb(dialect);
    a = await createContainer(testConfig({ INVALIDATION_POLL_MS: '50' }), { storage: db.storage, skipMigrations: true, logger: log });
    // Another node: its own connection pool on the same PostgreSQL (SQLite: the same handle, one node).
    bStorage = dialect === 'postgres' ? openStorage({ kind: 'postgres', url: db.url }) : undefined;
    b = await createContainer(testConfig({ INVALIDATION_POLL_MS: '50' }), { storage: bStorage ?? db.storage, skipMigrations: true, logger: log });
    await a.start();
    await b.start();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await bStorage?.close();
    await db?.close();
  });

  it('is seeded with list prices and reloads on every node after a change', async () => {
    expect(await b.gov.pricing.get('openai', 'gpt-4o-mini')).toMatchObject({ input_micros_per_m: 150_000, output_micros_per_m: 600_000 });
    expect(await b.gov.pricing.get('gemini', 'gemini-2.5-pro')).toMatchObject({ input_micros_per_m: 1_250_000 });
    await a.gov.pricing.upsert({ provider: 'openai', model: 'gpt-4o-mini', input_micros_per_m: 1, output_micros_per_m: 2, markup_bp: 0 }, { actor: 'test' });
    await expect.poll(async () => (await b.gov.pricing.get('openai', 'gpt-4o-mini'))?.input_micros_per_m, { timeout: 3_000 }).toBe(1);
    await a.gov.pricing.remove('openai', 'gpt-4o-mini', { actor: 'test' });
    await expect.poll(async () => b.gov.pricing.get('openai', 'gpt-4o-mini'), { timeout: 3_000 }).toBeUndefined();
    await expect(b.gov.pricing.require('openai', 'gpt-4o-mini')).rejects.toMatchObject({ code: 'UNPRICED_MODEL', status: 409 });
  });
});
