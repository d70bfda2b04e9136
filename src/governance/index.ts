import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Config } from '../config/index.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { PricingService } from '../metering/pricing.ts';
import { UsageQueries } from '../metering/usage.ts';
import type { Storage } from '../storage/db.ts';
import { CapAlerts } from './alerts.ts';
import { PostgresCapStore } from './caps/postgres.ts';
import { SqliteCapStore } from './caps/sqlite.ts';
import type { CapStore } from './caps/types.ts';
import { DeviceRegistry } from './devices.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit/limiter.ts';
import { GovernanceService } from './service.ts';

/**
 * Governance (admission) and metering (pricing, ledger), behind the gateway/governance.ts seam.
 *
 * Per call: allowlist → pricing → device seat → rate limit → cap reservation (service.ts), then
 * exactly one of settle / release (admission.ts).
 * - Caps are hard by reservation: reserve the call's upper-bound cost against the customer and
 *   the key month in one atomic step, settle to the exact cost with ONE usage event + both
 *   aggregates + the reservation dropped in one transaction. PostgreSQL (several nodes): holds
 *   are rows, admission is one kaixu_admit call (caps/postgres.ts) — one kaixu_admit_batch for
 *   the calls of one key and device that arrive together (caps/pg-admit.ts). SQLite (one node by
 *   construction): holds live in the process's memory, spend and everything else is re-read from
 *   the database at each reservation (caps/sqlite.ts). Settles arriving together share one
 *   commit (caps/group-commit.ts). A crashed holder's reservations are released — by the crash
 *   itself on SQLite, by the recurring job `governance.sweep_reservations` after
 *   RESERVATION_TTL_MS on PostgreSQL (which also drops holds whose settle never came, on both).
 *   cap_mode "soft": check-then-charge.
 * - Rate limits: sliding-window counters (rate-limit/window.ts) in memory (one node), PostgreSQL
 *   or Redis — never per process once several nodes share PostgreSQL (rate-limit/limiter.ts).
 * - Money is integer µ$; priceCost (metering/pricing.ts) rounds up once per call.
 * - Hot path: prices cached per node (reloaded on the 'pricing' invalidation), known devices
 *   cached and touched once a minute, SQLite steps are prepared statements, PostgreSQL steps are
 *   one function call each (admit/release commit asynchronously; settle does not — see
 *   migrations/003_governance_pg.ts). Governed calls may skip the authenticator's strict
 *   per-request query (`deferRevocationCheck`): admission re-checks it atomically (service.ts).
 */
export { applyRateLimitHeaders } from './rate-limit/headers.ts';

/** Everything governance and metering provide to the container, routes and jobs. */
export interface GovernanceModule {
  service: GovernanceService;
  pricing: PricingService;
  devices: DeviceRegistry;
  usage: UsageQueries;
  limiter: RateLimiter;
  alerts: CapAlerts;
  caps: CapStore;
  /** Release reservations past RESERVATION_TTL_MS (a crashed holder); returns how many. */
  sweepExpiredReservations(): Promise<number>;
  /** Drop rate-limit windows nobody can read any more. */
  pruneRateWindows(): Promise<number>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export const SWEEP_JOB_KIND = 'governance.sweep_reservations';

export function createGovernance(d: { config: Config; storage: Storage; clock: Clock; log: Logger; audit: AuditLog; bus: InvalidationBus }): GovernanceModule {
  const { config, storage, clock, log, audit, bus } = d;
  const pricing = new PricingService(storage.db, clock, audit, bus);
  const devices = new DeviceRegistry(storage, clock, audit, bus);
  const limiter = createRateLimiter({ backend: config.RATE_LIMIT_BACKEND, redisUrl: config.REDIS_URL, redisPrefix: config.REDIS_PREFIX }, storage, log);
  const caps: CapStore = storage.dialect === 'postgres' ? new PostgresCapStore(storage.pool!, storage.db) : new SqliteCapStore(storage);
  const alerts = new CapAlerts(storage.db, clock, audit, log, { warnPct: config.CAP_WARN_PCT, webhookUrl: config.ALERT_WEBHOOK_URL });
  const service = new GovernanceService({
    clock,
    pricing,
    devices,
    limiter,
    caps,
    alerts,
    keyPepper: config.secrets.keyPepper,
    defaults: { rpm: config.DEFAULT_RPM_LIMIT, rpd: config.DEFAULT_RPD_LIMIT },
    reservationTtlMs: config.RESERVATION_TTL_MS,
  });
  return {
    service,
    pricing,
    devices,
    usage: new UsageQueries(storage.db, caps.memoryHolds),
    limiter,
    alerts,
    caps,
    sweepExpiredReservations: () => service.sweepExpiredReservations(),
    pruneRateWindows: () => limiter.prune(clock.now()),
    start: () => limiter.start(),
    async close() {
      await caps.close();
      await alerts.flush();
      await limiter.close();
    },
  };
}
