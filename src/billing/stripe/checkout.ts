import Stripe from 'stripe';
import type { AuditLog } from '../../audit/audit.ts';
import type { Config } from '../../config/index.ts';
import type { Actor } from '../../keys/service.ts';
import { monthOf, type Clock } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';

export interface CheckoutRequest {
  customerId: string;
  customerEmail?: string;
  month?: string;
  amountCents: number;
  /** Where the buyer returns: the admin UI or the key-holder dashboard. */
  audience: 'admin' | 'user';
  /** The caller's Origin header (fallback when neither STRIPE_*_URL nor PUBLIC_BASE_URL is set). */
  origin?: string;
}

export const NOT_CONFIGURED_MESSAGE = 'Stripe is not configured: set STRIPE_SECRET_KEY (and STRIPE_WEBHOOK_SECRET for the webhook) to enable top-ups';

/** Map a stripe-node error to our envelope without leaking more than Stripe's own (key-redacted) message. */
function stripeFailure(e: unknown): AppError {
  if (e instanceof Stripe.errors.StripeError) {
    const details = { provider: 'stripe', upstream_status: e.statusCode ?? null, stripe_type: e.type, stripe_code: e.code ?? null };
    if (e.type === 'StripeInvalidRequestError') return new AppError('BAD_REQUEST', `Stripe rejected the checkout: ${e.message}`, details);
    if (e.type === 'StripeAuthenticationError') return new AppError('UPSTREAM_ERROR', 'Stripe rejected the API key; check STRIPE_SECRET_KEY', details);
    return new AppError('UPSTREAM_ERROR', `Stripe error: ${e.message}`, details);
  }
  return new AppError('UPSTREAM_ERROR', 'Stripe request failed', { provider: 'stripe' });
}

/** Stripe Checkout top-ups through the official SDK (host/port/protocol overridable for a local fake). */
export class StripeCheckout {
  private client?: Stripe;

  constructor(
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {}

  get configured(): boolean {
    return !!this.config.STRIPE_SECRET_KEY;
  }

  private sdk(): Stripe {
    if (!this.config.STRIPE_SECRET_KEY) throw new AppError('NOT_CONFIGURED', NOT_CONFIGURED_MESSAGE);
    this.client ??= new Stripe(this.config.STRIPE_SECRET_KEY, {
      host: this.config.STRIPE_API_HOST,
      port: this.config.STRIPE_API_PORT,
      protocol: this.config.STRIPE_API_PROTOCOL,
      maxNetworkRetries: 2,
      timeout: 20_000,
      appInfo: { name: 'kaixu-gateway', version: this.config.version },
    });
    return this.client;
  }

  private returnUrls(audience: CheckoutRequest['audience'], origin?: string): { success: string; cancel: string } {
    const base = (this.config.PUBLIC_BASE_URL ?? origin)?.replace(/\/+$/, '');
    const page = audience === 'admin' ? '/admin' : '/dashboard';
    const success = this.config.STRIPE_SUCCESS_URL ?? (base ? `${base}${page}?billing=success&session_id={CHECKOUT_SESSION_ID}` : undefined);
    const cancel = this.config.STRIPE_CANCEL_URL ?? (base ? `${base}${page}?billing=cancel` : undefined);
    if (!success || !cancel) {
      throw new AppError('BAD_REQUEST', 'No return URL for Stripe Checkout: set STRIPE_SUCCESS_URL and STRIPE_CANCEL_URL (or PUBLIC_BASE_URL), or call from a browser Origin');
    }
    return { success, cancel };
  }

  /** Create a Checkout session whose completion (webhook) credits `amountCents` to the month. */
  async create(r: CheckoutRequest, by: Actor): Promise<{ id: string; url: string; month: string; amount_cents: number }> {
    const stripe = this.sdk();
    const current = monthOf(this.clock.now());
    const month = r.month ?? current;
    if (month < current) throw new AppError('BAD_REQUEST', 'Top-ups apply to the current or a future month', { month });
    const urls = this.returnUrls(r.audience, r.origin);
    let session: Stripe.Checkout.Session;
    try {
      session = await stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: this.config.STRIPE_CURRENCY.toLowerCase(),
              unit_amount: r.amountCents,
              product_data: { name: `Kaixu Usage Top-up (${month})` },
            },
          },
        ],
        success_url: urls.success,
        cancel_url: urls.cancel,
        client_reference_id: r.customerId,
        customer_email: r.customerEmail,
        metadata: { customer_id: r.customerId, month, amount_cents: String(r.amountCents) },
        payment_intent_data: { metadata: { customer_id: r.customerId, month, amount_cents: String(r.amountCents) } },
      });
    } catch (e) {
      throw stripeFailure(e);
    }
    if (!session.url) throw new AppError('UPSTREAM_ERROR', 'Stripe returned a session without a checkout URL', { provider: 'stripe' });
    await this.audit.record({
      ...by,
      action: 'TOPUP_CHECKOUT_CREATE',
      target: `customer:${r.customerId}`,
      customerId: r.customerId,
      summary: `month=${month} amount_cents=${r.amountCents} session=${session.id}`,
    });
    return { id: session.id, url: session.url, month, amount_cents: r.amountCents };
  }
}
