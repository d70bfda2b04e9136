import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ObservedRequest } from '../monitor/types.ts';

export interface UsageSample {
  provider: string;
  model: string;
  input: number;
  output: number;
  costMicros: number;
}

export interface MetricsSources {
  /** Monitor writer counters, read at scrape time. */
  monitor?: () => { queue_depth: number; dropped: number; written: number };
}

const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Prometheus metrics, one Registry per container (tests and several apps in one process never
 * share counters). The request observer runs on every request, so label children are bound once
 * per label combination and cached: the hot path is a Map lookup and an add.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'status'>;
  private readonly overhead: Histogram<'operation'>;
  private readonly upstream: Histogram<'provider'>;
  private readonly tokens: Counter<'provider' | 'model' | 'type'>;
  private readonly cost: Counter<'provider' | 'model'>;
  private readonly rateLimited: Counter<'operation'>;
  private readonly capRejected: Counter<'operation'>;
  private readonly jobs: Counter<'kind' | 'outcome'>;
  private readonly bound = new Map<string, { inc(v?: number): void; observe?(v: number): void }>();

  constructor(opts: { version: string; defaultMetrics?: boolean; sources?: MetricsSources }) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'kaixu_http_requests_total', help: 'HTTP requests by route operation and status', labelNames: ['operation', 'status'], registers });
    this.overhead = new Histogram({
      name: 'kaixu_gateway_overhead_seconds',
      help: 'Time spent in the gateway per request, upstream wait excluded',
      labelNames: ['operation'],
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.upstream = new Histogram({ name: 'kaixu_upstream_latency_seconds', help: 'Time waiting on upstream providers per request', labelNames: ['provider'], buckets: UPSTREAM_BUCKETS, registers });
    this.tokens = new Counter({ name: 'kaixu_tokens_total', help: 'Metered tokens', labelNames: ['provider', 'model', 'type'], registers });
    this.cost = new Counter({ name: 'kaixu_cost_micros_total', help: 'Metered cost in micro-dollars', labelNames: ['provider', 'model'], registers });
    this.rateLimited = new Counter({ name: 'kaixu_rate_limited_total', help: 'Requests rejected by a rate limit (429 RATE_LIMITED)', labelNames: ['operation'], registers });
    this.capRejected = new Counter({ name: 'kaixu_cap_rejections_total', help: 'Requests rejected by a spend cap (402 CAP_REACHED)', labelNames: ['operation'], registers });
    this.jobs = new Counter({ name: 'kaixu_jobs_total', help: 'Background job attempts by outcome', labelNames: ['kind', 'outcome'], registers });
    new Gauge({ name: 'kaixu_build_info', help: 'Gateway version', labelNames: ['version'], registers }).labels(opts.version).set(1);
    const monitor = opts.sources?.monitor;
    if (monitor) {
      new Gauge({
        name: 'kaixu_monitor_queue_depth',
        help: 'Monitor events waiting to be written',
        registers,
        collect() {
          this.set(monitor().queue_depth);
        },
      });
      new Counter({
        name: 'kaixu_monitor_events_dropped_total',
        help: 'Monitor events dropped because the queue was full or writes kept failing',
        registers,
        collect() {
          this.reset();
          this.inc(monitor().dropped);
        },
      });
      new Counter({
        name: 'kaixu_monitor_events_written_total',
        help: 'Monitor events written to the database',
        registers,
        collect() {
          this.reset();
          this.inc(monitor().written);
        },
      });
    }
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kaixu_' });
  }

  private child<T>(key: string, make: () => T): T {
    let c = this.bound.get(key) as T | undefined;
    if (!c) {
      c = make();
      this.bound.set(key, c as never);
    }
    return c;
  }

  /** Request observer: counts, overhead, upstream latency, governance rejections. */
  readonly observe = (r: ObservedRequest): void => {
    const op = r.info.operation ?? (r.status === 404 ? 'not_found' : 'unknown');
    this.child(`r|${op}|${r.status}`, () => this.requests.labels(op, String(r.status))).inc();
    this.child(`o|${op}`, () => this.overhead.labels(op)).observe!(r.overheadMs / 1000);
    const { provider, upstreamMs, errorCode } = r.info;
    if (provider && upstreamMs > 0) this.child(`u|${provider}`, () => this.upstream.labels(provider)).observe!(upstreamMs / 1000);
    if (errorCode === 'RATE_LIMITED') this.child(`rl|${op}`, () => this.rateLimited.labels(op)).inc();
    else if (errorCode === 'CAP_REACHED') this.child(`cap|${op}`, () => this.capRejected.labels(op)).inc();
  };

  /** Metering calls this once per answered call. */
  recordUsage(u: UsageSample): void {
    if (u.input > 0) this.child(`ti|${u.provider}|${u.model}`, () => this.tokens.labels(u.provider, u.model, 'input')).inc(u.input);
    if (u.output > 0) this.child(`to|${u.provider}|${u.model}`, () => this.tokens.labels(u.provider, u.model, 'output')).inc(u.output);
    if (u.costMicros > 0) this.child(`c|${u.provider}|${u.model}`, () => this.cost.labels(u.provider, u.model)).inc(u.costMicros);
  }

  recordJob(kind: string, outcome: string): void {
    this.child(`j|${kind}|${outcome}`, () => this.jobs.labels(kind, outcome)).inc();
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
