import type { RouteDeps } from '../../context.ts';
import { registerAdminExports } from './admin-exports.ts';
import { registerAdminInvoices } from './admin-invoices.ts';
import { registerAdminTopups } from './admin-topups.ts';
import { registerRequestKey } from './request-key.ts';
import { registerSessionToken } from './session-token.ts';
import { registerStripeWebhook } from './stripe-webhook.ts';
import { registerUserBilling } from './user-billing.ts';

/** Billing routes: admin exports/invoices/top-ups, key-holder billing, request-key, session-token, stripe-webhook. */
export function registerBilling(deps: RouteDeps): void {
  registerAdminExports(deps);
  registerAdminInvoices(deps);
  registerAdminTopups(deps);
  registerUserBilling(deps);
  registerRequestKey(deps);
  registerSessionToken(deps);
  registerStripeWebhook(deps);
}
