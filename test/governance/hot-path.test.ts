import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createContainer, type Container } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import type { Admission } from '../../src/gateway/governance.ts';
import type { PostgresCapStore } from '../../src/governance/caps/postgres.ts';
import type { SettleWrite } from '../../src/governance/caps/types.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { openStorage } from '../../src/storage/db.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, rejection, TARGET, TEST_PRICE, usageRows, type GovApp } from './helpers.ts';

const settleInput = (input: number, output = 0) => ({ target: TARGET, usage: { input_tokens: input, output_tokens: output }, usageSource: 'provider' as const, status: 'ok' as const, latencyMs: 2 });

describe.each(DIALECTS)('governance hot path on %s', (dialect) => {
  let t: GovApp;
  beforeAll(async () => {
    t = await makeGovApp(dialect);
  });
  afterAll(async () => t?.close());

  const admitN = async (key: string, n: number) => {
    const auth = await t.auth(key);
    const out: Admission[] = [];
    for (let i = 0; i < n; i++) out.push(await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    return out;
  };

  it('settles arriving together share one commit; each is written before it resolves and sees its own running total', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 0 });
    const admissions = await admitN(key, 24);
    const before = { ...t.c.gov.caps.batchStats };
    const barriers = dialect === 'postgres' ? (t.c.gov.caps as PostgresCapStore).barriers : 0;
    const db = t.c.storage.db;
    const results = await Promise.all(
      admissions.map(async (a, i) => {
        const r = await a.settle(settleInput(100 + i));
        // Resolved ⇒ committed: the call's usage event is there.
        const ev = await db.selectFrom('usage_events').select('cost_micros').where('customer_id', '=', customer.id).where('input_tokens', '=', 100 + i).execute();
        expect(ev).toHaveLength(1);
        return r;
      }),
    );
    const after = t.c.gov.caps.batchStats;
    expect(after.items - before.items).toBe(24);
    expect(after.batches - before.batches).toBeLessThan(24);
    // PostgreSQL: other calls were in flight, so batches committed without holding the month rows
    // through the disk flush and a shared barrier made them durable before anyone was answered.
    if (dialect === 'postgres') expect((t.c.gov.caps as PostgresCapStore).barriers - barriers).toBeGreaterThan(0);
    // As if applied one after another: sorted by the spend each saw, every step adds that call's cost.
    const seen = results.map((r) => ({ cost: r.cost_micros, spent: Math.round(r.month.spent_cents * 10_000), kSpent: Math.round(r.month.key_spent_cents * 10_000) })).sort((a, b) => a.spent - b.spent);
    expect(seen[0]!.spent).toBe(seen[0]!.cost);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.spent).toBe(seen[i - 1]!.spent + seen[i]!.cost);
    for (const s of seen) expect(s.kSpent).toBe(s.spent);
    const u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: seen.at(-1)!.spent, reserved: 0, calls: 24, eventCost: seen.at(-1)!.spent });
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-01')).ok).toBe(true);
  });

  it('soft-cap calls count as in flight too: their settles arriving together share commits', async () => {
    // A soft-cap call holds no reservation; the stores must still see it in flight, or every one
    // of its settles is written alone (SQLite) and commits while holding the month rows its
    // neighbours' admissions wait for (PostgreSQL).
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1000, cap_mode: 'soft', rpm_limit: 0 });
    const admissions = await admitN(key, 24);
    expect(await t.c.gov.caps.reservations({ customerId: customer.id })).toEqual([]);
    const before = { ...t.c.gov.caps.batchStats };
    const barriers = dialect === 'postgres' ? (t.c.gov.caps as unknown as PostgresCapStore).barriers : 0;
    await Promise.all(admissions.map((a, i) => a.settle(settleInput(100 + i))));
    const after = t.c.gov.caps.batchStats;
    expect(after.items - before.items).toBe(24);
    if (dialect === 'sqlite') expect(after.batches - before.batches).toBeLessThan(24);
    else expect((t.c.gov.caps as unknown as PostgresCapStore).barriers - barriers).toBeGreaterThan(0);
    expect(await usageRows(t, customer.id)).toMatchObject({ reserved: 0, calls: 24 });
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-01')).ok).toBe(true);
  });

  it.runIf(dialect === 'sqlite')('a soft-cap call stops counting when it ends, or at the sweep when its end never comes', async () => {
    const { key } = await t.createCustomer({ monthly_cap_cents: 1000, cap_mode: 'soft', rpm_limit: 0 });
    const loneSettleIsImmediate = async () => {
      const [a] = await admitN(key, 1);
      const before = t.c.gov.caps.batchStats.batches;
      let turnEnded = false;
      setImmediate(() => (turnEnded = true));
      await a!.settle(settleInput(5));
      return !turnEnded && t.c.gov.caps.batchStats.batches - before === 1;
    };
    expect(await loneSettleIsImmediate()).toBe(true);
    // Released without a settle: no longer in flight.
    const [released] = await admitN(key, 1);
    await released!.release();
    expect(await loneSettleIsImmediate()).toBe(true);
    // Abandoned (neither settled nor released): in flight until the sweep after its TTL.
    await admitN(key, 1);
    expect(await loneSettleIsImmediate()).toBe(false);
    const start = t.clock.now();
    try {
      t.clock.advance(t.c.config.RESERVATION_TTL_MS + 1);
      expect(await t.c.gov.sweepExpiredReservations()).toBe(0); // nothing was held
      expect(await loneSettleIsImmediate()).toBe(true);
    } finally {
      t.clock.set(start);
    }
  });

  it('a lone settle is written at once, in a batch of its own', async () => {
    const { key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 0 });
    for (let i = 0; i < 3; i++) {
      const [a] = await admitN(key, 1);
      const before = { ...t.c.gov.caps.batchStats };
      const barriers = dialect === 'postgres' ? (t.c.gov.caps as PostgresCapStore).barriers : 0;
      let turnEnded = false;
      setImmediate(() => (turnEnded = true));
      await a!.settle(settleInput(10));
      // SQLite commits synchronously: no wait for the end of the event-loop turn. PostgreSQL:
      // one synchronous commit, no barrier round trip.
      if (dialect === 'sqlite') expect(turnEnded).toBe(false);
      else expect((t.c.gov.caps as PostgresCapStore).barriers).toBe(barriers);
      expect(t.c.gov.caps.batchStats.batches - before.batches).toBe(1);
      expect(t.c.gov.caps.batchStats.items - before.items).toBe(1);
    }
  });

  it.runIf(dialect === 'sqlite')('a lone settle commits inside the call and its promise is already resolved (no queue, no promise chain)', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 0 });
    const [a] = await admitN(key, 1);
    const [hold] = await t.c.gov.caps.reservations({ customerId: customer.id });
    const now = t.clock.now();
    const request_id = `req_lone_${randomBytes(4).toString('hex')}`;
    const before = { ...t.c.gov.caps.batchStats };
    const p = t.c.gov.caps.settle({
      callId: hold!.id,
      reservationId: hold!.id,
      customerId: customer.id,
      keyId,
      month: '2026-01',
      cost: 1_234,
      inputTokens: 3,
      outputTokens: 4,
      now,
      touchKey: true,
      event: { created_at: now, month: '2026-01', request_id, customer_id: customer.id, api_key_id: keyId, kind: 'chat', provider: TARGET.provider, model: TARGET.model, upstream_provider: TARGET.provider, upstream_model: TARGET.model, input_tokens: 3, output_tokens: 4, usage_source: 'provider', cost_micros: 1_234, status: 'ok', latency_ms: 1 },
    });
    // Before any microtask ran: the row is committed, and the promise is settled already (its
    // reaction runs in the very next microtask; a queued write would take more).
    const row = t.c.storage.sqlite!.prepare('select cost_micros from usage_events where request_id = ?').get(request_id);
    let ticks = 0;
    let out: unknown;
    void p.then((o) => (out = o));
    // Bounded: a settle that went to the queue waits for setImmediate, which microtasks starve.
    while (out === undefined && ticks < 20) {
      await null;
      ticks++;
    }
    expect(row).toEqual({ cost_micros: 1_234 });
    expect(ticks).toBe(1);
    await p;
    expect(await t.c.gov.caps.reservations({ customerId: customer.id })).toEqual([]);
    expect(out).toEqual({ cSpent: 1_234, extraCents: 0, kSpent: 1_234, released: hold!.amount });
    expect(t.c.gov.caps.batchStats.batches - before.batches).toBe(1);
    const k = await t.c.storage.db.selectFrom('api_keys').select('last_seen_at').where('id', '=', keyId).executeTakeFirstOrThrow();
    expect(Number(k.last_seen_at)).toBe(now);
    await a!.release(); // already settled through the store: nothing left to release
    expect(await usageRows(t, customer.id)).toMatchObject({ spent: 1_234, reserved: 0, calls: 1 });
  });

  it.runIf(dialect === 'sqlite')('a settle never joins (or is rolled back with) an open Kysely transaction', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 0 });
    const [a, b] = await admitN(key, 2);
    let settled: Promise<unknown> | undefined;
    await t.c.storage.db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable('customers').set({ plan: 'rolled-back' }).where('id', '=', customer.id).execute();
        settled = Promise.all([a!.settle(settleInput(7)), b!.settle(settleInput(9))]);
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await settled;
    expect(await usageRows(t, customer.id)).toMatchObject({ spent: 16, reserved: 0, calls: 2 });
    const c = await t.c.storage.db.selectFrom('customers').select('plan').where('id', '=', customer.id).executeTakeFirstOrThrow();
    expect(c.plan).not.toBe('rolled-back');
  });

  it('one bad call in a batch does not fail the others', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 0 });
    const admissions = await admitN(key, 5);
    const holds = await t.c.gov.caps.reservations({ customerId: customer.id });
    expect(holds).toHaveLength(5);
    const now = t.clock.now();
    const write = (i: number, bad: boolean): SettleWrite => ({
      callId: holds[i]!.id,
      reservationId: holds[i]!.id,
      customerId: customer.id,
      keyId,
      month: '2026-01',
      cost: 1_000 + i,
      inputTokens: 1,
      outputTokens: 1,
      now,
      touchKey: false,
      event: {
        created_at: now,
        month: '2026-01',
        request_id: (bad ? null : `req_batch_${i}`) as string, // NOT NULL: this one must fail
        customer_id: customer.id,
        api_key_id: keyId,
        kind: 'chat',
        provider: TARGET.provider,
        model: TARGET.model,
        upstream_provider: TARGET.provider,
        upstream_model: TARGET.model,
        input_tokens: 1,
        output_tokens: 1,
        usage_source: 'provider',
        cost_micros: 1_000 + i,
        status: 'ok',
        latency_ms: 1,
      },
    });
    const out = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => t.c.gov.caps.settle(write(i, i === 4))));
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect(t.c.gov.caps.batchStats.maxBatch).toBeGreaterThan(1);
    const u = await usageRows(t, customer.id);
    expect(u).toMatchObject({ spent: 1_000 + 1_001 + 1_002 + 1_003, calls: 4 });
    expect(u.events).toHaveLength(4);
    // The failed call keeps its hold (the sweeper would release it); release it now.
    expect(u.reservations.map((r) => r.id)).toEqual([holds[4]!.id]);
    await admissions[4]!.release();
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
    expect((await t.c.gov.usage.reconcile(customer.id, '2026-01')).ok).toBe(true);
  });

  it('a policy change made behind the cache (another node) applies on the next call: the reservation re-checks updated_at', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 1000, allowed_providers: ['testco'] });
    const auth = await t.auth(key);
    await (await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL)).release();
    const bump = async (table: 'customers' | 'api_keys', id: string, set: Record<string, unknown>) =>
      t.c.storage.db.updateTable(table).set({ ...set, updated_at: sql`updated_at + 1` } as never).where('id', '=', id).execute();

    await bump('customers', customer.id, { allowed_providers: JSON.stringify(['elsewhere']) });
    const e = await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL));
    expect(e).toMatchObject({ status: 403, code: 'PROVIDER_NOT_ALLOWED' });
    // The reload also refreshed the authenticator's cache.
    const cached = await t.c.keyAuth.authenticate(`Bearer ${key}`, { deferRevocationCheck: true });
    expect(cached.customer.allowed_providers).toEqual(['elsewhere']);

    await bump('customers', customer.id, { allowed_providers: null });
    await bump('api_keys', keyId, { rpm_limit: 2 }); // one call already counted this minute
    await (await t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL)).release();
    expect((await rejection(t.c.governance.admit(t.ctx(auth), ONE_CENT_CALL))).status).toBe(429);
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
  });

  it('deferRevocationCheck: the data plane skips the per-request query, revocation still holds at admission', async () => {
    const { customer, key, keyId } = await t.createCustomer({ monthly_cap_cents: 1000 });
    await t.auth(key);
    await t.c.storage.db.updateTable('api_keys').set({ revoked_at: t.clock.now() }).where('id', '=', keyId).execute();
    // Cached and not re-checked…
    const deferred = await t.c.keyAuth.authenticate(`Bearer ${key}`, { deferRevocationCheck: true });
    expect(deferred.key.id).toBe(keyId);
    // …so the reservation's own re-check refuses it, and nothing is held.
    expect(await rejection(t.c.governance.admit(t.ctx(deferred), ONE_CENT_CALL))).toMatchObject({ status: 401, code: 'INVALID_KEY' });
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
    // Without the option, several nodes (PostgreSQL) refuse at authentication already.
    if (dialect === 'postgres') expect((await rejection(t.c.keyAuth.authenticate(`Bearer ${key}`))).status).toBe(401);
  });

  it.runIf(dialect === 'postgres')('admission with a known device and PostgreSQL rate limits is one round trip; a lone settle another', async () => {
    const { key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 100, max_devices_per_key: 2 });
    const auth = await t.auth(key);
    await (await t.c.governance.admit(t.ctx(auth, { installId: 'dev-rt' }), ONE_CENT_CALL)).release(); // registers the device
    const pool = t.c.storage.pool!;
    const bus = t.c.bus as unknown as { polling: boolean };
    while (bus.polling) await new Promise((r) => setTimeout(r, 1)); // so the poll below is a real one
    // Earlier changes (this node's own included) are dispatched now and the caches refilled,
    // not in the middle of the measured call.
    await t.c.bus.poll();
    await (await t.c.governance.admit(t.ctx(auth, { installId: 'dev-rt' }), ONE_CENT_CALL)).release();
    // Every statement, pool.query's or Kysely's, checks a client out of the pool first.
    // Background work on the same pool (the invalidation bus's poll, the monitor writer's flush)
    // is not the call's: it is told apart by its async stack; one poll runs during the call on purpose.
    let trips = 0;
    let background = 0;
    const c = pool.connect.bind(pool);
    pool.connect = ((...a: unknown[]) => {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 100;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (/InvalidationBus\.poll|MonitorWriter\./.test(stack)) background++;
      else trips++;
      return (c as (...x: unknown[]) => unknown)(...a);
    }) as typeof pool.connect;
    try {
      const polled = t.c.bus.poll();
      const a = await t.c.governance.admit(t.ctx(auth, { installId: 'dev-rt' }), ONE_CENT_CALL);
      await polled;
      expect(background).toBeGreaterThanOrEqual(1);
      expect(trips).toBe(1);
      expect(a.rateLimit).toMatchObject({ limit: 100, remaining: 97 });
      await a.settle(settleInput(5));
      expect(trips).toBe(2);
    } finally {
      pool.connect = c;
    }
  });
});

