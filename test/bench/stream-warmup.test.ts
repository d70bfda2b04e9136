import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadClient } from '../../bench/load-client.ts';
import { openaiBody } from '../../bench/targets-setup.ts';
import { runStreamCell, runStreamsCell, streamWarmup, type Runtime } from '../../bench/workloads.ts';
import { startFakeOpenAI, type FakeUpstream } from '../fakes/index.ts';

/**
 * The stream warm-up and the unpaced-streams cell (bench/workloads.ts) end to end: the bench's own
 * load generator process drives real streams at the fake OpenAI upstream, one after another (the
 * warm-up) or many at a time (the cell), for the time asked; targets that do not stream, or are
 * dead, get none.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const CHUNKS = 20;
let fake: FakeUpstream;
let load: LoadClient;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  fake.setDefault({ kind: 'ok', chunks: CHUNKS, chunkDelayMs: 0 });
  load = await LoadClient.start(ROOT, null);
});
afterAll(async () => {
  await load.stop();
  await fake.close();
});

function target(id: Runtime['id'], opts: { stream?: boolean; dead?: string } = {}): Runtime {
  const req = (stream: boolean) => ({
    url: `${fake.baseUrl}/chat/completions`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${fake.apiKey}` },
    body: openaiBody('gpt-4o-mini', stream),
    expect: '',
  });
  return {
    id,
    pid: process.pid,
    dead: () => opts.dead ?? null,
    chat: req(false),
    ...(opts.stream === false ? {} : { stream: { req: req(true), format: 'openai' as const } }),
  };
}

const streamsAsked = () => fake.requests.filter((r) => (r.body as { stream?: boolean } | undefined)?.stream === true);

describe('stream warm-up (bench/workloads.ts)', () => {
  it('streams one after another for the time asked, each one to its end', async () => {
    fake.requests.length = 0;
    const lines: string[] = [];
    const t0 = performance.now();
    await streamWarmup(load, [target('direct')], 400, CHUNKS, (s) => lines.push(s));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(5_000);
    const asked = streamsAsked();
    expect(asked.length).toBeGreaterThanOrEqual(10);
    expect(asked.every((r) => r.completed)).toBe(true);
    expect(fake.requests.length).toBe(asked.length);
    expect(lines).toEqual(['stream warm-up: 400 ms per target, one unpaced stream after another']);
  });

  it('a closed loop sends one request per worker even when its window is over before it starts (the smoke check’s 1 ms)', async () => {
    fake.requests.length = 0;
    const r = await load.closed({ req: target('direct').chat, concurrency: 3, durationMs: 0 });
    expect(r.latNs).toHaveLength(3);
    expect(r.errors).toBe(0);
    expect(fake.requests).toHaveLength(3);
  });

  it('skips targets without a stream request or that are dead, and does nothing for 0 ms', async () => {
    fake.requests.length = 0;
    const lines: string[] = [];
    await streamWarmup(load, [target('floor', { stream: false }), target('gw-sqlite', { dead: 'process exited' })], 300, CHUNKS, (s) => lines.push(s));
    await streamWarmup(load, [target('direct')], 0, CHUNKS, (s) => lines.push(s));
    expect(fake.requests).toHaveLength(0);
    expect(lines).toEqual([]);
  });

  it('the stream cell keeps each round’s p50s in round order, for --baseline to pair them round by round', async () => {
    fake.setDefault({ kind: 'ok', chunks: CHUNKS, chunkDelayMs: 1 });
    try {
      const rows = await runStreamCell(load, [target('gw-before'), target('gw-after')], CHUNKS, { windowMs: 250, warmupMs: 50, rounds: 3 }, () => undefined);
      expect(rows.map((r) => r.target)).toEqual(['gw-before', 'gw-after']);
      for (const row of rows) {
        expect(row.status.ok).toBe(true);
        const rounds = row.rounds!;
        for (const k of ['ttfb', 'tail', 'total'] as const) {
          expect(rounds[k]).toHaveLength(3);
          expect(rounds[k].every((v) => Number.isFinite(v) && v > 0)).toBe(true);
          // The median of all streams lies within the range of the rounds' medians.
          expect(row[k].p50).toBeGreaterThanOrEqual(Math.min(...rounds[k]));
          expect(row[k].p50).toBeLessThanOrEqual(Math.max(...rounds[k]));
        }
        // A stream of 20 chunks 1 ms apart: its total is its paced length at least, well past its first byte.
        for (let i = 0; i < 3; i++) expect(rounds.total[i]!).toBeGreaterThan(rounds.ttfb[i]! + 15e6);
      }
    } finally {
      fake.setDefault({ kind: 'ok', chunks: CHUNKS, chunkDelayMs: 0 });
    }
  });
});

describe('streams at full speed (bench/workloads.ts runStreamsCell)', () => {
  it('keeps `concurrency` whole streams in flight, each read to its end, and measures them as a chat cell does', async () => {
    // 20 chunks 2 ms apart: a stream takes ≥ 38 ms, so one stream at a time fits ≤ 8 in a 300 ms window.
    fake.setDefault({ kind: 'ok', chunks: CHUNKS, chunkDelayMs: 2 });
    fake.requests.length = 0;
    const lines: string[] = [];
    const [row, ...rest] = await runStreamsCell(load, [target('direct'), target('floor', { stream: false })], 8, CHUNKS, { windowMs: 300, warmupMs: 50, rounds: 2 }, (s) => lines.push(s));
    expect(rest).toEqual([]); // the target without a stream route is left out
    expect(row).toMatchObject({ target: 'direct', concurrency: 8, status: { ok: true }, errors: 0 });
    expect(row!.n).toBeGreaterThan(2 * 8 * 2); // far more than one at a time could finish in two windows
    expect(row!.lat.p50).toBeGreaterThanOrEqual(38e6); // a sample is a whole stream
    expect(row!.rps).toBeGreaterThan(60);
    expect(row!.roundRps).toHaveLength(2);
    expect(row!.cpuUsPerReq).toBeGreaterThan(0);
    const streams = fake.requests.filter((r) => (r.body as { stream?: boolean }).stream === true);
    expect(streams.length).toBe(fake.requests.length);
    expect(streams.every((r) => r.completed)).toBe(true);
    expect(lines).toEqual([expect.stringMatching(/^ {2}direct +c=8 +\d+ streams\/s, p50 \d+ µs$/)]);
    fake.setDefault({ kind: 'ok', chunks: CHUNKS, chunkDelayMs: 0 });
  });

  it('counts an incomplete stream as an error, not as a stream', async () => {
    fake.setDefault({ kind: 'cut', afterFrames: 3, chunks: CHUNKS });
    const [row] = await runStreamsCell(load, [target('direct')], 4, CHUNKS, { windowMs: 100, warmupMs: 0, rounds: 1 }, () => undefined);
    expect(row!.n).toBe(0);
    expect(row!.status.ok).toBe(false);
    expect(row!.errors).toBeGreaterThan(0);
    fake.setDefault({ kind: 'ok', chunks: CHUNKS, chunkDelayMs: 0 });
  });
});
