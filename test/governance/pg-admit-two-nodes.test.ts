import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import type { Admission } from '../../src/gateway/governance.ts';
import type { PostgresCapStore } from '../../src/governance/caps/postgres.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { makeGovApp, ONE_CENT_CALL, TARGET, usageRows, type GovApp } from './helpers.ts';

/**
 * Two nodes on one PostgreSQL database admitting calls of one customer's two keys at the same
 * moment: each node batches its calls per key (pg-admit.ts), and migration 009's kaixu_admit_batch
 * decides a whole batch in memory after locking its rows once. The batches of both nodes race for
 * the same rate-limit windows and month rows. Whatever the interleaving, the split between rate
 * limit, cap and reservation must be the serial one, no deadlock may surface as an error, and the
 * ledger must reconcile. The second test races both nodes' settle batches over two customers and
 * four keys: none may be refused and retried. (pg-admit-batch-once.test.ts pins each batch to the
 * serial function; multi-process.test.ts races two processes over HTTP without looking at the
 * batches.)
 */
describe('two nodes batching admissions and settles at once (PostgreSQL)', () => {
  let a: GovApp;
  let storageB: Storage;
  let b: Container;
  beforeAll(async () => {
    a = await makeGovApp('postgres');
    storageB = openStorage({ kind: 'postgres', url: a.db.url }, { poolMax: 10 });
    // The second node: its own pool, cap store and batcher on the same database and clock.
    b = await createContainer(testConfig({ TRUST_PROXY: 'true' }), { storage: storageB, skipMigrations: true, clock: a.clock, logger: createLogger({ level: 'silent' }) });
    await b.start();
  });
  afterAll(async () => {
    await b?.close();
    await storageB?.close(); // passed in, so node B's container does not close it
    await a?.close();
  });

  const PER_KEY_PER_NODE = 30;
  const outcome = (p: Promise<Admission>) =>
    p.then(
      (adm) => ({ code: 'ok', adm }),
      (e: { code?: string; message?: string }) => ({ code: e.code ?? `unexpected: ${e.message}`, adm: null }),
    );
  const admitter = (c: Container) => (c.gov.caps as unknown as PostgresCapStore).admitter;

  /** Every node sends PER_KEY_PER_NODE calls of every key at once; `settleAtOnce` settles each as soon as it is admitted. */
  async function wave(keys: string[], settleAtOnce: boolean) {
    const nodes = [a.c, b];
    const before = nodes.map((n) => ({ ...admitter(n).stats }));
    const senders = await Promise.all(nodes.flatMap((node) => keys.map(async (key) => ({ node, auth: await node.keyAuth.authenticate(`Bearer ${key}`) }))));
    // All in one tick: the first call of each node and key goes alone, the rest batch behind it.
    const calls: Promise<{ code: string; adm: Admission | null }>[] = [];
    for (let i = 0; i < PER_KEY_PER_NODE; i++) {
      for (const { node, auth } of senders) {
        const r = outcome(node.governance.admit(a.ctx(auth), ONE_CENT_CALL));
        calls.push(settleAtOnce ? r.then(async (o) => (o.adm && (await settle(o.adm)), o)) : r);
      }
    }
    const results = await Promise.all(calls);
    const count = (c: string) => results.filter((r) => r.code === c).length;
    const batches = nodes.map((n, i) => ({ statements: admitter(n).stats.statements - before[i]!.statements, admissions: admitter(n).stats.admissions - before[i]!.admissions }));
    return { results, split: { ok: count('ok'), cap: count('CAP_REACHED'), rate: count('RATE_LIMITED'), other: results.length - count('ok') - count('CAP_REACHED') - count('RATE_LIMITED') }, batches };
  }

  // 3 000 tokens in, 5 000 out at 1 µ$ per token: each call spends 0.8 ¢ of its 1 ¢ hold.
  const settle = (adm: Admission) => adm.settle({ target: TARGET, usage: { input_tokens: 3_000, output_tokens: 5_000 }, usageSource: 'provider', status: 'ok', latencyMs: 1 });

  async function windows(keyIds: string[]) {
    const rows = await a.c.storage.db.selectFrom('rate_limit_windows').select(['bucket', 'count']).execute();
    return keyIds.map((k) =>
      rows
        .filter((w) => w.bucket.includes(k))
        .map((w) => Number(w.count))
        .sort((x, y) => x - y),
    );
  }

  it('the split is the serial one on both waves, holds and spend never pass the cap, and the ledger reconciles', async () => {
    const { customer, key, keyId } = await a.createCustomer({ monthly_cap_cents: 20, rpm_limit: 25, rpd_limit: 1000 });
    const second = await a.createKey(customer.id);
    const keys = [key, second.key];
    const keyIds = [keyId, second.keyId];

    // Wave 1, holds only: per key 25 of 60 calls pass the RPM (both nodes count the same windows),
    // and 20 of those 50 fit the 20 ¢ cap at a 1 ¢ hold each.
    const w1 = await wave(keys, false);
    expect(w1.split).toEqual({ ok: 20, cap: 30, rate: 70, other: 0 });
    for (const n of w1.batches) {
      expect(n.admissions).toBe(2 * PER_KEY_PER_NODE);
      expect(n.statements).toBeLessThan(n.admissions / 4); // batched, on both nodes
    }
    expect(await windows(keyIds)).toEqual([
      [25, 25],
      [25, 25],
    ]); // each key's minute and day
    let u = await usageRows(a, customer.id);
    expect({ reserved: u.reserved, reservations: u.reservations.length, spent: u.spent }).toEqual({ reserved: 20 * 10_000, reservations: 20, spent: 0 });

    // Each node settles the calls it admitted, all at once.
    await Promise.all(w1.results.map((r) => r.adm && settle(r.adm)));
    u = await usageRows(a, customer.id);
    expect({ reserved: u.reserved, spent: u.spent, calls: u.calls, events: u.events.length }).toEqual({ reserved: 0, spent: 20 * 8_000, calls: 20, events: 20 });

    // Wave 2, two minutes on (the RPM window slides: the previous minute still weighs in the next
    // one), every admitted call settled at once while the others are still
    // being admitted: 4 ¢ are left, so whatever the order exactly 4 calls fit (after 4 settled
    // calls 19.2 ¢ are spent and a fifth 1 ¢ hold would pass the cap; held ones count in full).
    a.clock.advance(120_000);
    const w2 = await wave(keys, true);
    expect(w2.split).toEqual({ ok: 4, cap: 46, rate: 70, other: 0 });
    expect(await windows(keyIds)).toEqual([
      [25, 25, 50],
      [25, 25, 50],
    ]); // the first wave's minute, this one's, the day
    u = await usageRows(a, customer.id);
    expect({ reserved: u.reserved, reservations: u.reservations.length, spent: u.spent, calls: u.calls, events: u.events.length }).toEqual({ reserved: 0, reservations: 0, spent: 24 * 8_000, calls: 24, events: 24 });
    expect(u.eventCost).toBe(u.spent);
    const rec = await a.c.gov.usage.reconcile(customer.id, '2026-01');
    expect(rec.ok).toBe(true);
    for (const n of [a.c, b]) expect(admitter(n).activeGroups).toBe(0);
  });

  it('settle batches spanning two customers and four keys race on both nodes: no deadlock, no batch retried, exact ledgers', async () => {
    const customers = await Promise.all(
      [0, 1].map(async () => {
        const { customer, key } = await a.createCustomer({ monthly_cap_cents: 100_000, rpm_limit: 0 });
        return { id: customer.id, keys: [key, (await a.createKey(customer.id)).key] };
      }),
    );
    // Each node's settle writes, counted where its batcher sends them: a batch the database refused
    // (a deadlock among them) is retried call by call, which shows as more writes than batches.
    const spies = [a.c, b].map((n) => {
      const store = n.gov.caps as unknown as SettleStore;
      const write = store.writeBatch.bind(store);
      const spy = { writes: 0, batches: store.batchStats.batches, store };
      store.writeBatch = (ws) => (spy.writes++, write(ws));
      return spy;
    });
    const keys = customers.flatMap((c) => c.keys);
    // Each call settles as soon as it is admitted, so both nodes keep several settle batches (each
    // with calls of both customers and all four keys) on the wire while admissions go on. A settle
    // batch that locked the month rows out of their sorted order deadlocked against the other
    // node's in 3 of 6 runs of this test (checked with ORDER BY random() in kaixu_settle_batch): a
    // stress test, not a proof (pg-settle-lock-order.test.ts checks the order itself); with the
    // sorted order it has never retried a batch.
    const ROUNDS = 10;
    for (let round = 0; round < ROUNDS; round++) {
      const w = await wave(keys, true);
      expect(w.split).toEqual({ ok: keys.length * 2 * PER_KEY_PER_NODE, cap: 0, rate: 0, other: 0 });
    }
    for (const s of spies) {
      const batches = s.store.batchStats.batches - s.batches;
      expect(s.writes).toBe(batches);
      expect(batches).toBeLessThan((ROUNDS * keys.length * PER_KEY_PER_NODE) / 2); // settles were batched
    }
    const calls = ROUNDS * 2 * 2 * PER_KEY_PER_NODE; // per customer: two keys, two nodes
    for (const c of customers) {
      const u = await usageRows(a, c.id);
      expect({ spent: u.spent, reserved: u.reserved, calls: u.calls, events: u.events.length, eventCost: u.eventCost }).toEqual({ spent: calls * 8_000, reserved: 0, calls, events: calls, eventCost: calls * 8_000 });
      expect((await a.c.gov.usage.reconcile(c.id, '2026-01')).ok).toBe(true);
    }
  });
});

/** The PostgreSQL cap store's settle writer, as the spy above replaces it. */
interface SettleStore {
  writeBatch(ws: unknown[]): Promise<unknown[]>;
  batchStats: { batches: number };
}