const ORDERS: [string, 'sqlite' | 'postgres', () => Record<string, string>, string, boolean][] = [
  ['sqlite (memory counters, folded)', 'sqlite', () => ({}), 'memory', true],
  ['postgres (PostgreSQL counters, folded)', 'postgres', () => ({}), 'postgres', true],
  ['postgres (Redis counters, separate step)', 'postgres', () => ({ REDIS_URL: inject('redisUrl'), REDIS_PREFIX: `kaixu-hp-${randomBytes(4).toString('hex')}:` }), 'redis', false],
];

describe.each(ORDERS)('order of checks with %s', (_name, dialect, env, backend, folded) => {
  let t: GovApp;
  beforeAll(async () => {
    t = await makeGovApp(dialect, env());
  });
  afterAll(async () => t?.close());

  it('device seat before rate limit before reservation: a refused device costs no rate-limit hit, a refused hit holds nothing', async () => {
    expect(t.c.gov.limiter.backend.name).toBe(backend);
    expect(t.c.gov.caps.foldsRate(t.c.gov.limiter)).toBe(folded);
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1000, rpm_limit: 2, max_devices_per_key: 1 });
    const auth = await t.auth(key);
    const admit = (installId: string) => t.c.governance.admit(t.ctx(auth, { installId }), ONE_CENT_CALL);
    await (await admit('dev-a')).release();
    expect((await rejection(admit('dev-b'))).code).toBe('DEVICE_LIMIT');
    const second = await admit('dev-a');
    expect(second.rateLimit).toMatchObject({ limit: 2, remaining: 0 });
    await second.release();
    expect((await rejection(admit('dev-a'))).status).toBe(429);
    expect((await usageRows(t, customer.id)).reserved).toBe(0);
    expect(await t.c.gov.caps.reservations({ customerId: customer.id })).toHaveLength(0);
  });
});

