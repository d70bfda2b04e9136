import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MemoryRateBackend } from '../../src/governance/rate-limit/memory.ts';
import { PostgresRateBackend } from '../../src/governance/rate-limit/postgres.ts';
import { RedisRateBackend } from '../../src/governance/rate-limit/redis.ts';
import { createRateLimiter, RateLimiter } from '../../src/governance/rate-limit/limiter.ts';
import type { RateLimitBackend } from '../../src/governance/rate-limit/types.ts';
import { allows, report, windowSpec } from '../../src/governance/rate-limit/window.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, rejection, type GovApp } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const silent = createLogger({ level: 'silent' });

describe('sliding window arithmetic', () => {
  it('weights the previous window by the part of it still inside the last 60 s', () => {
    const s = windowSpec('k', 'minute', 10, T0 + 15_000); // 25 % into the window → prev weight 0.75
    expect(s).toMatchObject({ start: T0, prevStart: T0 - 60_000, wnum: 45_000, wden: 60_000 });
    expect(allows(s, { prev: 8, cur: 3 })).toBe(true); // floor(6) + 3 = 9 < 10
    expect(allows(s, { prev: 8, cur: 4 })).toBe(false); // 6 + 4 = 10
    expect(report(s, { prev: 8, cur: 4 }, true)).toMatchObject({ remaining: 0, resetS: 45 });
  });

  it('computes when a refused client may retry', () => {
    const full = windowSpec('k', 'minute', 5, T0 + 10_000);
    // 5 in this window: wait for the next window, then until 5 × weight < 5 → just after it starts.
    expect(report(full, { prev: 0, cur: 5 }, false).retryAfterMs).toBe(50_001);
    const decaying = windowSpec('k', 'minute', 5, T0 + 10_000);
    // prev 10 at weight 5/6 → 8; need floor(10 × (60−e)/60) < 5 − 1 = 4 → e > 36 s → 26 s more.
    expect(report(decaying, { prev: 10, cur: 1 }, false).retryAfterMs).toBe(26_001);
    expect(allows(windowSpec('k', 'minute', 5, T0 + 36_001), { prev: 10, cur: 1 })).toBe(true);
    expect(allows(windowSpec('k', 'minute', 5, T0 + 35_999), { prev: 10, cur: 1 })).toBe(false);
  });
});

type Factory = () => Promise<{ a: RateLimitBackend; b: RateLimitBackend; close(): Promise<void> }>;

const backends: [string, Factory][] = [
  [
    'memory',
    async () => {
      const m = new MemoryRateBackend();
      return { a: m, b: m, close: async () => undefined };
    },
  ],
  [
    'postgres',
    async () => {
      const db1: TestDb = await makeTestDb('postgres');
      const db2 = await import('../../src/storage/db.ts').then((m) => m.openStorage({ kind: 'postgres', url: db1.url }));
      return {
        a: new PostgresRateBackend(db1.storage.pool!, db1.storage.db),
        b: new PostgresRateBackend(db2.pool!, db2.db),
        close: async () => {
          await db2.close();
          await db1.close();
        },
      };
    },
  ],
  [
    'redis',
    async () => {
      const prefix = `kaixu-test-${randomBytes(4).toString('hex')}:`;
      const a = new RedisRateBackend(inject('redisUrl'), prefix);
      const b = new RedisRateBackend(inject('redisUrl'), prefix);
      await a.start();
      await b.start();
      return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
  ],
];

describe.each(backends)('rate-limit backend %s', (_name, factory) => {
  let env: Awaited<ReturnType<Factory>>;
  let la: RateLimiter;
  let lb: RateLimiter;
  beforeAll(async () => {
    env = await factory();
    la = new RateLimiter(env.a, null, silent);
    lb = new RateLimiter(env.b, null, silent);
  });
  afterAll(async () => env?.close());
  const subject = () => `key_${randomBytes(6).toString('hex')}`;

  it('RPM 5: five pass, the sixth is refused with a retry time, refused hits are not counted', async () => {
    const k = subject();
    for (let i = 0; i < 5; i++) {
      const d = await la.hit(k, { rpm: 5, rpd: null }, T0 + 1000 + i);
      expect(d).toMatchObject({ allowed: true, info: { limit: 5, remaining: 4 - i, scope: 'minute', policy: '5;w=60' } });
    }
    const refused = await la.hit(k, { rpm: 5, rpd: null }, T0 + 2000);
    expect(refused).toMatchObject({ allowed: false, info: { remaining: 0 } });
    expect(refused!.retryAfterS).toBeGreaterThanOrEqual(58);
    // Next window: the 5 hits now weigh (60−e)/60; at e = 1 s floor(4.9) = 4 → exactly one more fits.
    expect((await la.hit(k, { rpm: 5, rpd: null }, T0 + 61_000))!.allowed).toBe(true);
    expect((await la.hit(k, { rpm: 5, rpd: null }, T0 + 61_001))!.allowed).toBe(false);
  });

  it('two nodes share one count', async () => {
    const k = subject();
    const results = [];
    for (let i = 0; i < 6; i++) results.push((await (i % 2 ? lb : la).hit(k, { rpm: 5, rpd: null }, T0 + 100 + i))!.allowed);
    expect(results).toEqual([true, true, true, true, true, false]);
  });

  it('RPD is enforced, and a refusal by one window counts in none', async () => {
    const k = subject();
    const lim = { rpm: 10, rpd: 3 };
    for (let i = 0; i < 3; i++) expect((await la.hit(k, lim, T0 + i))!.allowed).toBe(true);
    const d = await la.hit(k, lim, T0 + 10);
    expect(d).toMatchObject({ allowed: false, info: { scope: 'day', limit: 3, remaining: 0 } });
    expect(d!.retryAfterS).toBeGreaterThan(3600);
    // The minute window did not count the refused hit: 7 more fit this minute once the day allows.
    const min = await la.hit(k, { rpm: 10, rpd: null }, T0 + 20);
    expect(min).toMatchObject({ allowed: true, info: { remaining: 6 } });
  });

  it('check-and-count is atomic under concurrency', async () => {
    const k = subject();
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? lb : la).hit(k, { rpm: 12, rpd: null }, T0 + 5_000)));
    expect(all.filter((d) => d!.allowed)).toHaveLength(12);
  });
});

