import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UsageQueries } from '../../src/metering/usage.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { startFakeOpenAI, type FakeUpstream } from '../fakes/index.ts';
import { freshPgUrl } from '../helpers/db.ts';
import { http, SECRETS, startGateway, tempDir, type Child } from '../foundation/proc.ts';

/**
 * Two real gateway processes on one PostgreSQL schema: the spend cap and the rate limit are
 * shared state, so neither node may let a customer past them (PostgreSQL and Redis counters).
 */
const REDIS_PREFIX = `kaixu-mp-${randomBytes(4).toString('hex')}:`;
const BACKENDS: [string, () => Record<string, string>][] = [
  ['postgres', () => ({ RATE_LIMIT_BACKEND: 'auto' })],
  ['redis', () => ({ REDIS_URL: inject('redisUrl'), REDIS_PREFIX })],
];

describe.each(BACKENDS)('two gateway processes on one PostgreSQL, rate limits in %s', { timeout: 120_000 }, (backend, extraEnv) => {
  let n1: Child & { url: string };
  let n2: Child & { url: string };
  let fake: FakeUpstream;
  let storage: Storage;
  let token = '';
  const dir = tempDir();
  const chat = (url: string, key: string, max_tokens = 6) =>
    fetch(`${url}/api/gateway-chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ provider: 'openai', model: 'cent-model', messages: [{ role: 'user', content: 'hi there' }], max_tokens }),
    });
  const customer = async (body: Record<string, unknown>) => {
    const c = await http(n1.url, 'POST', '/admin/api/customers', { token, body: { email: `mp-${randomBytes(4).toString('hex')}@example.com`, ...body } });
    expect(c.status).toBe(201);
    return { id: c.json.customer.id as string, key: c.json.master_key.key as string };
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    const url = await freshPgUrl();
    const env = {
      ...SECRETS,
      DATABASE_URL: url,
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      JOBS_ENABLED: 'false',
      OPENAI_BASE_URL: fake.baseUrl,
      OPENAI_API_KEY: fake.apiKey,
      ...extraEnv(),
    };
    [n1, n2] = await Promise.all([startGateway({ ...env, NODE_ID: 'gov-1' }), startGateway({ ...env, NODE_ID: 'gov-2' })]);
    token = (await http(n1.url, 'POST', '/admin/api/login', { body: { password: SECRETS.ADMIN_PASSWORD } })).json.token;
    // 2 000 µ$ per output token, input free: a call bounded by max_tokens 6 reserves 1.2 ¢.
    const put = await http(n1.url, 'PUT', '/admin/api/pricing', { token, body: { provider: 'openai', model: 'cent-model', input_micros_per_m: 0, output_micros_per_m: 2_000_000_000 } });
    expect(put.status).toBe(200);
    storage = openStorage({ kind: 'postgres', url }, { poolMax: 2 });
  });
  afterAll(async () => {
    await Promise.all([n1?.stop(), n2?.stop()]);
    await storage?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('RPM 5 shared by both nodes: the sixth call → 429 with Retry-After', async () => {
    const c = await customer({ rpm_limit: 5, monthly_cap_cents: 1000 });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) {
      last = await chat(i % 2 ? n2.url : n1.url, c.key);
      statuses.push(last.status);
      await last.text();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The counters live where the backend says: Redis keys, or PostgreSQL rows.
    if (backend === 'redis') {
      const r = new Redis(inject('redisUrl'));
      expect((await r.keys(`${REDIS_PREFIX}rl:*`)).length).toBeGreaterThan(0);
      r.disconnect();
    } else {
      expect((await storage.db.selectFrom('rate_limit_windows').selectAll().execute()).length).toBeGreaterThan(0);
    }
  });

  it.runIf(backend === 'postgres')('200 concurrent ~1¢ calls across both nodes against a 10¢ cap: spend ≤ cap, one event per answer, the rest 402', async () => {
    const c = await customer({ monthly_cap_cents: 10, rpm_limit: 0 });
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await chat(i % 2 ? n2.url : n1.url, c.key);
        const j = (await res.json()) as { error?: string };
        return { status: res.status, error: j.error };
      }),
    );
    const ok = results.filter((r) => r.status === 200).length;
    expect([...new Set(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.error}`))]).toEqual(['402 Monthly cap reached']);
    expect(ok).toBeGreaterThanOrEqual(8);
    const usage = new UsageQueries(storage.db);
    const month = await usage.customerMonth(c.id, new Date().toISOString().slice(0, 7));
    expect(month.rollup.spent_micros).toBeLessThanOrEqual(100_000);
    expect(month.rollup.calls).toBe(ok);
    expect(month.rollup.reserved_cents).toBe(0);
    const rec = await usage.reconcile(c.id, new Date().toISOString().slice(0, 7));
    expect(rec.ok).toBe(true);
    expect(rec.customer.events_calls).toBe(ok);
    expect(await storage.db.selectFrom('reservations').selectAll().where('customer_id', '=', c.id).execute()).toHaveLength(0);
  });
});