describe('SQLite holds live in the gateway process', () => {
  let db: TestDb;
  let file: string;
  const clock = new ManualClock(Date.UTC(2026, 0, 15, 12));
  const open = async (storage = db.storage): Promise<Container> => {
    const c = await createContainer(testConfig({ JOBS_ENABLED: 'false' }), { storage, skipMigrations: true, clock, logger: createLogger({ level: 'silent' }) });
    await c.gov.pricing.upsert(TEST_PRICE, { actor: 'test' });
    return c;
  };
  beforeAll(async () => {
    file = join(tmpdir(), `kaixu-holds-${randomBytes(4).toString('hex')}.sqlite`);
    db = await makeTestDb('sqlite', { file });
  });
  afterAll(async () => {
    await db?.close();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  });

  it('held amounts show in the usage views; two handles on one file share them; a restart drops them (= released)', async () => {
    const a = await open();
    const { customer, master } = await a.customers.create({ email: 'holds@example.com', monthly_cap_cents: 1 }, { actor: 'test' });
    const ctx = async (c: Container) => ({
      auth: await c.keyAuth.authenticate(`Bearer ${master.key}`),
      requestId: `req_h_${randomBytes(3).toString('hex')}`,
      publicProvider: TARGET.provider,
      publicModel: TARGET.model,
      ip: '198.51.100.1',
      kind: 'chat' as const,
    });
    await a.governance.admit(await ctx(a), ONE_CENT_CALL); // never settled: the process "crashes"
    const rollup = (await a.gov.usage.customerMonth(customer.id, '2026-01')).rollup;
    expect(rollup.reserved_cents).toBe(1);
    const row = await db.storage.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', customer.id).executeTakeFirst();
    expect(Number(row?.reserved_micros ?? 0)).toBe(0); // nothing written for a hold

    const second = openStorage({ kind: 'sqlite', path: file });
    const b = await open(second);
    expect((await rejection(b.governance.admit(await ctx(b), ONE_CENT_CALL))).status).toBe(402);
    await b.close();
    await second.close();
    await a.close();

    const c = await open();
    const adm = await c.governance.admit(await ctx(c), ONE_CENT_CALL);
    await adm.settle(settleInput(4_000, 6_000));
    expect((await c.gov.usage.customerMonth(customer.id, '2026-01')).rollup).toMatchObject({ spent_cents: 1, reserved_cents: 0, calls: 1 });
    await c.close();
  });

  it('a settle appends 5 WAL frames: the event and its two indexes, one page per monthly total', async () => {
    const c = await open();
    const { master } = await c.customers.create({ email: 'frames@example.com', monthly_cap_cents: 1000 }, { actor: 'test' });
    const ctx = async () => ({ auth: await c.keyAuth.authenticate(`Bearer ${master.key}`), requestId: `req_f_${randomBytes(3).toString('hex')}`, publicProvider: TARGET.provider, publicModel: TARGET.model, ip: '198.51.100.2', kind: 'chat' as const });
    const h = db.storage.sqlite!;
    // The first settle of the month creates the monthly rows and touches the key's last_seen_at.
    await (await c.governance.admit(await ctx(), ONE_CENT_CALL)).settle(settleInput(10));
    const frames: number[] = [];
    for (let i = 0; i < 3; i++) {
      const adm = await c.governance.admit(await ctx(), ONE_CENT_CALL);
      h.pragma('wal_checkpoint(TRUNCATE)'); // an empty WAL: what follows is this settle's commit alone
      await adm.settle(settleInput(10 + i));
      frames.push((h.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log);
    }
    // Was 7 with the unused request_id index (migration 006), 6 with AUTOINCREMENT's id counter
    // in sqlite_sequence (migration 008).
    expect(frames).toEqual([5, 5, 5]);
    await c.close();
  });
});
