import { AdminAuth } from '../admin/admin-auth.ts';
import { AuditLog } from '../audit/audit.ts';
import { createBilling, type Billing } from '../billing/index.ts';
import { InvalidationBus } from '../cluster/invalidation.ts';
import type { Config } from '../config/index.ts';
import type { Governance } from '../gateway/governance.ts';
import { createGovernance, SWEEP_JOB_KIND, type GovernanceModule } from '../governance/index.ts';
import { CustomerService } from '../customers/service.ts';
import type { RequestObserver } from '../http/observer.ts';
import { KeyAuthenticator } from '../keys/auth.ts';
import { KeyService } from '../keys/service.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { SecretBox } from '../lib/crypto.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { Throttle } from '../lib/throttle.ts';
import { ChatService } from '../chat/service.ts';
import { LaneService } from '../lanes/lanes.ts';
import { LaneRouter } from '../lanes/router.ts';
import { UpstreamRegistry } from '../lanes/upstreams.ts';
import { adapterFor } from '../providers/index.ts';
import { UpstreamClient } from '../upstream/client.ts';
import { openStorage, type Storage } from '../storage/db.ts';
import { DEFAULT_WAL_CHECKPOINT } from '../storage/wal-checkpointer.ts';
import { migrateToLatest } from '../storage/migrate.ts';
import { createObservability, type Observability } from './observability.ts';

export interface ContainerOptions {
  clock?: Clock;
  logger?: Logger;
  /** Use an already-open storage (tests share one per file). */
  storage?: Storage;
  /** Skip running migrations (the caller already did). */
  skipMigrations?: boolean;
}

/**
 * The composition root: every service built once from the frozen config, wired by hand.
 * Nothing here listens or schedules; see app/server.ts.
 */
