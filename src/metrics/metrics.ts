import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ObservedRequest } from '../monitor/types.ts';
import { HotCounter, HotHistogram, type BoundCounter, type BoundHistogram } from './hot.ts';

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
  /** SQLite's WAL checkpoint worker (storage/wal-checkpointer.ts), when it runs. */
  walCheckpoints?: () => { running: boolean; runs: number; frames: number; totalMs: number };
}

/** A gauge whose value is read from elsewhere at scrape time. */
function scrapedGauge(name: string, help: string, registers: Registry[], read: () => number): void {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}

/** A counter whose value is read from elsewhere at scrape time. */
function scrapedCounter(name: string, help: string, registers: Registry[], read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * The event-loop lag histogram samples with a repeating timer that wakes the process every tick,
 * busy or idle. prom-client's default (10 ms) made ~95 of an idle gateway's ~107 wake-ups a
 * second; at 50 ms an idle gateway wakes ~30 times a second (bench/README). A stall of 50 ms or
 * more is still always seen, a shorter one in proportion to its length.
 */
const EVENT_LOOP_SAMPLE_MS = 50;

const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Per-operation series of the request observer, bound on first sight of the operation. */
interface OpSeries {
  overhead: BoundHistogram;
  byStatus: Map<number, BoundCounter>;
  rateLimited?: BoundCounter;
  capRejected?: BoundCounter;
}

/**
 * Prometheus metrics, one Registry per container (tests and several apps in one process never
 * share counters). The request observer and the usage sink run on every request, so their
 * series are hot.ts series bound once per label combination and cached by operation, status,
 * provider and model: the hot path is a couple of Map lookups and a few additions.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: HotCounter;
  private readonly overhead: HotHistogram;
  private readonly upstream: HotHistogram;
  private readonly tokens: HotCounter;
  private readonly cost: HotCounter;
  private readonly rateLimited: HotCounter;
  private readonly capRejected: HotCounter;
  private readonly jobs: Counter<'kind' | 'outcome'>;
  private readonly ops = new Map<string, OpSeries>();
  private readonly upstreamBy = new Map<string, BoundHistogram>();
  private readonly usageBy = new Map<string, { input: BoundCounter; output: BoundCounter; cost: BoundCounter }>();

  constructor(opts: { version: string; defaultMetrics?: boolean; sources?: MetricsSources }) {
    const registers = [this.registry];
    this.requests = new HotCounter('kaixu_http_requests_total', 'HTTP requests by route operation and status', ['operation', 'status'], registers);
    this.overhead = new HotHistogram('kaixu_gateway_overhead_seconds', 'Time spent in the gateway per request, upstream wait excluded', ['operation'], OVERHEAD_BUCKETS, registers);
    this.upstream = new HotHistogram('kaixu_upstream_latency_seconds', 'Time waiting on upstream providers per request', ['provider'], UPSTREAM_BUCKETS, registers);
    this.tokens = new HotCounter('kaixu_tokens_total', 'Metered tokens', ['provider', 'model', 'type'], registers);
    this.cost = new HotCounter('kaixu_cost_micros_total', 'Metered cost in micro-dollars', ['provider', 'model'], registers);
    this.rateLimited = new HotCounter('kaixu_rate_limited_total', 'Requests rejected by a rate limit (429 RATE_LIMITED)', ['operation'], registers);
    this.capRejected = new HotCounter('kaixu_cap_rejections_total', 'Requests rejected by a spend cap (402 CAP_REACHED)', ['operation'], registers);
    this.jobs = new Counter({ name: 'kaixu_jobs_total', help: 'Background job attempts by outcome', labelNames: ['kind', 'outcome'], registers });
    new Gauge({ name: 'kaixu_build_info', help: 'Gateway version', labelNames: ['version'], registers }).labels(opts.version).set(1);
    const monitor = opts.sources?.monitor;
    if (monitor) {
      scrapedGauge('kaixu_monitor_queue_depth', 'Monitor events waiting to be written', registers, () => monitor().queue_depth);
      scrapedCounter('kaixu_monitor_events_dropped_total', 'Monitor events dropped because the queue was full or writes kept failing', registers, () => monitor().dropped);
      scrapedCounter('kaixu_monitor_events_written_total', 'Monitor events written to the database', registers, () => monitor().written);
    }
    const wal = opts.sources?.walCheckpoints;
    if (wal) {
      scrapedGauge('kaixu_sqlite_wal_checkpointer_up', '1 while the SQLite WAL checkpoint worker runs (0: the server checkpoints inline again)', registers, () => (wal().running ? 1 : 0));
      scrapedCounter('kaixu_sqlite_wal_checkpoints_total', 'WAL checkpoints run by the worker thread', registers, () => wal().runs);
      scrapedCounter('kaixu_sqlite_wal_checkpoint_frames_total', 'WAL frames the worker copied into the database file', registers, () => wal().frames);
      scrapedCounter('kaixu_sqlite_wal_checkpoint_seconds_total', 'Time the worker spent in WAL checkpoints', registers, () => wal().totalMs / 1000);
    }
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kaixu_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  private opSeries(op: string): OpSeries {
    let s = this.ops.get(op);
    if (!s) {
      s = { overhead: this.overhead.bind(op), byStatus: new Map() };
      this.ops.set(op, s);
    }
    return s;
  }

  /** Request observer: counts, overhead, upstream latency, governance rejections. */
  readonly observe = (r: ObservedRequest): void => {
    const op = r.info.operation ?? (r.status === 404 ? 'not_found' : 'unknown');
    const s = this.opSeries(op);
    let count = s.byStatus.get(r.status);
    if (!count) s.byStatus.set(r.status, (count = this.requests.bind(op, String(r.status))));
    count.inc();
    s.overhead.observe(r.overheadMs / 1000);
    const { provider, upstreamMs, errorCode } = r.info;
    if (provider && upstreamMs > 0) {
      let up = this.upstreamBy.get(provider);
      if (!up) this.upstreamBy.set(provider, (up = this.upstream.bind(provider)));
      up.observe(upstreamMs / 1000);
    }
    if (errorCode === 'RATE_LIMITED') (s.rateLimited ??= this.rateLimited.bind(op)).inc();
    else if (errorCode === 'CAP_REACHED') (s.capRejected ??= this.capRejected.bind(op)).inc();
  };

  /** Metering calls this once per answered call. */
  recordUsage(u: UsageSample): void {
    const key = `${u.provider}\u0000${u.model}`;
    let c = this.usageBy.get(key);
    if (!c) {
      c = { input: this.tokens.bind(u.provider, u.model, 'input'), output: this.tokens.bind(u.provider, u.model, 'output'), cost: this.cost.bind(u.provider, u.model) };
      this.usageBy.set(key, c);
    }
    c.input.inc(u.input);
    c.output.inc(u.output);
    c.cost.inc(u.costMicros);
  }

  recordJob(kind: string, outcome: string): void {
    this.jobs.labels(kind, outcome).inc();
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
