import { join, resolve } from 'node:path';
import type { Config } from '../config/index.ts';
import { HeartbeatService } from '../heartbeat/heartbeat.ts';
import { JobRunner } from '../jobs/runner.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { accessLogObserver } from '../monitor/access-log.ts';
import { MonitorService } from '../monitor/service.ts';
import type { ObservedRequest } from '../monitor/types.ts';
import type { Storage } from '../storage/db.ts';
import { Timeline } from '../timeline/timeline.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface Observability {
  metrics: Metrics;
  monitor: MonitorService;
  /** The durable job runner (register kinds, enqueue, schedule). Started by the server. */
  jobs: JobRunner;
  heartbeat: HeartbeatService;
  timeline: Timeline;
  /** Request observers: monitor event (unless MONITOR_ENABLED=false), metrics, access log. */
  observers: ((r: ObservedRequest) => void)[];
}

/**
 * Builds the observability area and registers its background work on the job runner:
 * - `heartbeat` every HEARTBEAT_INTERVAL (one record per slot across nodes),
 * - `monitor.retention` hourly (MONITOR_RETENTION_DAYS, optional NDJSON archive; also trims heartbeats),
 * - `jobs.prune` hourly (done jobs and job events older than JOBS_RETENTION_DAYS).
 */
export function createObservability(d: { config: Config; clock: Clock; log: Logger; storage: Storage }): Observability {
  const { config, clock, log, storage } = d;
  const monitor = new MonitorService(storage, clock, log, {
    nodeId: config.nodeId,
    queueMax: config.MONITOR_QUEUE_MAX,
    flushMs: config.MONITOR_FLUSH_MS,
    streamPollMs: config.MONITOR_STREAM_POLL_MS,
    pingMs: config.STREAM_PING_MS,
    retentionDays: config.MONITOR_RETENTION_DAYS,
    archiveDir: config.MONITOR_ARCHIVE ? join(resolve(config.DATA_DIR), 'monitor-archive') : undefined,
  });
  const metrics = new Metrics({
    version: config.version,
    defaultMetrics: config.NODE_ENV !== 'test',
    sources: { monitor: () => monitor.writer.stats(), walCheckpoints: storage.walCheckpointer && (() => storage.walCheckpointer!.stats()) },
  });
  const jobs = new JobRunner(storage, clock, log, {
    nodeId: config.nodeId,
    pollMs: config.JOBS_POLL_MS,
    leaseMs: config.JOBS_LEASE_MS,
    concurrency: config.JOBS_CONCURRENCY,
    maxAttempts: config.JOBS_MAX_ATTEMPTS,
    backoffBaseMs: config.JOBS_BACKOFF_BASE_MS,
    backoffMaxMs: config.JOBS_BACKOFF_MAX_MS,
  });
  jobs.onOutcome((o) => metrics.recordJob(o.job.kind, o.outcome));
  const heartbeat = new HeartbeatService(storage, clock, log, {
    intervalMs: config.HEARTBEAT_INTERVAL,
    timeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    nodeId: config.nodeId,
    url: config.HEARTBEAT_URL,
  });

  jobs.register<{ slot: number }>('heartbeat', async ({ slot }) => void (await heartbeat.beat(slot)), { maxAttempts: 3 });
  jobs.schedule('heartbeat', config.HEARTBEAT_INTERVAL);
  jobs.register('monitor.retention', async () => {
    const res = await monitor.retention.prune(config.MONITOR_RETENTION_DAYS);
    const beats = await heartbeat.prune(config.MONITOR_RETENTION_DAYS * DAY_MS);
    if (res.deleted || beats) log.info({ deleted: res.deleted, archived: res.archived, heartbeats: beats }, 'monitor retention');
  });
  jobs.schedule('monitor.retention', HOUR_MS);
  jobs.register('jobs.prune', async () => void (await jobs.store.prune(clock.now() - config.JOBS_RETENTION_DAYS * DAY_MS)));
  jobs.schedule('jobs.prune', HOUR_MS);

  return {
    metrics,
    monitor,
    jobs,
    heartbeat,
    timeline: new Timeline(storage.db),
    // MONITOR_ENABLED=false: no per-request event at all (nothing built, queued or written).
    observers: [...(config.MONITOR_ENABLED ? [monitor.observe] : []), metrics.observe, accessLogObserver(log)],
  };
}
