import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import { HeartbeatService } from '../../src/heartbeat/heartbeat.ts';
import { probeHealth } from '../../src/heartbeat/probe.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';
import { fakeHealth } from './util.ts';

const INTERVAL = 60_000;

describe.each(DIALECTS)('heartbeat on %s', (dialect) => {
  let db: TestDb;
  let second: Storage;
  let file: string | undefined;
  let health: Awaited<ReturnType<typeof fakeHealth>>;
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 0, 0, 5));
  const nodes: Container[] = [];

  beforeAll(async () => {
    health = await fakeHealth();
    if (dialect === 'sqlite') file = join(tmpdir(), `kaixu-hb-${randomBytes(4).toString('hex')}.sqlite`);
    db = await makeTestDb(dialect, { file });
    second = dialect === 'sqlite' ? openStorage({ kind: 'sqlite', path: file! }) : openStorage({ kind: 'postgres', url: db.url });
    for (const [i, storage] of [db.storage, second].entries()) {
      const config = testConfig({ NODE_ID: `hb-node-${i}`, HEARTBEAT_INTERVAL: String(INTERVAL), HEARTBEAT_URL: health.url, HEARTBEAT_TIMEOUT_MS: '300' });
      nodes.push(await createContainer(config, { storage, skipMigrations: true, clock, logger: createLogger({ level: 'silent' }) }));
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await second?.close();
    await db?.close();
    await health?.close();
    if (file) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  });

  const beatAll = () => Promise.all(nodes.map((n) => n.jobs.runDue()));
  const records = () => db.storage.db.selectFrom('heartbeats').selectAll().orderBy('slot_start').execute();

  it('two nodes record exactly one heartbeat per interval', async () => {
    const hitsBefore = health.hits;
    for (let i = 0; i < 5; i++) {
      await beatAll();
      await beatAll();
      clock.advance(INTERVAL);
    }
    const rows = await records();
    expect(rows).toHaveLength(5);
    const start = Date.UTC(2026, 5, 1);
    expect(rows.map((r) => Number(r.slot_start))).toEqual([0, 1, 2, 3, 4].map((i) => start + i * INTERVAL));
    expect(rows.every((r) => Number(r.ok) === 1 && Number(r.http_status) === 200 && Number(r.db_ok) === 1 && r.error_type === null)).toBe(true);
    expect(health.hits - hitsBefore).toBe(5);
    const jobs = await db.storage.db.selectFrom('jobs').select(['status']).where('kind', '=', 'heartbeat').execute();
    expect(jobs).toHaveLength(5);
    expect(jobs.every((j) => j.status === 'done')).toBe(true);
  });

  it('records failures with their error type', async () => {
    const expectations: [typeof health.mode | 'closed', string][] = [
      ['http500', 'http'],
      ['badjson', 'parse'],
      ['dbdown', 'db'],
      ['hang', 'timeout'],
    ];
    for (const [mode, type] of expectations) {
      health.mode = mode as typeof health.mode;
      await beatAll();
      const last = (await records()).at(-1)!;
      expect([mode, Number(last.ok), last.error_type]).toEqual([mode, 0, type]);
      expect(last.error).toBeTruthy();
      clock.advance(INTERVAL);
    }
    health.mode = 'ok';
    const rows = await records();
    expect(rows.at(-4)!.http_status).toBe(500);
    expect(rows.at(-2)!.db_ok).toBe(0);
    expect(rows.at(-1)!.http_status).toBeNull();
  });

  it('records a network failure when nothing answers, and never two records for one slot', async () => {
    const closed = await fakeHealth();
    await closed.close();
    const svc = new HeartbeatService(db.storage, clock, createLogger({ level: 'silent' }), { intervalMs: INTERVAL, timeoutMs: 500, nodeId: 'probe', url: closed.url });
    const slot = Math.floor(clock.now() / INTERVAL) * INTERVAL;
    const out = await svc.beat(slot);
    expect(out.recorded).toBe(true);
    expect(out.result).toMatchObject({ ok: false, error_type: 'network', http_status: null, db_ok: true });
    expect((await svc.beat(slot)).recorded).toBe(false);
    expect((await records()).filter((r) => Number(r.slot_start) === slot)).toHaveLength(1);
    clock.advance(INTERVAL);
  });
});

