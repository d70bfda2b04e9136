import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../bench/gateway.ts';
import { LoadClient } from '../../bench/load-client.ts';
import { runPhases } from '../../bench/phases.ts';
import { renderReport } from '../../bench/report.ts';
import { dbCpuDeltaUs } from '../../bench/stats.ts';
import { gatewayRuntimes, openaiBody } from '../../bench/targets-setup.ts';
import { runChatCell, runStreamsCell } from '../../bench/workloads.ts';
import { runProfile } from '../../bench/profile-run.ts';
import { fixture } from './fixtures.ts';
import { startFakeOpenAI, type FakeUpstream } from '../fakes/index.ts';

/**
 * The bench's gateway setup (bench/gateway.ts) end to end: a real `kaixu serve` on SQLite, the
 * customer and key provisioned through the admin API, governance proven on, then a call. The cap
 * mode (`--cap-mode`) is the one the gateway itself reports for the customer at the end, in the
 * audit line the bench prints.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const MODEL = 'gpt-4o-mini';
const PG_ADMIN_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
let fake: FakeUpstream;

beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});

async function chat(gw: { url: string; key: string; installId: string }) {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gw.key}`, 'x-kaixu-install-id': gw.installId },
    body: openaiBody(MODEL, false),
  });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('bench gateway setup', () => {
  it.each(['hard', 'soft'] as const)('provisions a %s-cap customer with full governance and says so in its audit line', async (capMode) => {
    const gw = await startGateway({ kind: 'sqlite', root: ROOT, cores: null, upstreamBase: fake.baseUrl, upstreamKey: fake.apiKey, model: MODEL, pgAdminUrl: '', capMode });
    try {
      expect(gw.refusals).toContain('no install id → 400');
      const r = await chat(gw);
      expect(r.status).toBe(200);
      expect(r.body).toContain('"choices"');
      const line = await gw.finish();
      expect(line).toMatch(new RegExp(`^ledger 1 calls under ${capMode} caps, [0-9.]+ ¢ spent, 0 ¢ still reserved`));
    } finally {
      await gw.stop();
    }
  }, 90_000);

  it('the stream phases reach the end of each stream: the headers’ phases, then the trailer’s', async () => {
    const gw = await startGateway({ kind: 'sqlite', root: ROOT, cores: null, upstreamBase: fake.baseUrl, upstreamKey: fake.apiKey, model: MODEL, pgAdminUrl: '' });
    const load = await LoadClient.start(ROOT, null);
    // 7 frames (role, 3 pieces, finish, usage, [DONE]) 10 ms apart.
    fake.setDefault({ kind: 'ok', chunks: 3, chunkDelayMs: 10 });
    try {
      const [rt] = gatewayRuntimes('gw-sqlite', gw, MODEL);
      const row = await runPhases(load, rt!, 'stream', 500, 3);
      expect(row.error).toBeUndefined();
      expect(row.n).toBeGreaterThanOrEqual(3);
      const m = new Map(row.medianUs);
      expect([...m.keys()]).toEqual(['body', 'auth', 'parse', 'admit', 'upstream', 'respond', 'total', 'overhead', 'relay', 'settle', 'close', 'stream']);
      // Paced by the upstream: 6 × 10 ms from its first frame to its last, less however late the
      // first one left on a busy machine (the fake keeps its own clock).
      expect(m.get('relay')).toBeGreaterThanOrEqual(4 * 10_000);
      expect(m.get('settle')).toBeGreaterThan(0);
      // Each stream's = its relay + settle + close, so its median is at least the relay's.
      expect(m.get('stream')).toBeGreaterThanOrEqual(m.get('relay')!);
      // The unpaced cell on the same gateway: whole streams, 4 at a time, through full governance.
      fake.setDefault({ kind: 'ok', chunks: 3, chunkDelayMs: 0 });
      const [cell] = await runStreamsCell(load, [rt!], 4, 3, { windowMs: 400, warmupMs: 100, rounds: 2 }, () => {});
      expect(cell).toMatchObject({ target: 'gw-sqlite', status: { ok: true }, errors: 0 });
      expect(cell!.n).toBeGreaterThan(8);
      expect(cell!.cpuUsPerReq).toBeGreaterThan(0);
      expect(await gw.finish()).toMatch(/, 0 ¢ still reserved/);
    } finally {
      fake.setDefault({ kind: 'ok' });
      await load.stop();
      await gw.stop();
    }
  }, 90_000);

  it('on PostgreSQL a chat cell also charges the database: its backends’ CPU over the same windows, per request', async () => {
    const gw = await startGateway({ kind: 'postgres', root: ROOT, cores: null, upstreamBase: fake.baseUrl, upstreamKey: fake.apiKey, model: MODEL, pgAdminUrl: PG_ADMIN_URL });
    const load = await LoadClient.start(ROOT, null);
    try {
      const before = await gw.dbCpu!();
      expect(before!.size).toBeGreaterThan(0); // the pool's sessions, found by database name
      const [rt] = gatewayRuntimes('gw-pg', gw, MODEL);
      const [cell] = await runChatCell(load, [rt!], 16, { windowMs: 600, warmupMs: 200, rounds: 2 }, () => {});
      expect(cell!.status.ok).toBe(true);
      expect(cell!.n).toBeGreaterThan(50);
      // Every call is an admission and a share of a settle on the database: tens of µs at least,
      // never the tens of ms per call a wrong process or a lost unit would give.
      expect(cell!.dbCpuUsPerReq).toBeGreaterThan(10);
      expect(cell!.dbCpuUsPerReq).toBeLessThan(20_000);
      const row = renderReport({ ...fixture({ p50: 500, p99: 900, rps: 2000, cpu: 300, ttfb: 800, total: 111, alone: 990, rssGrowthMB: 20 }), chat: [cell!] })
        .split('\n')
        .find((l) => l.startsWith('| gateway / PostgreSQL'));
      expect(row).toContain(`+ database ${Math.round(cell!.dbCpuUsPerReq!)}`);
    } finally {
      await load.stop();
      await gw.stop();
    }
  }, 90_000);
});

describe('--profile --profile-stream', () => {
  it('profiles a gateway serving whole streams, per stream', async () => {
    const stoppers: (() => Promise<void>)[] = [];
    const pinning = { load: null, servers: null, upstream: null, note: 'unpinned' };
    try {
      const prof = await runProfile({ root: ROOT, pinning, model: MODEL, seconds: 1, concurrency: 4, warmupSeconds: 1, kind: 'sqlite', pgAdminUrl: '', streamChunks: 5, log: () => {}, stoppers });
      expect(prof.md).toContain('# Gateway CPU profile (sqlite, whole streams of 5 chunks, unpaced, concurrency 4, 1 s)');
      expect(prof.md).toMatch(/\n\d+ streams answered, 0 errors, \d+ streams\/s under the profiler/);
      expect(prof.md).toContain('“per request” below is per whole stream');
      expect(prof.profile.samples.length).toBeGreaterThan(50);
      // The stream path ran under the profiler (a chat profile never enters /v1's stream source).
      expect(prof.profile.nodes.some((n) => n.callFrame.url.endsWith('src/http/routes/v1/stream.ts'))).toBe(true);
    } finally {
      for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    }
  }, 90_000);
});

describe('the database’s CPU between two readings', () => {
  it('counts each backend’s growth, all of one that started in between, and nothing of one that ended', () => {
    const before = new Map([[10, 1_000], [11, 5_000], [12, 700]]);
    const after = new Map([[10, 1_400], [11, 5_050], [13, 90]]);
    expect(dbCpuDeltaUs(before, after)).toBe(400 + 50 + 90);
    expect(dbCpuDeltaUs(null, after)).toBeNull();
    expect(dbCpuDeltaUs(before, null)).toBeNull();
  });
});
