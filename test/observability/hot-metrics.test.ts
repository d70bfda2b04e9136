import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../../src/metrics/hot.ts';

/** The hot-path series must be indistinguishable from prom-client's own on /metrics. */

const BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1];

async function pair() {
  const hot = new Registry();
  const ref = new Registry();
  return {
    hot,
    ref,
    hc: new HotCounter('x_requests_total', 'Requests', ['operation', 'status'], [hot]),
    rc: new Counter({ name: 'x_requests_total', help: 'Requests', labelNames: ['operation', 'status'], registers: [ref] }),
    hh: new HotHistogram('x_seconds', 'Seconds "quoted" \\ help', ['operation'], BUCKETS, [hot]),
    rh: new Histogram({ name: 'x_seconds', help: 'Seconds "quoted" \\ help', labelNames: ['operation'], buckets: BUCKETS, registers: [ref] }),
  };
}

describe('hot metrics', () => {
  it('renders exactly what prom-client renders for the same observations', async () => {
    const p = await pair();
    const ops = ['gateway.chat', 'ops.health', 'we"ird\\op\nname'];
    const values = [0, 0.00005, 0.0001, 0.00099, 0.001, 0.5, 1, 7, 0.02];
    for (const [i, op] of ops.entries()) {
      for (const status of ['200', '429']) {
        const h = p.hc.bind(op, status);
        const r = p.rc.labels(op, status);
        for (let k = 0; k <= i + Number(status === '429'); k++) {
          h.inc();
          r.inc();
        }
        h.inc(2.5);
        r.inc(2.5);
      }
      const hb = p.hh.bind(op);
      const rb = p.rh.labels(op);
      for (const v of values.slice(i)) {
        hb.observe(v);
        rb.observe(v);
      }
    }
    const hot = await p.hot.metrics();
    expect(hot).toBe(await p.ref.metrics());
    expect(hot).toContain('x_seconds_bucket{le="0.001",operation="gateway.chat"} 5');
    expect(hot).toContain('x_seconds_bucket{le="+Inf",operation="gateway.chat"} 9');
    // The JSON view too, apart from prom-client's empty exemplar fields.
    const plain = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'exemplar' ? undefined : v))) as unknown;
    expect(plain(await p.hot.getMetricsAsJSON())).toEqual(plain(await p.ref.getMetricsAsJSON()));
  });

  it('bound handles keep counting into the same series; reset zeroes them in place', async () => {
    const p = await pair();
    const a = p.hc.bind('op', '200');
    const b = p.hc.bind('op', '200');
    a.inc();
    b.inc(3);
    a.inc(-5); // a counter never goes down
    a.inc(Number.NaN);
    p.hh.bind('op').observe(Number.POSITIVE_INFINITY); // ignored, as prom-client rejects it
    expect(await p.hot.metrics()).toContain('x_requests_total{operation="op",status="200"} 4');
    expect(await p.hot.metrics()).toContain('x_seconds_count{operation="op"} 0');
    p.hot.resetMetrics();
    a.inc();
    expect(await p.hot.metrics()).toContain('x_requests_total{operation="op",status="200"} 1');
    expect(() => p.hc.bind('only-one')).toThrow(/expected 2 label values/);
  });

  it('refuses a second metric of the same name in one registry', () => {
    const r = new Registry();
    new HotCounter('dup_total', 'd', [], [r]);
    expect(() => new HotCounter('dup_total', 'd', [], [r])).toThrow(/already been registered/);
  });
});
