import type { Container } from '../app/container.ts';
import type { App } from './context.ts';
import { registerAdminAudit } from './routes/admin/audit.ts';
import { registerAdminCustomers } from './routes/admin/customers.ts';
import { registerAdminDevices } from './routes/admin/devices.ts';
import { registerAdminPricing } from './routes/admin/pricing.ts';
import { registerAdminUsage } from './routes/admin/usage.ts';
import { registerUserDevices } from './routes/user/devices.ts';
import { registerUserEvents } from './routes/user/events.ts';
import { registerUserSummary } from './routes/user/summary.ts';
import { registerAdminKeys } from './routes/admin/keys.ts';
import { registerAdminLogin } from './routes/admin/login.ts';
import { registerBilling } from './routes/billing/index.ts';
import { registerChat } from './routes/chat/index.ts';
import { registerHealth } from './routes/health.ts';
import { registerObservabilityRoutes } from './routes/monitor/index.ts';
import { registerWhoami } from './routes/whoami.ts';

/** Every route group, mounted in one place. Each area adds its register* call here. */
export function registerRoutes(app: App, c: Container): void {
  const deps = { app, c };
  registerHealth(deps);
  registerAdminLogin(deps);
  registerAdminCustomers(deps);
  registerAdminKeys(deps);
  registerAdminAudit(deps);
  registerWhoami(deps);
  registerAdminUsage(deps);
  registerAdminDevices(deps);
  registerAdminPricing(deps);
  registerUserSummary(deps);
  registerUserEvents(deps);
  registerUserDevices(deps);
  registerBilling(deps);
  registerChat(deps);
  registerObservabilityRoutes(deps);
}
