import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner, type RunnerOptions } from '../../src/jobs/runner.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';
import { until } from './util.ts';

const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(DIALECTS)('job runner on %s', (dialect) => {
  let db: TestDb;
  let other: Storage; // a second connection/pool on the same database (another node)
  let file: string | undefined;
  const clock = new ManualClock(Date.UTC(2026, 4, 1));
  let seq = 0;
  const mk = (storage: Storage, o: Partial<RunnerOptions> = {}) =>
    new JobRunner(storage, clock, log, { nodeId: `node-${++seq}`, pollMs: 20, leaseMs: 1_000, concurrency: 4, maxAttempts: 5, backoffBaseMs: 1_000, backoffMaxMs: 60_000, ...o });
  const kind = () => `test.k${++seq}`;

  beforeAll(async () => {
    if (dialect === 'sqlite') {
      file = join(tmpdir(), `kaixu-jobs-${randomBytes(4).toString('hex')}.sqlite`);
      db = await makeTestDb('sqlite', { file });
      other = openStorage({ kind: 'sqlite', path: file });
    } else {
      db = await makeTestDb('postgres');
      other = openStorage({ kind: 'postgres', url: db.url });
    }
  });
  afterAll(async () => {
    await other?.close();
    await db?.close();
    if (file) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  });

  it('runs a job with its payload and records started/succeeded', async () => {
    const r = mk(db.storage);
    const k = kind();
    const seen: unknown[] = [];
    r.register<{ hello: string }>(k, async (p, ctx) => {
      seen.push([p, ctx.attempt]);
    });
    const { id, created } = await r.enqueue(k, { hello: 'world' });
    expect(created).toBe(true);
    expect(await r.runDue()).toBe(1);
    expect(seen).toEqual([[{ hello: 'world' }, 1]]);
    const job = (await r.store.get(id))!;
    expect(job).toMatchObject({ status: 'done', attempts: 1, lease_owner: null, finished_at: clock.now() });
    expect((await r.store.events(id)).map((e) => e.event)).toEqual(['started', 'succeeded']);
  });

  it('a job that fails twice then succeeds runs three times with growing delays', async () => {
    const r = mk(db.storage);
    const k = kind();
    let runs = 0;
    r.register(k, async () => {
      runs++;
      if (runs <= 2) throw new Error(`transient failure ${runs}`);
    });
    const { id } = await r.enqueue(k, {});
    const delays: number[] = [];
    for (let i = 0; i < 2; i++) {
      const before = clock.now();
      expect(await r.runDue()).toBe(1);
      const j = (await r.store.get(id))!;
      expect(j).toMatchObject({ status: 'queued', attempts: i + 1, last_error: `transient failure ${i + 1}` });
      delays.push(j.next_attempt_at - before);
      expect(await r.runDue()).toBe(0); // not due yet
      clock.set(j.next_attempt_at);
    }
    expect(await r.runDue()).toBe(1);
    expect(runs).toBe(3);
    expect((await r.store.get(id))!).toMatchObject({ status: 'done', attempts: 3 });
    // Equal-jitter exponential backoff: attempt n waits in [base·2^(n-1)/2, base·2^(n-1)).
    expect(delays[0]).toBeGreaterThanOrEqual(500);
    expect(delays[0]).toBeLessThan(1_000);
    expect(delays[1]).toBeGreaterThanOrEqual(1_000);
    expect(delays[1]).toBeLessThan(2_000);
    expect(delays[1]).toBeGreaterThan(delays[0]!);
    expect((await r.store.events(id)).map((e) => e.event)).toEqual(['started', 'failed', 'started', 'failed', 'started', 'succeeded']);
  });

  it('goes dead after max attempts; retry queues it again with fresh attempts', async () => {
    const r = mk(db.storage, { backoffBaseMs: 10 });
    const k = kind();
    let fail = true;
    r.register(k, async () => {
      if (fail) throw new Error('permanent');
    }, { maxAttempts: 2 });
    const { id } = await r.enqueue(k, {});
    await r.runDue();
    clock.advance(1_000);
    await r.runDue();
    expect((await r.store.get(id))!).toMatchObject({ status: 'dead', attempts: 2, last_error: 'permanent' });
    clock.advance(1_000);
    expect(await r.runDue()).toBe(0);
    expect(await r.retry('job_nope')).toBeNull();
    fail = false;
    expect((await r.retry(id))!).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await r.retry(id)).toBeNull(); // only dead jobs
    expect(await r.runDue()).toBe(1);
    expect((await r.store.get(id))!.status).toBe('done');
    expect((await r.store.events(id)).map((e) => e.event)).toEqual(['started', 'failed', 'started', 'dead', 'retried', 'started', 'succeeded']);
  });

  it('deduplicates by key and enqueues inside the caller transaction', async () => {
    const r = mk(db.storage);
    const k = kind();
    const a = await r.enqueue(k, { n: 1 }, { dedupeKey: `${k}:once` });
    const b = await r.enqueue(k, { n: 2 }, { dedupeKey: `${k}:once` });
    expect(b).toEqual({ id: a.id, created: false });

    await expect(
      db.storage.db.transaction().execute(async (trx) => {
        await r.enqueue(k, { n: 3 }, { dedupeKey: `${k}:rolled-back` }, trx);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    const committed = await db.storage.db.transaction().execute((trx) => r.enqueue(k, { n: 4 }, { dedupeKey: `${k}:committed` }, trx));
    const rows = await db.storage.db.selectFrom('jobs').select(['dedupe_key']).where('kind', '=', k).execute();
    expect(rows.map((x) => x.dedupe_key).sort()).toEqual([`${k}:committed`, `${k}:once`]);
    expect(committed.created).toBe(true);
  });

  it('two nodes claiming concurrently run each due job exactly once', async () => {
    const k = kind();
    const runs = new Map<string, number>();
    const byNode = new Map<string, number>();
    const handler = (node: string) => async (_p: unknown, ctx: { job: { id: string } }) => {
      runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
      byNode.set(node, (byNode.get(node) ?? 0) + 1);
      await sleep(2);
    };
    const a = mk(db.storage, { concurrency: 3 });
    const b = mk(other, { concurrency: 3 });
    a.register(k, handler('a'));
    b.register(k, handler('b'));
    const ids = [];
    for (let i = 0; i < 40; i++) ids.push((await a.enqueue(k, { i })).id);
    const [na, nb] = await Promise.all([a.runDue(), b.runDue()]);
    expect(na + nb).toBe(40);
    expect(ids.every((id) => runs.get(id) === 1)).toBe(true);
    const done = await db.storage.db.selectFrom('jobs').select('status').where('kind', '=', k).execute();
    expect(done.every((d) => d.status === 'done')).toBe(true);
  });

  it('a job whose owner died (lease expired) is claimed and run again elsewhere; the dead owner is fenced out', async () => {
    const k = kind();
    const r = mk(other);
    let ran = 0;
    r.register(k, async () => void ran++);
    const { id } = await r.enqueue(k, {});
    // Another process claims it and is killed before finishing: it never completes or renews.
    const [ghost] = await r.store.claim([k], 'ghost-node#1', 1, clock.now(), 1_000);
    expect(ghost!.id).toBe(id);
    expect(await r.runDue()).toBe(0); // lease still valid
    clock.advance(1_001);
    expect(await r.runDue()).toBe(1);
    expect(ran).toBe(1);
    expect((await r.store.get(id))!).toMatchObject({ status: 'done', attempts: 2 });
    expect(await r.store.succeed(ghost!, 'ghost-node#1', clock.now())).toBe(false);
    expect(await r.store.fail(ghost!, 'ghost-node#1', clock.now(), 'late', null)).toBe(false);
    expect((await r.store.get(id))!.status).toBe('done');
  });

  it('a job that kills its process on every attempt ends dead instead of looping', async () => {
    const k = kind();
    const r = mk(db.storage);
    r.register(k, async () => {});
    const { id } = await r.enqueue(k, {}, { maxAttempts: 2 });
    for (let i = 0; i < 2; i++) {
      await r.store.claim([k], `crash#${i}`, 1, clock.now(), 100);
      clock.advance(101);
    }
    await r.runDue();
    const j = (await r.store.get(id))!;
    expect(j.status).toBe('dead');
    expect(j.last_error).toContain('Lease expired');
  });

  it('schedules one job per slot across nodes', async () => {
    const k = kind();
    const slots: number[] = [];
    const a = mk(db.storage);
    const b = mk(other);
    for (const r of [a, b]) {
      r.register<{ slot: number }>(k, async ({ slot }) => void slots.push(slot));
      r.schedule(k, 60_000);
    }
    clock.set(Date.UTC(2026, 4, 2, 0, 0, 30));
    for (let i = 0; i < 3; i++) {
      await Promise.all([a.runDue(), b.runDue()]);
      await Promise.all([a.runDue(), b.runDue()]); // a second pass in the same slot adds nothing
      clock.advance(60_000);
    }
    const base = Date.UTC(2026, 4, 2);
    expect(slots.sort()).toEqual([base, base + 60_000, base + 120_000]);
    const rows = await db.storage.db.selectFrom('jobs').select('dedupe_key').where('kind', '=', k).orderBy('dedupe_key').execute();
    expect(rows.map((x) => x.dedupe_key)).toEqual([0, 1, 2].map((i) => `sched:${k}:${base + i * 60_000}`));
    // Routine recurring successes stay off the job event trail (and so off the timeline).
    expect(await db.storage.db.selectFrom('job_events').select('event').where('kind', '=', k).execute()).toEqual([]);
  });

  it('a failing scheduled job still records its failure', async () => {
    const k = kind();
    const r = mk(db.storage);
    r.register(k, async () => {
      throw new Error('sweep failed');
    });
    r.schedule(k, 3_600_000);
    await r.runDue();
    const ev = await db.storage.db.selectFrom('job_events').select(['event', 'error']).where('kind', '=', k).execute();
    expect(ev).toEqual([{ event: 'failed', error: 'sweep failed' }]);
  });

  it('runs jobs by itself once started, and hands unfinished work back on stop', async () => {
    const k = kind();
    const r = mk(db.storage, { pollMs: 10 });
    let release: () => void = () => {};
    const ran: string[] = [];
    r.register<{ mode: string }>(k, async ({ mode }, ctx) => {
      ran.push(mode);
      if (mode === 'stuck') await new Promise<void>((resolve) => (release = resolve)); // ignores its signal
      else if (mode === 'polite') await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    });
    r.start();
    const quick = await r.enqueue(k, { mode: 'quick' });
    await until(async () => (await r.store.get(quick.id))!.status === 'done', 3_000);
    const stuck = await r.enqueue(k, { mode: 'stuck' });
    await until(() => ran.includes('stuck'), 3_000);
    await r.stop(50);
    release();
    const j = (await r.store.get(stuck.id))!;
    expect(j).toMatchObject({ status: 'queued', attempts: 0, lease_owner: null });
    expect((await r.store.events(stuck.id)).map((e) => e.event)).toEqual(['started', 'released']);
  });

  it('a kind timeout aborts the handler and counts as a failed attempt', async () => {
    const k = kind();
    const r = mk(db.storage);
    r.register(k, (_p, ctx) => new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))), { timeoutMs: 30 });
    const { id } = await r.enqueue(k, {});
    await r.runDue();
    expect((await r.store.get(id))!).toMatchObject({ status: 'queued', attempts: 1, last_error: 'job timed out after 30 ms' });
  });
});