describe('backend selection', () => {
  let sq: TestDb;
  let pg: TestDb;
  beforeAll(async () => {
    [sq, pg] = await Promise.all([makeTestDb('sqlite'), makeTestDb('postgres')]);
  });
  afterAll(async () => {
    await sq?.close();
    await pg?.close();
  });

  it('auto: memory on SQLite, PostgreSQL on PostgreSQL, Redis when REDIS_URL is set', async () => {
    expect(createRateLimiter({ backend: 'auto', redisPrefix: 'x:' }, sq.storage, silent).backend.name).toBe('memory');
    expect(createRateLimiter({ backend: 'auto', redisPrefix: 'x:' }, pg.storage, silent).backend.name).toBe('postgres');
    const r = createRateLimiter({ backend: 'auto', redisUrl: inject('redisUrl'), redisPrefix: 'x:' }, pg.storage, silent);
    expect(r.backend.name).toBe('redis');
    await r.close();
  });

  it('never silently per-process with PostgreSQL; impossible choices fail at boot', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (s: string) => void lines.push(s) } });
    expect(createRateLimiter({ backend: 'memory', redisPrefix: 'x:' }, pg.storage, log).backend.name).toBe('memory');
    expect(lines.join('')).toMatch(/per process/);
    expect(() => createRateLimiter({ backend: 'postgres', redisPrefix: 'x:' }, sq.storage, silent)).toThrow(/PostgreSQL/);
    expect(() => createRateLimiter({ backend: 'redis', redisPrefix: 'x:' }, pg.storage, silent)).toThrow(/REDIS_URL/);
  });

  it('Redis down: falls back to the shared PostgreSQL counters (not memory) and warns', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (s: string) => void lines.push(s) } });
    const r = createRateLimiter({ backend: 'redis', redisUrl: 'redis://127.0.0.1:1', redisPrefix: 'x:' }, pg.storage, log);
    await r.start();
    const k = `key_${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 2; i++) expect((await r.hit(k, { rpm: 2, rpd: null }, T0))!.allowed).toBe(true);
    expect((await r.hit(k, { rpm: 2, rpd: null }, T0))!.allowed).toBe(false);
    const shared = new RateLimiter(new PostgresRateBackend(pg.storage.pool!, pg.storage.db), null, silent);
    expect((await shared.hit(k, { rpm: 2, rpd: null }, T0))!.allowed).toBe(false);
    expect(lines.join('')).toMatch(/using fallback/);
    await r.close();
  });
});

describe.each(DIALECTS)('rate limits in admission on %s', (dialect) => {
  let t: GovApp;
  beforeAll(async () => {
    t = await makeGovApp(dialect);
  });
  afterAll(async () => t?.close());

  it('RPM 5 on the key: the sixth call within the minute → 429 with Retry-After, nothing reserved', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 50 });
    const sub = await t.createKey(customer.id, { rpm_limit: 5 });
    const auth = await t.auth(sub.key);
    for (let i = 0; i < 5; i++) {
      const a = await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL);
      expect(a.rateLimit).toMatchObject({ limit: 5, remaining: 4 - i, scope: 'minute' });
      await a.release();
    }
    const e = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e.status).toBe(429);
    expect(e.message).toBe('Rate limit exceeded');
    expect(e.details.ratelimit).toMatchObject({ limit: 5, remaining: 0 });
    expect(Number(e.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    expect(e.headers['RateLimit-Remaining']).toBe('0');
    const rows = await t.c.gov.caps.reservations({ customerId: customer.id });
    expect(rows).toHaveLength(0);
    // The master key inherits the customer's 50 RPM.
    const m = await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL);
    expect(m.rateLimit).toMatchObject({ limit: 50 });
    await m.release();
    // A minute and a half later the sub key may call again.
    t.clock.advance(90_000);
    await (await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL)).release();
  });

  it('RPD from the customer is enforced (the seed never did)', async () => {
    const { key } = await t.createCustomer({ monthly_cap_cents: 1000, rpd_limit: 2 });
    const auth = await t.auth(key);
    for (let i = 0; i < 2; i++) await (await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL)).release();
    const e = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e.details.ratelimit).toMatchObject({ scope: 'day', limit: 2 });
  });

  it('a limit of 0 switches the limiter off for that key', async () => {
    const { key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 0 });
    const a = await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL);
    expect(a.rateLimit).toBeNull();
    await a.release();
  });
});
