import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';
import { bulkEvents } from './helpers.ts';

/**
 * A month of 1 000 000 events exports in bounded memory: the CSV (~145 MB) streams from
 * keyset pages, so memory grows by a small, fixed amount rather than with the file.
 * Sampled while the body is consumed: RSS and raw heap (which includes garbage V8 has not
 * collected yet: a sawtooth whose height is V8's policy, not ours) every 25 ms, and the
 * live heap (after a forced GC) every 100 000 rows — the number that would grow if any
 * part of the export were buffered.
 */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const COUNT = { sqlite: 1_000_000, postgres: 1_000_000 } as const;
const MONTH = '2026-01';
const MB = 1024 * 1024;
// Bounds: the live heap must stay tiny; RSS (incl. uncollected garbage) well under what a
// buffered export needs (the file alone is ≈ 145 MB as bytes, twice that as a JS string).
const LIVE_HEAP_BOUND_MB = 24;
const RSS_BOUND_MB = 160;

describe.each(DIALECTS)('1 000 000-event CSV export on %s', (dialect) => {
  let t: TestApp;
  let customerId: string;
  let keyId: string;
  let insertMs = 0;

  beforeAll(async () => {
    t = await makeTestApp(dialect);
    const cust = await t.createCustomer();
    customerId = cust.customer.id;
    keyId = cust.keyId;
    const t0 = performance.now();
    await bulkEvents(t.c.storage.db, dialect, { customerId, apiKeyId: keyId, month: MONTH, count: COUNT[dialect] });
    insertMs = performance.now() - t0;
  }, 240_000);
  afterAll(async () => t?.close());

  it('streams every row with bounded heap and RSS', async () => {
    gc();
    const base = process.memoryUsage();
    let peakLive = base.heapUsed;
    let peakHeap = base.heapUsed;
    let peakRss = base.rss;
    const sample = () => {
      const m = process.memoryUsage();
      if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
      if (m.rss > peakRss) peakRss = m.rss;
    };
    const timer = setInterval(sample, 25);
    const t0 = performance.now();
    const res = await t.admin('GET', `/admin/api/customers/${customerId}/exports/events.csv?month=${MONTH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const reader = res.body!.getReader();
    let bytes = 0;
    let lines = 0;
    let first = '';
    let tail = '';
    let lastGcAt = 0;
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      for (const b of value) if (b === 10) lines++;
      if (first.length < 400) first += dec.decode(value.subarray(0, 400));
      tail = dec.decode(value.subarray(Math.max(0, value.byteLength - 200)));
      sample();
      if (lines - lastGcAt >= 100_000) {
        lastGcAt = lines;
        gc();
        peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
      }
    }
    clearInterval(timer);
    const ms = performance.now() - t0;
    const heapMb = (peakHeap - base.heapUsed) / MB;
    const liveMb = (peakLive - base.heapUsed) / MB;
    const rssMb = (peakRss - base.rss) / MB;
    console.log(
      `[export-memory] ${dialect}: ${COUNT[dialect]} events inserted in ${(insertMs / 1000).toFixed(1)} s; ` +
        `exported ${(bytes / MB).toFixed(1)} MB CSV in ${(ms / 1000).toFixed(1)} s; ` +
        `peak live heap +${liveMb.toFixed(1)} MB (bound ${LIVE_HEAP_BOUND_MB}), peak raw heap +${heapMb.toFixed(1)} MB, ` +
        `peak RSS +${rssMb.toFixed(1)} MB (bound ${RSS_BOUND_MB}); ` +
        `baseline heap ${(base.heapUsed / MB).toFixed(0)} MB, rss ${(base.rss / MB).toFixed(0)} MB`,
    );
    expect(lines).toBe(COUNT[dialect] + 1);
    expect(first.split('\r\n')[0]).toBe(
      'created_at,api_key_id,provider,model,input_tokens,output_tokens,cost_cents,install_id,request_id,upstream_provider,upstream_model,cost_micros,usage_source,app,build,status',
    );
    expect(first.split('\r\n')[1]).toMatch(new RegExp(`^2026-01-01T00:00:02\\.000Z,${keyId},openai,gpt-4o-mini,101,21,0\\.1001,device-1,req_bulk_1,`));
    expect(tail).toContain(`req_bulk_${COUNT[dialect]},`);
    expect(bytes / MB).toBeGreaterThan(RSS_BOUND_MB * 0.8);
    expect(liveMb).toBeLessThan(LIVE_HEAP_BOUND_MB);
    expect(rssMb).toBeLessThan(RSS_BOUND_MB);
  }, 240_000);
});
