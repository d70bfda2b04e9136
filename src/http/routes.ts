import type { Container } from '../app/container.ts';
import type { App } from './context.ts';
import { registerAdminAudit } from './routes/admin/audit.ts';
import { registerAdminCustomers } from './routes/admin/customers.ts';
import { registerAdminKeys } from './routes/admin/keys.ts';
import { registerAdminLogin } from './routes/admin/login.ts';
import { registerHealth } from './routes/health.ts';
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
}