describe.each(DIALECTS)('heartbeat API on %s', (dialect) => {
  let t: TestApp;
  let health: Awaited<ReturnType<typeof fakeHealth>>;
  const clock = new ManualClock(Date.UTC(2026, 6, 1, 12));
  let key: string;

  beforeAll(async () => {
    health = await fakeHealth();
    t = await makeTestApp(dialect, { clock, env: { HEARTBEAT_URL: health.url, HEARTBEAT_INTERVAL: '300000' } });
    key = (await t.createCustomer()).key;
    // 4 slots: ok, failed (http), ok, failed (parse) → 50 % uptime, newest is a failure.
    for (const mode of ['ok', 'http500', 'ok', 'badjson'] as const) {
      health.mode = mode;
      await t.c.jobs.runDue();
      clock.advance(300_000);
    }
    // One record older than 24 h is outside the window.
    await t.c.storage.db
      .insertInto('heartbeats')
      .values({ slot_start: clock.now() - 30 * 3_600_000, created_at: clock.now() - 30 * 3_600_000, ok: 0, db_ok: 0, http_status: null, response_ms: null, error: 'old', error_type: 'network', node_id: 'x' })
      .execute();
  });
  afterAll(async () => {
    await t?.close();
    await health?.close();
  });

  it('admin: 24 h history, uptime and failure streak', async () => {
    const res = await t.admin('GET', '/admin/api/heartbeat');
    expect(res.status).toBe(200);
    const j = (await res.json()) as {
      interval_ms: number;
      total: number;
      ok_count: number;
      uptime_pct: number;
      target: string;
      last: { ok: boolean; error_type: string; http_status: number };
      failures: { streak: number; last_ok: string };
      items: { ok: boolean; error_type: string | null }[];
    };
    expect(j).toMatchObject({ interval_ms: 300_000, total: 4, ok_count: 2, uptime_pct: 50, target: health.url });
    expect(j.last).toMatchObject({ ok: false, error_type: 'parse', http_status: 200 });
    expect(j.failures.streak).toBe(1);
    expect(j.items.map((i) => i.error_type)).toEqual(['parse', null, 'http', null]);
    const wide = (await (await t.admin('GET', '/admin/api/heartbeat?hours=48')).json()) as { total: number };
    expect(wide.total).toBe(5);
    expect((await t.admin('GET', '/admin/api/heartbeat?hours=0')).status).toBe(400);
    expect((await t.req('GET', '/admin/api/heartbeat')).status).toBe(401);
  });

  it.each(['/.netlify/functions/gateway-heartbeat-read', '/api/gateway-heartbeat-read'])('key holder reads the Live Monitor at %s', async (path) => {
    expect((await t.req('GET', path)).status).toBe(401);
    const auth = { authorization: `Bearer ${key}` };
    const res = await t.req('GET', path, { headers: auth });
    expect(res.status).toBe(200);
    const j = (await res.json()) as Record<string, unknown>;
    expect(j).toMatchObject({ ok: true, uptime_24h_pct: 50, failures: { streak: 1 }, last: { ok: false, http_ok: true, status: 200, error_type: 'parse' } });
    expect(j.history).toBeUndefined();
    const h = (await (await t.req('GET', `${path}?history=1`, { headers: auth })).json()) as { history: { items: { ts: string; ok: boolean; ms: number | null }[] } };
    expect(h.history.items).toHaveLength(4);
    expect(h.history.items[1]).toMatchObject({ ok: true });
    expect(typeof h.history.items[1]!.ms).toBe('number');
    expect((await t.req('GET', `${path}?bogus=1`, { headers: auth })).status).toBe(400);
  });
});

describe('heartbeat probe', () => {
  it('a failing direct database check is a db failure even when HTTP is fine', async () => {
    const health = await fakeHealth();
    try {
      const r = await probeHealth({ url: health.url, timeoutMs: 500, pingDb: () => Promise.reject(new Error('ECONNREFUSED')) });
      expect(r).toMatchObject({ ok: false, http_status: 200, db_ok: false, error_type: 'db', error: 'Database unreachable' });
      const slow = await probeHealth({ url: health.url, timeoutMs: 50, pingDb: () => new Promise(() => {}) });
      expect(slow).toMatchObject({ ok: false, db_ok: false, error_type: 'db' });
      const none = await probeHealth({ timeoutMs: 50, pingDb: async () => 1 });
      expect(none).toMatchObject({ ok: false, error_type: 'network' });
    } finally {
      await health.close();
    }
  });
});
