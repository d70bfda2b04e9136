import type { Kysely } from 'kysely';
import Stripe from 'stripe';
import type { Clock } from '../../lib/clock.ts';
import { MONTH_RE } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Db } from '../../storage/db.ts';
import type { Database } from '../../storage/types.ts';
import type { TopupService } from '../topups/service.ts';

/** Events that can complete a paid Checkout top-up (delayed methods finish with the second). */
const CREDIT_EVENTS = new Set(['checkout.session.completed', 'checkout.session.async_payment_succeeded']);
const TOLERANCE_S = 300;

export type WebhookOutcome =
  | 'credited'
  | 'duplicate_event'
  | 'duplicate_session'
  | 'ignored'
  | 'awaiting_payment'
  | 'invalid_metadata'
  | 'amount_mismatch'
  | 'unknown_customer';

interface SessionLike {
  id?: unknown;
  payment_status?: unknown;
  amount_total?: unknown;
  metadata?: Record<string, unknown> | null;
}

function parseMetadata(s: SessionLike): { customerId: string; month: string; amountCents: number } | null {
  const m = s.metadata ?? {};
  const customerId = typeof m.customer_id === 'string' ? m.customer_id : '';
  const month = typeof m.month === 'string' ? m.month : '';
  const amount = typeof m.amount_cents === 'string' && /^[1-9]\d{0,11}$/.test(m.amount_cents) ? Number(m.amount_cents) : NaN;
  if (!customerId || !MONTH_RE.test(month) || !Number.isSafeInteger(amount)) return null;
  return { customerId, month, amountCents: amount };
}

/**
 * `stripe-webhook`: verify the signature on the raw body with the SDK, then credit a paid
 * Checkout session exactly once. Idempotency is in the schema, inside one transaction:
 * the event id is inserted first (`ON CONFLICT DO NOTHING`; a replay or a concurrent
 * duplicate delivery inserts nothing and stops there), and the top-up row carries a unique
 * session id, so two different events for one session still credit once.
 */
export class StripeWebhook {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly topups: TopupService,
    private readonly log: Logger,
    private readonly secret: string | undefined,
  ) {}

  verify(rawBody: string, signature: string | undefined): Stripe.Event {
    if (!this.secret) throw new AppError('NOT_CONFIGURED', 'Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET');
    if (!signature) throw new AppError('BAD_REQUEST', 'Missing Stripe-Signature header');
    try {
      return Stripe.webhooks.constructEvent(rawBody, signature, this.secret, TOLERANCE_S, undefined, this.clock.now());
    } catch {
      throw new AppError('BAD_REQUEST', 'Invalid Stripe-Signature (signature or timestamp does not match)');
    }
  }

  async handle(rawBody: string, signature: string | undefined): Promise<{ event_id: string; type: string; outcome: WebhookOutcome }> {
    const event = this.verify(rawBody, signature);
    const session = (CREDIT_EVENTS.has(event.type) ? event.data.object : null) as SessionLike | null;
    const sessionId = session && typeof session.id === 'string' ? session.id : null;
    let credited: string | null = null;
    const outcome = await this.db.transaction().execute(async (trx) => {
      const fresh = await trx
        .insertInto('stripe_events')
        .values({ event_id: event.id, type: event.type, session_id: sessionId, outcome: 'processing', received_at: this.clock.now() })
        .onConflict((oc) => oc.column('event_id').doNothing())
        .returning('event_id')
        .executeTakeFirst();
      if (!fresh) return 'duplicate_event' as const;
      const result = session ? await this.credit(trx, event, session) : 'ignored';
      if (result === 'credited') credited = parseMetadata(session!)!.customerId;
      await trx.updateTable('stripe_events').set({ outcome: result }).where('event_id', '=', event.id).execute();
      return result;
    });
    if (credited) await this.topups.emitCredited(credited);
    if (outcome !== 'credited' && outcome !== 'ignored' && outcome !== 'duplicate_event') {
      this.log.warn({ stripe_event: event.id, type: event.type, outcome }, 'stripe webhook not credited');
    }
    return { event_id: event.id, type: event.type, outcome };
  }

  private async credit(trx: Kysely<Database>, event: Stripe.Event, s: SessionLike): Promise<WebhookOutcome> {
    if (s.payment_status !== 'paid') return 'awaiting_payment';
    const meta = parseMetadata(s);
    if (!meta || typeof s.id !== 'string') return 'invalid_metadata';
    if (typeof s.amount_total === 'number' && s.amount_total !== meta.amountCents) return 'amount_mismatch';
    const cust = await trx.selectFrom('customers').select('id').where('id', '=', meta.customerId).executeTakeFirst();
    if (!cust) return 'unknown_customer';
    const res = await this.topups.applyIn(
      trx,
      { customerId: meta.customerId, month: meta.month, amountCents: meta.amountCents, source: 'stripe', stripeSessionId: s.id, stripeEventId: event.id },
      { actor: 'system' },
    );
    return res ? 'credited' : 'duplicate_session';
  }
}
