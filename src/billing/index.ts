import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Config } from '../config/index.ts';
import type { KeyService } from '../keys/service.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Throttle } from '../lib/throttle.ts';
import type { Storage } from '../storage/db.ts';
import { ExportService } from './exports/service.ts';
import { InvoiceService } from './invoices/service.ts';
import { SelfServiceKeys } from './selfserve/request-key.ts';
import { SessionTokens } from './sessions/tokens.ts';
import { StripeCheckout } from './stripe/checkout.ts';
import { StripeWebhook } from './stripe/webhook.ts';
import { TopupService } from './topups/service.ts';

export interface Billing {
  exports: ExportService;
  invoices: InvoiceService;
  topups: TopupService;
  checkout: StripeCheckout;
  webhook: StripeWebhook;
  selfServe: SelfServiceKeys;
  sessions: SessionTokens;
}

export interface BillingDeps {
  config: Config;
  storage: Storage;
  clock: Clock;
  log: Logger;
  audit: AuditLog;
  bus: InvalidationBus;
  throttle: Throttle;
  keys: KeyService;
}

/** The money side: exports, invoices, top-ups (manual + Stripe), self-service keys, user sessions. */
export function createBilling(d: BillingDeps): Billing {
  const { config, storage, clock, audit } = d;
  const invoices = new InvoiceService(storage.db, storage.dialect, clock, audit);
  const topups = new TopupService(storage.db, clock, audit, d.bus);
  return {
    exports: new ExportService(storage.db, invoices, d.log),
    invoices,
    topups,
    checkout: new StripeCheckout(config, clock, audit),
    webhook: new StripeWebhook(storage.db, clock, topups, d.log, config.STRIPE_WEBHOOK_SECRET),
    selfServe: new SelfServiceKeys(storage.db, storage.dialect, clock, d.keys, audit, d.throttle, {
      capCents: config.DEFAULT_SELFSERVE_CAP_CENTS,
      rpm: config.DEFAULT_SELFSERVE_RPM,
      maxDevices: config.DEFAULT_SELFSERVE_MAX_DEVICES,
      plan: config.DEFAULT_SELFSERVE_PLAN,
      perEmailPerHour: config.REQUEST_KEY_PER_EMAIL_PER_HOUR,
      perIpPerHour: config.REQUEST_KEY_PER_IP_PER_HOUR,
    }),
    sessions: new SessionTokens(config.secrets.jwtSecret, clock, config.USER_SESSION_TTL_SECONDS),
  };
}