export interface Container {
  config: Config;
  clock: Clock;
  log: Logger;
  storage: Storage;
  secretBox: SecretBox;
  bus: InvalidationBus;
  throttle: Throttle;
  audit: AuditLog;
  keys: KeyService;
  customers: CustomerService;
  keyAuth: KeyAuthenticator;
  adminAuth: AdminAuth;
  /** Admission + metering for data-plane calls (see gateway/governance.ts). */
  governance: Governance;
  /** Governance and metering internals: pricing, devices, usage queries, limiter, sweeper (governance/index.ts). */
  gov: GovernanceModule;
  /** Finished-request observers (monitor, metrics). */
  observers: RequestObserver[];
  /** Monitor events, Prometheus metrics, the durable job runner, heartbeat, timeline (app/observability.ts). */
  metrics: Observability['metrics'];
  monitor: Observability['monitor'];
  jobs: Observability['jobs'];
  heartbeat: Observability['heartbeat'];
  timeline: Observability['timeline'];
  /** Aborted when shutdown begins: live tails and long polls end so the server can drain. */
  drainSignal: AbortSignal;
  beginDrain(): void;
  /** Exports, invoices, top-ups (manual + Stripe), self-service keys, user session tokens. */
  billing: Billing;
  /** Chat data plane: upstream registry, lanes, routing, upstream HTTP and the chat service. */
  upstreams: UpstreamRegistry;
  lanes: LaneService;
  laneRouter: LaneRouter;
  upstreamClient: UpstreamClient;
  chat: ChatService;
  /** Start background parts (invalidation listener; jobs are started by the server). */
  start(): Promise<void>;
  /** Ordered shutdown hooks, run in reverse registration order by close(). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

export async function createContainer(config: Config, opts: ContainerOptions = {}): Promise<Container> {
  const clock = opts.clock ?? systemClock;
  const s = config.secrets;
  const log = opts.logger ?? createLogger({ level: config.LOG_LEVEL, secrets: [s.adminPassword, s.jwtSecret, s.keyPepper, s.encryptionKey] });
  const storage =
    opts.storage ??
    openStorage(config.database, {
      poolMax: config.DATABASE_POOL_MAX,
      walCheckpoint:
        config.SQLITE_WAL_CHECKPOINT === 'background'
          ? { ...DEFAULT_WAL_CHECKPOINT, onFailure: (err) => log.warn({ err }, 'WAL checkpoint worker stopped; the server checkpoints inline again') }
          : undefined,
    });
  if (!opts.skipMigrations) await migrateToLatest(storage.db);
  const multiNode = storage.dialect === 'postgres';

  const bus = new InvalidationBus(storage, clock, config.INVALIDATION_POLL_MS);
  const throttle = new Throttle(storage.db, clock);
  const audit = new AuditLog(storage.db, clock);
  const keys = new KeyService(storage.db, clock, s.keyPepper, audit, bus);
  const customers = new CustomerService(storage.db, clock, audit, bus, keys, { capCents: config.DEFAULT_CUSTOMER_CAP_CENTS });
  const keyAuth = new KeyAuthenticator(storage.db, clock, s.keyPepper, config.KEY_CACHE_TTL_MS, multiNode, bus);
  const billing = createBilling({ config, storage, clock, log, audit, bus, throttle, keys });
  keyAuth.sessionResolver = billing.sessions.resolve;
  const adminAuth = new AdminAuth(
    {
      password: s.adminPassword,
      jwtSecret: s.jwtSecret,
      allowPasswordHeader: config.ADMIN_PASSWORD_HEADER,
      maxFails: config.ADMIN_LOGIN_MAX_FAILS,
      windowS: config.ADMIN_LOGIN_WINDOW_SECONDS,
    },
    clock,
    throttle,
    audit,
  );

  const closers: (() => Promise<void> | void)[] = [];
  const ownsStorage = !opts.storage;
  if (ownsStorage) closers.push(() => storage.close());
  closers.push(() => bus.stop());

  const secretBox = new SecretBox(s.encryptionKey);
  const upstreams = new UpstreamRegistry(storage.db, clock, secretBox, audit, bus, config);
  const lanes = new LaneService(storage.db, clock, audit, bus, upstreams);
  const upstreamClient = new UpstreamClient();
  closers.push(() => upstreamClient.destroy());

  const obs = createObservability({ config, clock, log, storage });
  const drain = new AbortController();
  // close() runs these in reverse: stop the job runner, then flush the monitor queue, then the rest.
  closers.push(() => obs.monitor.stop());
  closers.push(() => obs.jobs.stop());

  const gov = createGovernance({ config, storage, clock, log, audit, bus });
  gov.service.usageSink = obs.metrics;
  gov.service.authRefresher = (stale) => keyAuth.refresh(stale);
  obs.jobs.register(SWEEP_JOB_KIND, async () => {
    const released = await gov.sweepExpiredReservations();
    const pruned = await gov.pruneRateWindows();
    if (released) log.warn({ released }, 'released expired cap reservations');
    if (pruned) log.debug({ pruned }, 'pruned rate-limit windows');
  });
  obs.jobs.schedule(SWEEP_JOB_KIND, 60_000);
  closers.push(() => gov.close());

  const container: Container = {
    config,
    clock,
    log,
    storage,
    secretBox,
    bus,
    throttle,
    audit,
    keys,
    customers,
    keyAuth,
    adminAuth,
    governance: gov.service,
    gov,
    observers: [...obs.observers],
    metrics: obs.metrics,
    monitor: obs.monitor,
    jobs: obs.jobs,
    heartbeat: obs.heartbeat,
    timeline: obs.timeline,
    drainSignal: drain.signal,
    beginDrain: () => drain.abort(),
    billing,
    upstreams,
    lanes,
    laneRouter: new LaneRouter(lanes, upstreams),
    upstreamClient,
    chat: new ChatService({
      governance: () => container.governance,
      upstreams,
      client: upstreamClient,
      adapterFor,
      maxRetryAfterMs: config.UPSTREAM_MAX_RETRY_AFTER_MS,
    }),
    async start() {
      await bus.start();
      await gov.start();
      obs.monitor.start();
    },
    onClose(fn) {
      closers.push(fn);
    },
    async close() {
      drain.abort();
      for (const fn of closers.splice(0).reverse()) {
        try {
          await fn();
        } catch (e) {
          log.warn({ err: e }, 'shutdown step failed');
        }
      }
    },
  };
  return container;
}
