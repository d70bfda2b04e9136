import { AdminAuth } from '../admin/admin-auth.ts';
import { AuditLog } from '../audit/audit.ts';
import { InvalidationBus } from '../cluster/invalidation.ts';
import type { Config } from '../config/index.ts';
import type { Governance } from '../gateway/governance.ts';
import { Ungoverned } from '../gateway/ungoverned.ts';
import { CustomerService } from '../customers/service.ts';
import type { RequestObserver } from '../http/observer.ts';
import { KeyAuthenticator } from '../keys/auth.ts';
import { KeyService } from '../keys/service.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { SecretBox } from '../lib/crypto.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { Throttle } from '../lib/throttle.ts';
import { openStorage, type Storage } from '../storage/db.ts';
import { migrateToLatest } from '../storage/migrate.ts';

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
  /** Finished-request observers (monitor, metrics). */
  observers: RequestObserver[];
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
  const storage = opts.storage ?? openStorage(config.database, { poolMax: config.DATABASE_POOL_MAX });
  if (!opts.skipMigrations) await migrateToLatest(storage.db);
  const multiNode = storage.dialect === 'postgres';

  const bus = new InvalidationBus(storage, clock, config.INVALIDATION_POLL_MS);
  const throttle = new Throttle(storage.db, clock);
  const audit = new AuditLog(storage.db, clock);
  const keys = new KeyService(storage.db, clock, s.keyPepper, audit, bus);
  const customers = new CustomerService(storage.db, clock, audit, bus, keys, { capCents: config.DEFAULT_CUSTOMER_CAP_CENTS });
  const keyAuth = new KeyAuthenticator(storage.db, clock, s.keyPepper, config.KEY_CACHE_TTL_MS, multiNode, bus);
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

  return {
    config,
    clock,
    log,
    storage,
    secretBox: new SecretBox(s.encryptionKey),
    bus,
    throttle,
    audit,
    keys,
    customers,
    keyAuth,
    adminAuth,
    governance: new Ungoverned(clock),
    observers: [],
    async start() {
      await bus.start();
    },
    onClose(fn) {
      closers.push(fn);
    },
    async close() {
      for (const fn of closers.splice(0).reverse()) {
        try {
          await fn();
        } catch (e) {
          log.warn({ err: e }, 'shutdown step failed');
        }
      }
    },
  };
}
